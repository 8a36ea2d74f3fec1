import pytest
from posefixtures import crafted_torch_file

from posekit.files import atomic_dir, atomic_path


def test_atomic_path_replaces_in_one_step_or_not_at_all(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("first")
        assert not target.exists()  # nothing visible until the block ends
    assert target.read_text() == "first"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.txt"]  # no temporary left behind


def test_atomic_dir_swaps_whole_folders(tmp_path):
    target = tmp_path / "ckpt"
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("v1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "weights").write_text("v2-partial")
            raise RuntimeError("killed")
    assert (target / "weights").read_text() == "v1"
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("v2")
        (tmp / "config").write_text("{}")
    assert sorted(p.name for p in target.iterdir()) == ["config", "weights"]
    assert (target / "weights").read_text() == "v2"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_torch_files_are_read_without_running_code(tmp_path):
    import torch

    from posekit.files import read_torch_file

    marker = tmp_path / "ran"
    with pytest.raises(ValueError, match="Python objects posekit never loads"):
        read_torch_file(crafted_torch_file(tmp_path / "state.pt", marker), "training state")
    assert not marker.exists()
    torch.save({"step": 3, "weights": torch.ones(2)}, tmp_path / "ok.pt")
    assert read_torch_file(tmp_path / "ok.pt")["step"] == 3
    (tmp_path / "cut.pt").write_bytes((tmp_path / "ok.pt").read_bytes()[:40])
    with pytest.raises(ValueError, match="cut.pt"):
        read_torch_file(tmp_path / "cut.pt", "training state")
    with pytest.raises(FileNotFoundError, match="training state"):
        read_torch_file(tmp_path / "none.pt", "training state")


def test_a_text_file_named_npz_is_called_what_it_is(tmp_path):
    from posekit.files import read_npz

    fake = tmp_path / "pose.npz"
    fake.write_text("just some text\n")
    with pytest.raises(ValueError, match="is not a .npz archive"):
        read_npz(fake, "pose file")


def test_json_files_are_read_with_every_failure_named(tmp_path):
    from posekit.files import read_json

    (tmp_path / "ok.json").write_text('{"a": 1}')
    assert read_json(tmp_path / "ok.json") == {"a": 1}
    cases = {"missing.json": (None, FileNotFoundError, "settings .*missing.json does not exist"),
             "torn.json": (b'{"a": 1', ValueError, "torn.json is not valid JSON .*line 1, column 8"),
             "latin.json": ('{"a": "caf\xe9"}'.encode("latin-1"), ValueError, "latin.json is not UTF-8 text"),
             "list.json": (b"[1, 2]", ValueError, "list.json holds a JSON list, not the dict expected")}
    for name, (content, error, says) in cases.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
        with pytest.raises(error, match=says):
            read_json(tmp_path / name, "settings")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        read_json(tmp_path)


def test_bad_tensors_are_found_by_name():
    import torch

    from posekit.files import first_bad_tensor

    good = {"w": torch.ones(3), "ids": torch.zeros(3, dtype=torch.long), "inner": {"b": torch.zeros(2)}}
    assert first_bad_tensor(good) is None
    assert first_bad_tensor({**good, "inner": {"b": torch.tensor([0.0, float("nan")])}}) == "inner.b (NaN or infinite values)"
    assert first_bad_tensor({"w": torch.tensor([float("inf")])}) == "w (NaN or infinite values)"
    assert first_bad_tensor({"flat": torch.zeros(4)}, all_zero=("flat",)) == "flat (all zeros)"
    assert first_bad_tensor({"flat": torch.zeros(0)}, all_zero=("flat",)) is None  # empty is not "all zeros"
    # the fast path (a finite sum) is exact: finite values whose sum overflows are still sound, -inf + inf is caught
    assert first_bad_tensor({"big": torch.full((4,), 3e38)}) is None
    assert first_bad_tensor({"both": torch.tensor([float("inf"), -float("inf")])}) == "both (NaN or infinite values)"


def test_an_integer_copy_of_float_weights_is_named():
    import torch

    from posekit.files import first_kind_mismatch

    model = {"w": torch.ones(3), "ids": torch.zeros(3, dtype=torch.long)}
    assert first_kind_mismatch({"w": torch.ones(3, dtype=torch.float16), "ids": torch.ones(3, dtype=torch.int8)}, model) is None
    assert first_kind_mismatch({"w": torch.ones(3, dtype=torch.int32)}, model) == "w is torch.int32 where the model holds torch.float32"
    assert first_kind_mismatch({"ids": torch.ones(3, dtype=torch.float16)}, model) is None  # shipped index buffers
