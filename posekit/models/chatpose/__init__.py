"""ChatPose: a causal LLM that reads and writes 3D poses (see :mod:`posekit.models.chatpose.model`).

One module per job, as peft's tuners are laid out:

- ``config``: :class:`ChatPoseConfig` (saved in every checkpoint), constants;
- ``heads``: the pose heads (MLP, attending; the decoder head is :class:`posekit.models.decoder.PoseDecoder`)
  and the pose encoder;
- ``decoder_head``: a decoder read from a file or a ChatPose folder, its recipe, shipping it in a checkpoint;
- ``batching``: templates, tokenising, collation into a :class:`Batch`;
- ``model``: :class:`ChatPose` (parts, embeddings, forward, losses; thin methods for the rest);
- ``generation``: the decode loop, sampling, the repetition guard;
- ``checkpoint``: save, load, the shipped checkpoint's folder;
- ``precision``: half-precision weights for CPU inference;
- ``training``: the language stage (LoRA fine-tuning on the task mix with accelerate).
"""
from posekit.models.chatpose.batching import Batch
from posekit.models.chatpose.checkpoint import default_checkpoint_dir
from posekit.models.chatpose.config import DTYPES, POSE_HEADS, SPECIAL_TOKENS, ChatPoseConfig, CheckpointError
from posekit.models.chatpose.decoder_head import attach_to_chatpose, decoder_recipe, load_decoder, stage_record
from posekit.models.chatpose.generation import Answer, ban_repeats, check_no_repeat_ngram_size
from posekit.models.chatpose.heads import AttendPoseHead, PoseEncoder, PoseHead
from posekit.models.chatpose.model import ChatPose, load_chatpose
from posekit.models.chatpose.precision import HalfWeightLinear

__all__ = ["ChatPoseConfig", "ChatPose", "Batch", "Answer", "CheckpointError", "PoseHead", "PoseEncoder",
           "AttendPoseHead", "HalfWeightLinear", "load_chatpose", "default_checkpoint_dir", "SPECIAL_TOKENS", "POSE_HEADS",
           "DTYPES", "check_no_repeat_ngram_size", "ban_repeats", "load_decoder", "decoder_recipe",
           "stage_record", "attach_to_chatpose"]
