import pytest

from posekit.paths import AssetNotFoundError, cache_dir, data_dir, resolve_file


def test_precedence_argument_then_env_then_defaults(tmp_path, monkeypatch):
    for name in ("arg", "env", "default"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.bin").write_bytes(name.encode())
    kwargs = dict(env_var="POSEKIT_TEST_ASSET", defaults=(tmp_path / "default",))
    assert resolve_file("x.bin", **kwargs).read_bytes() == b"default"
    monkeypatch.setenv("POSEKIT_TEST_ASSET", str(tmp_path / "env"))
    assert resolve_file("x.bin", **kwargs).read_bytes() == b"env"
    assert resolve_file("x.bin", path=tmp_path / "arg", **kwargs).read_bytes() == b"arg"
    assert resolve_file("x.bin", path=tmp_path / "arg" / "x.bin", **kwargs).read_bytes() == b"arg"


def test_an_explicit_wrong_path_is_an_error_listing_where_it_looked(tmp_path):
    with pytest.raises(AssetNotFoundError, match=str(tmp_path / "missing" / "x.bin")) as err:
        resolve_file("x.bin", path=tmp_path / "missing", defaults=(tmp_path,), what="checkpoint", hint="train it first")
    assert "train it first" in str(err.value) and isinstance(err.value, FileNotFoundError)


def test_directories_follow_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEKIT_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path / "c"))
    assert data_dir() == tmp_path / "d" and cache_dir() == tmp_path / "c"
