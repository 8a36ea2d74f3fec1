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
from posekit.lazy import lazy_exports

# names come from their modules when first used: reading one light module (a config) stays light
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "batching": ("Batch",),
    "checkpoint": ("default_checkpoint_dir",),
    "config": ("DTYPES", "POSE_HEADS", "SPECIAL_TOKENS", "ChatPoseConfig", "CheckpointError",),
    "decoder_head": ("attach_to_chatpose", "decoder_recipe", "load_decoder", "stage_record",),
    "generation": ("Answer", "ban_repeats", "check_no_repeat_ngram_size",),
    "heads": ("AttendPoseHead", "PoseEncoder", "PoseHead",),
    "model": ("ChatPose", "load_chatpose",),
    "precision": ("HalfWeightLinear",),
})
