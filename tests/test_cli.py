import nbformat
import pytest

from posekit.cli import main
from posekit.report import build_report, notebook_paths


def test_info_prints_the_model_and_its_height(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "BodyModel(type='posekit'" in out and "rest height: 1." in out


def test_notebooks_are_numbered_and_ordered():
    names = [p.name for p in notebook_paths()]
    assert names == sorted(names) and names[0].startswith("00_")


def test_report_runs_notebooks_and_flags_failures(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEKIT_REPORTS", str(tmp_path / "reports"))
    good, bad = tmp_path / "00_good.ipynb", tmp_path / "01_bad.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os; print(os.environ['POSEKIT_QUICK'])")])
    nbformat.write(nb, good)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")]), bad)
    index = build_report(notebooks=[str(good)])
    executed = nbformat.read(tmp_path / "reports" / "notebooks" / "00_good.ipynb", 4)
    assert executed.cells[0].outputs[0]["text"].strip() == "1"
    assert (tmp_path / "reports" / "00_good.html").stat().st_size > 1000 and "00_good" in index.read_text()
    try:
        build_report(notebooks=[str(good), str(bad)])
    except RuntimeError as err:
        assert "01_bad" in str(err)
    else:
        raise AssertionError("a failing notebook must fail the report")
    assert "FAILED" in (tmp_path / "reports" / "index.html").read_text()


def test_cli_dtype_choices_are_the_models():
    from posekit.chatpose import DTYPES
    from posekit.cli import INFERENCE_DTYPES

    assert set(INFERENCE_DTYPES) == set(DTYPES)


@pytest.mark.parametrize("argv", [
    ["train", "--config", "/nonexistent/train_config.json"],
    ["train-decoder", "--tasks", "nosuch"],
    ["train-decoder", "--epochs", "0"],
    ["eval", "--task", "spg", "--model", "decoder"],
    ["info", "--model-type", "smpl", "--path", "/nonexistent/SMPL_NEUTRAL.npz"],
])
def test_bad_inputs_end_in_one_line_not_a_traceback(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"posekit {argv[0]}: error: "), err
    assert "Traceback" not in err[0]


def test_debug_shows_the_traceback():
    with pytest.raises(FileNotFoundError):
        main(["--debug", "train", "--config", "/nonexistent/train_config.json"])
