"""A pose decoder over frozen LLM token states (ChatPose's default head), one module per job:

- ``config``: :class:`PoseDecoderConfig` (architecture) and :class:`DecoderTrainConfig` (training);
- ``network``: :class:`PoseDecoder`;
- ``examples``: the example table and its batching;
- ``training``: :func:`train_pose_decoder` (one loop, exact resume) and :func:`fit_state_decoder`;
- ``inference``: poses from cached states, image tokens aligned with records;
- ``state_model``: :class:`StatePoseModel` (evaluation model) and the decoder file format.

Reading a decoder from a ChatPose folder and shipping one inside a checkpoint:
:mod:`posekit.models.chatpose.decoder_head`.
"""
from posekit.lazy import lazy_exports

# names come from their modules when first used: reading one light module (a config) stays light
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "config": ("CONFIDENCE", "DECODER_TASKS", "GROWABLE", "TRAINABLE", "DecoderTrainConfig", "PoseDecoderConfig", "parse_task_repeats",),
    "examples": ("grounding_target", "held_out_halves", "image_side", "target_keypoints",),
    "inference": ("aligned_image_tokens", "decode_requests",),
    "network": ("PoseDecoder",),
    "state_model": ("StatePoseModel", "check_decoder_out", "read_decoder_file",),
    "training": ("fit_state_decoder", "train_pose_decoder",),
})
