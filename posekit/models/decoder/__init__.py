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
from posekit.models.decoder.config import (
    CONFIDENCE,
    DECODER_TASKS,
    GROWABLE,
    TRAINABLE,
    DecoderTrainConfig,
    PoseDecoderConfig,
    parse_task_repeats,
)
from posekit.models.decoder.examples import grounding_target, held_out_halves, image_side, target_keypoints
from posekit.models.decoder.inference import aligned_image_tokens, decode_requests
from posekit.models.decoder.network import PoseDecoder
from posekit.models.decoder.state_model import StatePoseModel, check_decoder_out, read_decoder_file
from posekit.models.decoder.training import fit_state_decoder, train_pose_decoder

__all__ = ["PoseDecoderConfig", "DecoderTrainConfig", "PoseDecoder", "StatePoseModel", "train_pose_decoder",
           "fit_state_decoder", "decode_requests", "aligned_image_tokens", "DECODER_TASKS", "CONFIDENCE", "GROWABLE",
           "TRAINABLE", "parse_task_repeats", "held_out_halves", "grounding_target", "image_side", "target_keypoints",
           "read_decoder_file", "check_decoder_out"]
