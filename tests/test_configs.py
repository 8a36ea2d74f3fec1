"""Every config dataclass checks its fields' types, naming the field (posekit.configs)."""
import numpy as np
import pytest

from posekit.body.open_body import OpenBodyConfig
from posekit.configs import ConfigTypeError, check_field_types
from posekit.corpus.splits import SplitConfig
from posekit.corpus.variants import SamplerConfig
from posekit.datasets.config import DatasetConfig
from posekit.language.captioner import CaptionConfig
from posekit.language.paircodes import InstructionConfig
from posekit.models.baselines import RegressorConfig
from posekit.models.chatpose import ChatPoseConfig
from posekit.models.chatpose.training import TrainConfig
from posekit.models.decoder import DecoderTrainConfig, PoseDecoderConfig
from posekit.evaluation.retrieval import RetrievalConfig
from posekit.photos import FitConfig

CONFIGS = [TrainConfig, ChatPoseConfig, PoseDecoderConfig, DecoderTrainConfig, DatasetConfig, RetrievalConfig,
           RegressorConfig, CaptionConfig, InstructionConfig, SplitConfig, SamplerConfig, OpenBodyConfig, FitConfig]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.__name__)
def test_defaults_pass_and_a_string_in_a_number_field_names_the_field(config):
    import dataclasses

    check_field_types(config())
    numeric = next(f for f in dataclasses.fields(config) if f.type in ("int", "float"))
    with pytest.raises(ConfigTypeError, match=f"{config.__name__}.{numeric.name} must be (an integer|a number), "
                                              "got '3' \\(str\\)"):
        config(**{numeric.name: "3"})


def test_numbers_lists_and_none_are_accepted_where_they_fit():
    TrainConfig(steps=np.int64(5), lr=1, eval_tasks=["text2pose"])  # numpy ints, an int for a float, a list for a tuple
    ChatPoseConfig(vision_encoder=None, lora_targets=["q_proj"])
    with pytest.raises(ConfigTypeError, match="TrainConfig.steps must be an integer, got True"):
        TrainConfig(steps=True)  # a bool is not a count
    with pytest.raises(ConfigTypeError, match="TrainConfig.steps must be an integer, got 2.5"):
        TrainConfig(steps=2.5)
    with pytest.raises(ConfigTypeError, match="ChatPoseConfig.lora_targets must be a list of strings"):
        ChatPoseConfig(lora_targets=["q_proj", 3])
    with pytest.raises(ConfigTypeError, match="ChatPoseConfig.vision_encoder must be a string or null"):
        ChatPoseConfig(vision_encoder=7)


def test_a_wrongly_typed_value_in_a_saved_config_is_named_with_its_nested_class():
    with pytest.raises(ConfigTypeError, match="ChatPoseConfig.lora_rank must be an integer, got 'x'"):
        TrainConfig.from_dict({"model": {"lora_rank": "x"}})
    with pytest.raises(ConfigTypeError, match="PoseDecoderConfig.width must be an integer"):
        ChatPoseConfig.from_dict({"decoder": {"width": "wide"}})
    with pytest.raises(TypeError):  # callers that catch TypeError or ValueError both see it
        TrainConfig(lr="fast")
    with pytest.raises(ValueError):
        TrainConfig(lr="fast")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_infinite_settings_are_refused_naming_the_field(bad):
    from posekit.models.chatpose.training import TrainConfig
    from posekit.models.part_composer import PartComposerConfig

    with pytest.raises(ValueError, match=r"TrainConfig\.lr must be finite"):
        TrainConfig(lr=bad)
    with pytest.raises(ValueError, match=r"PartComposerConfig\.threshold must be finite"):
        PartComposerConfig(threshold=bad)
    with pytest.raises(ValueError, match=r"TrainConfig\.task_weights must be finite"):
        TrainConfig(task_weights={"text2pose": bad})


@pytest.mark.parametrize("weights", [{"text2pose": 0.0, "spg": 0.0}, {"text2pose": -1.0, "spg": 2.0}, {"nosuch": 1.0}])
def test_task_weights_that_train_nothing_are_refused(weights):
    from posekit.models.chatpose.training import TrainConfig

    with pytest.raises(ValueError, match=r"TrainConfig\.task_weights must give tasks"):
        TrainConfig(task_weights=weights)


def test_fp16_on_a_cpu_is_refused_not_recorded_as_applied(tmp_path, monkeypatch):
    from posekit import distributed
    from posekit.models.chatpose.training import TrainConfig, train

    monkeypatch.setattr(distributed, "cpu_only", lambda: True)
    with pytest.raises(ValueError, match="mixed_precision 'fp16' needs a GPU"):
        train(TrainConfig(mixed_precision="fp16"), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "train_config.json").exists()
