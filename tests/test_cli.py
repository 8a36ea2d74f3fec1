import inspect
import subprocess
import sys

import nbformat
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _subcommand(name):
    from posekit.cli import build_parser

    parser = build_parser()
    return next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == name)[1]


def _option(parser, flag):
    return next(a for a in parser._actions if flag in a.option_strings)


def test_cli_defaults_and_choices_are_the_configs():
    from posekit.datasets.records import POSE_TASKS
    from posekit.evaluation.benchmark import MODELS
    from posekit.models.chatpose import DTYPES
    from posekit.models.decoder import CONFIDENCE, TRAINABLE, DecoderTrainConfig, PoseDecoderConfig

    for command in ("eval", "chat"):
        assert list(_option(_subcommand(command), "--dtype").choices) == list(DTYPES)
    evaluate = _subcommand("eval")
    assert list(_option(evaluate, "--task").choices) == ["all", *POSE_TASKS, "pose2text"]
    assert set(_option(evaluate, "--model").choices) == {"all", *MODELS, "decoder"}
    decoder = _subcommand("train-decoder")
    train, arch = DecoderTrainConfig(), PoseDecoderConfig()
    for flag, value in [("--joint-weight", train.joint_weight), ("--epochs", train.epochs), ("--lr", train.lr),
                        ("--seed", train.seed), ("--edit-draws", train.edit_draws), ("--width", arch.width),
                        ("--layers", arch.layers), ("--image-layers", arch.image_layers)]:
        assert _option(decoder, flag).default == value, flag
    assert list(_option(decoder, "--confidence").choices) == list(CONFIDENCE)
    assert list(_option(decoder, "--trainable").choices) == list(TRAINABLE)


def test_cli_chat_and_composer_defaults_are_the_configs():
    from posekit.chat import ChatSession
    from posekit.chat.config import CHAT_DEFAULTS
    from posekit.encoders.llm import DEFAULT_BACKBONE
    from posekit.models.part_composer import PartComposerConfig

    chat = _subcommand("chat")
    for flag, field in [("--temperature", "temperature"), ("--seed", "seed"), ("--max-new-tokens", "max_new_tokens"),
                        ("--no-repeat-ngram", "no_repeat_ngram_size"), ("--dtype", "dtype"),
                        ("--context-turns", "context_turns")]:
        assert _option(chat, flag).default == getattr(CHAT_DEFAULTS, field), flag
    defaults = inspect.signature(ChatSession).parameters  # the session's keyword defaults are the same config's
    for field in ("max_new_tokens", "do_sample", "temperature", "top_p", "seed", "dtype", "no_repeat_ngram_size",
                  "context_turns"):
        assert defaults[field].default == getattr(CHAT_DEFAULTS, field), field
    composer = _subcommand("train-composer")
    for flag in ("epochs", "phrases", "seed"):
        assert _option(composer, f"--{flag}").default == getattr(PartComposerConfig(), flag), flag
    assert _option(_subcommand("train-decoder"), "--llm").default == DEFAULT_BACKBONE


def test_model_names_are_the_registries():
    from posekit.evaluation.benchmark import MODELS
    from posekit.models.baselines import BASELINES
    from posekit.models.names import BASELINE_NAMES, MODEL_NAMES, TEXT_QUERY_BASELINES

    assert tuple(BASELINES) == BASELINE_NAMES and MODELS == MODEL_NAMES == (*BASELINES, "chatpose")
    assert set(TEXT_QUERY_BASELINES) <= set(BASELINES)


@pytest.mark.parametrize("argv", [["--help"], ["chat", "--help"], ["eval", "--model", "nosuch"],
                                  ["train-decoder", "--width", "-3"], []])
def test_help_and_bad_options_never_import_torch(argv):
    """`posekit --help` and an argument error answer without importing torch or the model code."""
    probe = ("import sys\nfrom posekit.cli import main\ncode = main(sys.argv[1:])\n"
             "heavy = sorted(m for m in ('torch', 'transformers', 'peft', 'pandas') if m in sys.modules)\n"
             "print('HEAVY', heavy, file=sys.stderr)\nsys.exit(code)")
    done = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in done.stderr, done.stderr[-500:]
    assert done.returncode == (0 if "--help" in argv else 2)


@pytest.mark.parametrize("argv, says", [
    (["train", "--config", "/nonexistent/train_config.json"], "train_config.json"),
    (["train", "--config", "BADJSON"], "Expecting property name"),
    (["train", "--config", "UNKNOWNKEY"], "unknown TrainConfig fields ['stepz']"),
    (["train", "--config", "TYPEDCONFIG"], "TrainConfig.steps must be an integer, got '10' (str)"),
    (["train", "--config", "NESTEDCONFIG"], "ChatPoseConfig.lora_rank must be an integer, got 'x'"),
    (["train", "--config", "LATIN1"], "is not UTF-8 text"),
    (["train", "--config", "LISTJSON"], "holds a JSON list, not the dict expected"),
    (["train-decoder", "--out", "AFILE"], "is not a posekit decoder file; pass a new path, or --force"),
    (["train-decoder", "--out", "TMP"], "is a folder; name the decoder file"),
    (["train-decoder", "--out", "TMP/d.pt", "--chatpose-out", "TMP"], "no posekit-output.json, so posekit did not write it"),
    (["train", "--steps", "-1", "--out", "TMP/run"], "argument --steps: must be >= 1, got -1"),
    (["chat", "--prompt", "hi", "--max-new-tokens", "0"], "argument --max-new-tokens: must be from 1 to 4096"),
    (["chat", "--prompt", "hi", "--temperature", "-1"], "argument --temperature: must be a finite number > 0"),
    (["chat", "--prompt", "hi", "--context-turns", "-5"], "argument --context-turns: must be >= -1"),
    (["chat", "--prompt", "hi", "--seed", "1e23"], "argument --seed: expected a whole number"),
    (["build-data", "--workers", "-1"], "argument --workers: must be from 1 to 64"),
    (["train-decoder", "--tasks", "nosuch"], "--tasks must name"),
    (["train-decoder", "--epochs", "0"], "--epochs must be >= 1"),
    (["train-decoder", "--layer", "1.5"], "a fractional --layer must lie strictly between 0 and 1"),
    (["train-decoder", "--layer", "31"], "--layer must be 0..30 for backbone 'smollm2-135m'"),
    (["train-decoder", "--llm", "TMP/nosuch", "--layer", "0.5"], "has no readable config.json"),
    (["train-decoder", "--caption-draws", "-1"], "caption_draws >= 0"),
    (["train-decoder", "--brief-draws", "-2"], "brief_draws >= 0"),
    (["train-decoder", "--trainable", "image"], "--init FILE"),
    (["train-decoder", "--init", "TMP/missing.pt"], "does not exist"),
    (["train-decoder", "--vision", "resnet-9000"], "unknown vision encoder"),
    (["train-decoder", "--dataset", "nosuch"], "build-data --name nosuch"),
    (["train-retrieval", "--dataset", "nosuch"], "build-data --name nosuch"),
    (["train-retrieval", "--out", "AFILE"], "already holds a_file, which posekit did not write there"),
    (["eval", "--task", "spg", "--model", "decoder"], "--checkpoint"),
    (["eval", "--task", "spg", "--model", "decoder", "--checkpoint", "BADJSON"], "not a posekit decoder file"),
    (["eval", "--task", "spg", "--model", "mean", "--dataset", "nosuch"], "build-data --name nosuch"),
    (["eval", "--task", "spg", "--model", "mean", "--root", "TMP", "--limit", "1"], "no manifest.json"),
    (["build-data", "--scale", "-1", "--out", "TMP/data"], "argument --scale: must be a finite number > 0"),
    (["build-data", "--out", "AFILE/data"], "AFILE"),
    (["build-data", "--quick", "--out", "AFILE"], "is a file, not a dataset folder that posekit wrote"),
    (["build-data", "--quick", "--out", "TMP"], "no posekit-output.json, so posekit did not write it"),
    (["train", "--mixed-precision", "fp8"], "argument --mixed-precision: invalid choice: 'fp8'"),
    (["build-data", "--amass", "TMP/nosuch"], "no such folder"),
    (["build-data", "--amass", "TMP"], "no .npz motion files under it"),
    (["build-data", "--posescript", "TMP"], "use it with --amass PATH"),
    (["build-data", "--amass", "TMP", "--amass-every", "0"], "argument --amass-every: must be a finite number > 0"),
    (["verify-data", "--out", "TMP"], "no manifest.json"),
    (["verify-data", "--out", "EMPTYMANIFEST"], "lists no files"),
    (["export", "TMP", "TMP/out"], "TMP"),
    (["info", "--model-type", "smpl", "--path", "/nonexistent/SMPL_NEUTRAL.npz"], "SMPL_NEUTRAL"),
    (["report", "TMP/nosuch.ipynb"], "nosuch.ipynb"),
    (["photo", "TMP/nosuch.jpg"], "nosuch.jpg does not exist"),
    (["photo", "AFILE"], "could not be read as an image"),
    (["photo", "GREYPHOTO"], "grey.png is blank (every pixel nearly the same colour"),
    (["photo", "TINYPHOTO"], "tiny.png is 1 x 1 pixels: too small to see a person in"),
    (["photo", "NOISEPHOTO"], "no person found in"),
    (["chat", "--image", "GREYPHOTO", "--prompt", "Who is this?"], "grey.png is blank"),
])
def test_bad_inputs_end_in_one_line_not_a_traceback(argv, says, capsys, tmp_path):
    (tmp_path / "bad.json").write_text("{bad json")
    (tmp_path / "unknown.json").write_text('{"stepz": 3}')
    (tmp_path / "a_file").write_text("in the way")
    (tmp_path / "typed.json").write_text('{"steps": "10"}')
    (tmp_path / "nested.json").write_text('{"model": {"lora_rank": "x"}}')
    (tmp_path / "latin1.json").write_bytes('{"name": "caf\xe9"}'.encode("latin-1"))
    (tmp_path / "list.json").write_text("[1, 2]")
    from PIL import Image

    Image.new("RGB", (120, 120), (128, 128, 128)).save(tmp_path / "grey.png")
    Image.new("RGB", (1, 1), (128, 20, 20)).save(tmp_path / "tiny.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(tmp_path / "noise.png")
    (tmp_path / "empty_manifest").mkdir()
    (tmp_path / "empty_manifest" / "manifest.json").write_text("{}")
    names = {"BADJSON": str(tmp_path / "bad.json"), "UNKNOWNKEY": str(tmp_path / "unknown.json"),
             "AFILE": str(tmp_path / "a_file"), "TYPEDCONFIG": str(tmp_path / "typed.json"),
             "NESTEDCONFIG": str(tmp_path / "nested.json"), "LATIN1": str(tmp_path / "latin1.json"),
             "LISTJSON": str(tmp_path / "list.json"), "GREYPHOTO": str(tmp_path / "grey.png"),
             "TINYPHOTO": str(tmp_path / "tiny.png"), "NOISEPHOTO": str(tmp_path / "noise.png"),
             "EMPTYMANIFEST": str(tmp_path / "empty_manifest"), "TMP": str(tmp_path)}
    argv = [next((a.replace(k, v) for k, v in names.items() if a.startswith(k)), a) for a in argv]
    says = next((says.replace(k, v) for k, v in names.items() if says.startswith(k)), says)
    assert main(argv) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if "Loading weights" not in line]
    assert len(err) == 1 and err[0].startswith(f"posekit {argv[0]}: error: "), err
    assert "Traceback" not in err[0] and says in err[0], err[0]


def test_build_data_never_deletes_a_folder_it_did_not_write(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["build-data", "--quick", "--out", str(tmp_path)]) == 2
    assert (tmp_path / "notes.txt").read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert "--force" in capsys.readouterr().err


@settings(max_examples=60, deadline=None)
@given(option=st.sampled_from([("chat", "--max-new-tokens", 1, 4096), ("chat", "--context-turns", -1, None),
                               ("chat", "--seed", 0, 2 ** 32 - 1), ("build-data", "--workers", 1, 64),
                               ("eval", "--limit", 1, None), ("train", "--steps", 1, None)]),
       value=st.integers(min_value=-10 ** 30, max_value=10 ** 30))
def test_numeric_options_are_range_checked_before_any_work(option, value):
    from posekit.cli import build_parser

    command, flag, low, high = option
    fine = value >= low and (high is None or value <= high)
    argv = [command, flag, str(value)] + (["--prompt", "x"] if command == "chat" else [])
    if fine:
        assert getattr(build_parser().parse_args(argv), flag.lstrip("-").replace("-", "_")) == value
    else:
        with pytest.raises(SystemExit) as stop:
            build_parser().parse_args(argv)
        assert stop.value.code == 2


def test_debug_shows_the_traceback():
    with pytest.raises(FileNotFoundError):
        main(["--debug", "train", "--config", "/nonexistent/train_config.json"])


def test_photo_writes_each_persons_body_and_an_overlay(tmp_path, capsys):
    from posekit.paths import data_dir
    from posekit.photos import photo_path_available

    if not photo_path_available():
        pytest.skip("MediaPipe is not installed (make env installs it)")
    assert main(["photo", str(data_dir() / "photos" / "astronaut.jpg"), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "person 0:" in out and "reprojection" in out and "1 people in" in out
    assert {p.name for p in tmp_path.iterdir()} == {"overlay.png", "bodies.html", "person_0.npz", "person_0.obj",
                                                   "posekit-output.json"}
    assert np.load(tmp_path / "person_0.npz")["body_pose"].shape == (1, 69)
