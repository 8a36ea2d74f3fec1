"""ChatPose: a causal LLM that reads and writes 3D poses (see :mod:`posekit.chatpose.model`).

One module per job, as peft's tuners are laid out:

- ``config``: :class:`ChatPoseConfig` (saved in every checkpoint), constants;
- ``heads``: the pose heads (MLP, attending; the decoder head lives in :mod:`posekit.pose_decoder`)
  and the pose encoder;
- ``batching``: templates, tokenising, collation into a :class:`Batch`;
- ``model``: :class:`ChatPose` (parts, embeddings, forward, losses; thin methods for the rest);
- ``generation``: the decode loop, sampling, the repetition guard;
- ``checkpoint``: save, load, the shipped checkpoint's folder;
- ``precision``: half-precision weights for CPU inference.
"""
from posekit.chatpose.batching import Batch
from posekit.chatpose.checkpoint import default_checkpoint_dir, load_chatpose
from posekit.chatpose.config import DTYPES, POSE_HEADS, SPECIAL_TOKENS, ChatPoseConfig, CheckpointError
from posekit.chatpose.generation import Answer, ban_repeats, check_no_repeat_ngram_size
from posekit.chatpose.heads import AttendPoseHead, PoseEncoder, PoseHead
from posekit.chatpose.model import ChatPose
from posekit.chatpose.precision import HalfWeightLinear

__all__ = ["ChatPoseConfig", "ChatPose", "Batch", "Answer", "CheckpointError", "PoseHead", "PoseEncoder",
           "AttendPoseHead", "HalfWeightLinear", "load_chatpose", "default_checkpoint_dir", "SPECIAL_TOKENS", "POSE_HEADS",
           "DTYPES", "check_no_repeat_ngram_size", "ban_repeats"]
