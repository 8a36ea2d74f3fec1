"""Training loop: logs, checkpoints, exact resume, clear errors (tiny backbone, tiny dataset)."""
import json

import pandas as pd
import pytest
import torch
from test_chatpose import tiny_chatpose

from posekit.models.chatpose import ChatPose, CheckpointError
from posekit.evaluation.benchmark import validation
from posekit.models.chatpose.training import TrainConfig, export_run, latest_checkpoint, plot_log, train

TEXT_ONLY = {"text2pose": 1.0, "spg": 1.0, "pose2text": 0.5, "edit": 0.5, "chat": 0.5}  # the tiny model has no images


def _config(root, **overrides) -> TrainConfig:
    values = dict(dataset=str(root), steps=6, batch_size=3, log_every=1, checkpoint_every=2, keep_checkpoints=2,
                  warmup_steps=1, task_weights=TEXT_ONLY)
    return TrainConfig(**{**values, **overrides})


def test_train_writes_logs_checkpoints_and_model(tmp_path, tiny_dataset):
    config = _config(tiny_dataset[0], eval_limit=2, eval_tasks=("text2pose", "edit"))
    with pytest.raises(ValueError, match="pass validate=posekit.evaluation.benchmark.validation"):
        train(config, tmp_path / "run", model=tiny_chatpose(), progress=False)
    result = train(config, tmp_path / "run", model=tiny_chatpose(), progress=False, validate=validation(config))
    assert list(result.log["step"]) == [1, 2, 3, 4, 5, 6]
    assert (result.log[["samples_per_s", "tokens_per_s"]] > 0).all().all()
    assert pd.read_csv(tmp_path / "run" / "log.csv").equals(result.log)
    assert set(result.eval["task"]) == {"text2pose", "edit"} and result.eval["MPJPE"].notna().all()
    checkpoints = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("step-*"))
    assert checkpoints == ["step-000004", "step-000006"]  # keep_checkpoints=2
    assert latest_checkpoint(tmp_path / "run").name == "step-000006"
    saved = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert TrainConfig.from_dict(saved).steps == 6 and saved["model"]["vision_encoder"] is None
    model = ChatPose.load(tmp_path / "run" / "model", backbone=_tiny_backbone())
    assert model.read_meta(tmp_path / "run" / "model")["steps"] == 6
    assert plot_log(result.log).data


def test_export_ships_half_precision_parts(tmp_path, tiny_dataset):
    llm, tok = _tiny_backbone()
    llm.save_pretrained(tmp_path / "backbone")
    tok.save_pretrained(tmp_path / "backbone")
    from posekit.models.chatpose import ChatPoseConfig

    model = ChatPose(ChatPoseConfig(backbone=str(tmp_path / "backbone"), vision_encoder=None))
    run = train(_config(tiny_dataset[0], steps=2), tmp_path / "run", model=model, progress=False)
    with pytest.raises(CheckpointError, match="not finished"):
        export_run(tmp_path / "nothing", tmp_path / "out")
    out = export_run(tmp_path / "run", tmp_path / "shipped")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "log.csv", "posekit-output.json", "train_config.json",
                                                     "trained.safetensors"]
    assert (out / "trained.safetensors").stat().st_size < 0.6 * (tmp_path / "run" / "model" / "trained.safetensors").stat().st_size
    shipped = ChatPose.load(out)
    for name, value in shipped.trainable_state().items():
        assert value.dtype == torch.float32  # cast back on load
        torch.testing.assert_close(value, run.model.trainable_state()[name], atol=2e-3, rtol=2e-3)
    (out / "README.md").write_text("notes")
    weights = (out / "trained.safetensors").read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError("no space left on device")
    with pytest.MonkeyPatch.context() as patch:  # the export fails after writing the new weights
        patch.setattr("posekit.models.chatpose.training.json.dumps", full_disk)
        with pytest.raises(OSError, match="no space"):
            export_run(tmp_path / "run", out)
    assert (out / "trained.safetensors").read_bytes() == weights and ChatPose.load(out) is not None
    export_run(tmp_path / "run", out)  # a new export keeps the folder's other files
    assert (out / "README.md").read_text() == "notes"
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="no posekit-output.json"):
        export_run(tmp_path / "run", notes)
    assert (notes / "todo.txt").read_text() == "mine"
    theirs = tmp_path / "theirs"  # another tool's model folder: a config.json that is not posekit's
    theirs.mkdir()
    (theirs / "config.json").write_text('{"model_type": "bert"}')
    (theirs / "trained.safetensors").write_bytes(b"their weights")
    with pytest.raises(FileExistsError, match="no posekit-output.json"):
        export_run(tmp_path / "run", theirs)
    assert (theirs / "trained.safetensors").read_bytes() == b"their weights"


def _tiny_backbone():
    from test_chatpose import tiny_llama

    return tiny_llama()


def test_resume_after_interruption_continues_exactly(tmp_path, tiny_dataset):
    config = _config(tiny_dataset[0])
    straight = train(config, tmp_path / "a", model=tiny_chatpose(), progress=False)
    first = train(config, tmp_path / "b", model=tiny_chatpose(), progress=False, stop_after=3)  # "killed" after step 3
    assert list(first.log["step"]) == [1, 2, 3] and latest_checkpoint(tmp_path / "b").name == "step-000002"
    resumed = train(config, tmp_path / "b", model=tiny_chatpose(), progress=False)
    assert list(resumed.log["step"]) == [1, 2, 3, 4, 5, 6]  # step 3 was lost with the process and is redone
    assert resumed.log["loss"].tolist() == straight.log["loss"].tolist()  # same batches, same RNG, same numbers


def test_a_crafted_training_state_runs_no_code(tmp_path, tiny_dataset):
    from posefixtures import crafted_torch_file

    config = _config(tiny_dataset[0], steps=4)
    train(config, tmp_path / "run", model=tiny_chatpose(), progress=False, stop_after=2)  # a checkpoint at step 2
    state = latest_checkpoint(tmp_path / "run") / "training_state.pt"
    crafted_torch_file(state, tmp_path / "ran")
    with pytest.raises(ValueError, match="Python objects posekit never loads"):
        train(config, tmp_path / "run", model=tiny_chatpose(), progress=False)
    assert not (tmp_path / "ran").exists()


def test_resume_refuses_another_model_config(tmp_path, tiny_dataset):
    config = _config(tiny_dataset[0], steps=2)
    train(config, tmp_path / "run", model=tiny_chatpose(), progress=False, stop_after=2)
    with pytest.raises(CheckpointError, match="another model config"):
        train(config, tmp_path / "run", model=tiny_chatpose(joint_weight=0.5), progress=False)


def test_image_tasks_need_a_vision_encoder(tmp_path, tiny_dataset):
    with pytest.raises(ValueError, match="no vision encoder"):
        train(_config(tiny_dataset[0], task_weights={"rpe": 1.0}), tmp_path, model=tiny_chatpose(), progress=False)


def test_config_round_trips_through_json():
    config = TrainConfig.quick(steps=3)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_a_run_starts_from_another_runs_parts(tmp_path, tiny_dataset):
    donor = tiny_chatpose(seed=5)
    with torch.no_grad():
        donor.token_embed.add_(1.0)  # recognisable trained parts
    donor.save(tmp_path / "donor")
    config = _config(tiny_dataset[0], steps=1, lr=0.0, head_lr=0.0, init_from=str(tmp_path / "donor"))
    run = train(config, tmp_path / "run", model=tiny_chatpose(pose_head="attend"), progress=False)
    assert torch.equal(run.model.token_embed, donor.token_embed)  # loaded (and not moved: learning rates 0)
    assert not torch.equal(run.model.pose_head.net[-1].weight, torch.zeros_like(run.model.pose_head.net[-1].weight))
    assert json.loads((tmp_path / "run" / "train_config.json").read_text())["init_from"] == str(tmp_path / "donor")


def test_a_model_prepared_for_half_precision_inference_is_refused(tmp_path, tiny_dataset):
    model = tiny_chatpose().set_dtype("float16")  # CPU: LoRA merged into float16 weights
    assert model.inference_only and not tiny_chatpose().inference_only
    with pytest.raises(ValueError, match="prepared for half-precision inference"):
        train(_config(tiny_dataset[0]), tmp_path / "run", model=model, progress=False)
    assert not (tmp_path / "run").exists()


def test_describe_tasks_must_be_trained_tasks(tmp_path, tiny_dataset):
    with pytest.raises(ValueError, match=r"describe_tasks \['rpe'\] are not trained"):
        train(_config(tiny_dataset[0], describe_tasks=("rpe",)), tmp_path, model=tiny_chatpose(), progress=False)


def test_describe_then_pose_run_trains_on_described_answers(tmp_path, tiny_dataset, monkeypatch):
    import posekit.models.chatpose.training as train_module

    seen = []
    original = ChatPose.collate
    monkeypatch.setattr(ChatPose, "collate", lambda self, records, *a, **k: seen.extend(records) or original(self, records, *a, **k))
    config = _config(tiny_dataset[0], steps=2, describe_tasks=("spg",), task_weights={"spg": 1.0, "text2pose": 1.0})
    train_module.train(config, tmp_path / "run", model=tiny_chatpose(), progress=False)
    spg = [r for r in seen if r.task == "spg"]
    assert spg and all(r.meta.get("described") for r in spg)
    assert not any(r.meta.get("described") for r in seen if r.task == "text2pose")
    saved = TrainConfig.from_dict(json.loads((tmp_path / "run" / "train_config.json").read_text()))
    assert saved.describe_tasks == ("spg",)


@pytest.mark.parametrize("change,match", [({"steps": -1}, "steps=-1"), ({"batch_size": 0}, "batch_size=0"),
                                          ({"lr": -1e-4}, "lr"), ({"mixed_precision": "fp8"}, "mixed_precision")])
def test_bad_configs_are_refused_before_anything_is_written(change, match, tmp_path):
    from posekit.models.chatpose.training import TrainConfig

    with pytest.raises(ValueError, match=match):
        TrainConfig.quick(**change)
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        TrainConfig.from_dict({"stepz": 3})
    assert not any(tmp_path.iterdir())


def test_a_diverged_run_stops_and_saves_no_model(tmp_path, tiny_dataset):
    model = tiny_chatpose()
    with torch.no_grad():
        model.pose_encoder.net[0].weight.fill_(float("nan"))  # weights gone bad: every loss is NaN
    with pytest.raises(ValueError, match="diverged at step 1"):
        train(_config(tiny_dataset[0], steps=2), tmp_path / "run", model=model, progress=False)
    assert not (tmp_path / "run" / "model").exists() and not (tmp_path / "run" / "checkpoints").exists()
