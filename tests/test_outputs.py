"""posekit replaces only what its marker says it wrote (posekit.outputs), in every file-writing command."""
import json

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posekit.cli import main
from posekit.files import NotOwnedError
from posekit.outputs import MARKER, OutputFolder, check_replaceable, keep_user_files, mark, owns_folder, written_entries


def test_an_output_folder_writes_beside_a_users_files_and_never_over_them(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "pose_00.npz").write_bytes(b"my pose")
    with pytest.raises(NotOwnedError, match=r"already holds pose_00\.npz, which posekit did not write"):
        OutputFolder(tmp_path, "chat", patterns=("pose_*",))
    out = OutputFolder(tmp_path, "photo", names=("overlay.png",))  # other names: fine beside the user's files
    out.path("overlay.png").write_text("v1")
    out.record("overlay.png")
    assert written_entries(tmp_path) == {"overlay.png"}
    again = OutputFolder(tmp_path, "photo", names=("overlay.png",))  # posekit's own now: replaced
    again.path("overlay.png").write_text("v2")
    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / "pose_00.npz").read_bytes() == b"my pose"
    with pytest.raises(NotOwnedError, match="appeared and posekit did not write it"):
        again.path("notes.txt")
    assert OutputFolder(tmp_path, "chat", patterns=("pose_*",), force=True).path("pose_00.npz")  # told to
    file = tmp_path / "a_file"
    file.write_text("x")
    with pytest.raises(NotOwnedError, match="is a file, not a folder"):
        OutputFolder(file, "chat")


def test_a_folder_is_replaced_only_when_posekit_wrote_it(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "manifest.json").write_text('{"name": "my manifest"}')  # the name alone proves nothing
    with pytest.raises(NotOwnedError, match=f"no {MARKER}, so posekit did not write it"):
        check_replaceable(notes)
    check_replaceable(notes, force=True)
    check_replaceable(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    check_replaceable(tmp_path / "empty")
    with pytest.raises(NotOwnedError, match="is a file"):
        check_replaceable(notes / "manifest.json")
    assert not owns_folder(notes) and owns_folder(notes, legacy=lambda f: (f / "manifest.json").is_file())
    mark(notes, "build-data", ["tasks", "images/a.png"])
    check_replaceable(notes)
    assert written_entries(notes) == {"tasks", "images"}
    new = tmp_path / "new"
    new.mkdir()
    (new / "tasks").write_text("new")
    assert keep_user_files(notes, new) == ["manifest.json"]  # the user's file comes along, posekit's do not
    assert (new / "manifest.json").read_text() == '{"name": "my manifest"}' and (new / "tasks").read_text() == "new"
    with pytest.raises(ValueError, match="not a path inside"):
        mark(notes, "x", ["../escape"])


def test_a_damaged_or_foreign_marker_is_no_marker(tmp_path):
    (tmp_path / MARKER).write_text("{not json")
    assert written_entries(tmp_path) is None
    (tmp_path / MARKER).write_text(json.dumps({"entries": ["a"]}))  # not written by posekit
    assert written_entries(tmp_path) is None
    (tmp_path / MARKER).write_text("[1, 2]")  # JSON, but not an object
    assert written_entries(tmp_path) is None
    mark(tmp_path, "chat", ["pose_00.npz"])  # a damaged marker is replaced by a sound one
    assert written_entries(tmp_path) == {"pose_00.npz"}


# --- every file-writing command, driven over folder contents --------------------------------------------

CLASHING = ["pose_00.npz", "pose_00.obj", "pose_00.html", "pose_01.npz", "overlay.png", "bodies.html", "person_0.npz",
            "person_0.obj", "index.html", "00_tiny.html", "notebooks", "config.json", "trained.safetensors",
            "log.csv", "train_config.json", "manifest.json", "notes.txt", "data.csv"]
"""Names the commands write, and others."""


def _user_files(folder, names, contents):
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, content in zip(names, contents):
        if name == "notebooks":
            (folder / name).mkdir()
            (folder / name / "mine.ipynb").write_bytes(content)
            written[f"{name}/mine.ipynb"] = content
        else:
            (folder / name).write_bytes(content)
            written[name] = content
    return written


def _untouched(folder, written):
    return all((folder / name).read_bytes() == content for name, content in written.items())


user_folders = st.lists(st.sampled_from(CLASHING), unique=True, max_size=5).flatmap(
    lambda names: st.tuples(st.just(names), st.lists(st.binary(min_size=0, max_size=16), min_size=len(names),
                                                      max_size=len(names))))
ONE_RUN = settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def photo(tmp_path_factory, tiny_dataset):
    folder = tiny_dataset[0] / "images" / "image2pose"
    return sorted(folder.iterdir())[0]


@ONE_RUN
@given(user=user_folders, force=st.booleans())
def test_chat_never_touches_a_users_files(tmp_path_factory, monkeypatch, user, force):
    from test_chat_session import scripted

    out = tmp_path_factory.mktemp("chat") / "out"
    written = _user_files(out, *user)
    model = scripted()
    monkeypatch.setattr("posekit.chat.session.load_chatpose",
                        lambda checkpoint=None, device=None, dtype=None, release=False: model)
    code = main(["chat", "--prompt", "Show me a squat.", "--out", str(out), *(["--force"] if force else [])])
    clash = any(n.startswith("pose_") for n in user[0])
    assert code == (2 if clash and not force else 0)
    if not force:
        assert _untouched(out, written)
    if code == 0:
        assert "pose_00.npz" in written_entries(out)


@ONE_RUN
@given(user=user_folders)
def test_photo_never_touches_a_users_files(tmp_path_factory, photo, user):
    pytest.importorskip("mediapipe")
    out = tmp_path_factory.mktemp("photo") / "out"
    written = _user_files(out, *user)
    code = main(["photo", str(photo), "--out", str(out)])
    clash = any(n in ("overlay.png", "bodies.html") or n.startswith("person_") for n in user[0])
    assert code == (2 if clash else 0) and _untouched(out, written)
    if code == 0:
        assert {"overlay.png", "bodies.html", "person_0.npz"} <= written_entries(out)


@ONE_RUN
@given(user=user_folders)
def test_report_never_touches_a_users_files(tmp_path_factory, monkeypatch, user):
    root = tmp_path_factory.mktemp("report")
    reports = root / "reports"
    written = _user_files(reports, *user)
    monkeypatch.setenv("POSEKIT_REPORTS", str(reports))
    notebook = root / "00_tiny.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), notebook)
    code = main(["report", str(notebook)])
    clash = any(n in ("index.html", "00_tiny.html", "notebooks") for n in user[0])
    assert code == (2 if clash else 0) and _untouched(reports, written)


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(user=user_folders, marked=st.booleans())
def test_build_data_never_touches_a_users_files(tmp_path_factory, tiny_dataset, body, user, marked):
    from posekit.datasets import build_dataset

    out = tmp_path_factory.mktemp("data") / "dataset"
    written = _user_files(out, *user)
    if marked:  # an earlier build: the user's files sit beside posekit's
        mark(out, "build-data", ["text2pose"])
    try:
        build_dataset(tiny_dataset[2], out, body=body, progress=False)
        refused = False
    except NotOwnedError:
        refused = True
    assert refused == bool(user[0] and (not marked or "manifest.json" in user[0]))
    assert _untouched(out, written)
    if not refused:
        assert {"manifest.json", "text2pose", "images"} <= written_entries(out)


def test_train_and_export_never_touch_a_users_files(tmp_path, tiny_dataset):
    from test_training import _config, _tiny_backbone

    from posekit.models.chatpose import ChatPose, ChatPoseConfig
    from posekit.models.chatpose.training import export_run, train

    llm, tok = _tiny_backbone()
    llm.save_pretrained(tmp_path / "backbone")
    tok.save_pretrained(tmp_path / "backbone")
    model = ChatPose(ChatPoseConfig(backbone=str(tmp_path / "backbone"), vision_encoder=None))
    run = tmp_path / "run"
    mine = _user_files(run, ["log.csv", "notes.txt"], [b"my log", b"my notes"])
    with pytest.raises(NotOwnedError, match=r"already holds log\.csv"):
        train(_config(tiny_dataset[0], steps=2), run, model=model, progress=False)
    (run / "log.csv").unlink()
    del mine["log.csv"]
    train(_config(tiny_dataset[0], steps=2), run, model=model, progress=False)
    assert _untouched(run, mine) and {"log.csv", "model", "checkpoints"} <= written_entries(run)
    shipped = tmp_path / "shipped"
    theirs = _user_files(shipped, ["README.md", "config.json"], [b"# notes", b'{"model_type": "bert"}'])
    with pytest.raises(NotOwnedError):
        export_run(run, shipped)
    assert _untouched(shipped, theirs)
    fresh = tmp_path / "fresh"
    export_run(run, fresh)
    (fresh / "README.md").write_bytes(b"# notes")  # the user's notes beside posekit's files
    export_run(run, fresh)  # posekit's own files replaced, the README kept
    assert (fresh / "README.md").read_bytes() == b"# notes" and "README.md" not in written_entries(fresh)


def test_folders_written_before_markers_are_recognised_by_content(tmp_path):
    from posekit.models.chatpose.training import RUN_ENTRIES, TrainConfig, is_run_folder

    old_run = tmp_path / "old_run"
    old_run.mkdir()
    (old_run / "train_config.json").write_text(json.dumps(TrainConfig().to_dict(), default=list))
    (old_run / "log.csv").write_text("step,loss\n1,2.0\n")
    assert is_run_folder(old_run)
    OutputFolder(old_run, "train", names=RUN_ENTRIES, legacy=is_run_folder)  # posekit's: resumed, not refused
    assert {"log.csv", "train_config.json"} <= written_entries(old_run)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "train_config.json").write_text('{"lr": 0.1}')  # another tool's file of that name
    (theirs / "log.csv").write_text("theirs")
    assert not is_run_folder(theirs)
    with pytest.raises(NotOwnedError, match="already holds train_config.json, log.csv"):
        OutputFolder(theirs, "train", names=RUN_ENTRIES, legacy=is_run_folder)
