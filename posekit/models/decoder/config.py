"""The pose decoder's two configurations: its architecture (:class:`PoseDecoderConfig`, saved in every
decoder file and nested in :class:`posekit.models.chatpose.config.ChatPoseConfig`) and how it trains
(:class:`DecoderTrainConfig`)."""
from __future__ import annotations

import dataclasses

from posekit.configs import check_field_types

__all__ = ["GROWABLE", "CONFIDENCE", "PoseDecoderConfig", "TRAINABLE", "IMAGE_PATH", "TRAINABLE_PARTS",
           "DecoderTrainConfig", "parse_task_repeats", "DECODER_TASKS"]


GROWABLE = ("image_layers", "image_text_layers", "confidence", "recall", "sentence_dim", "recall_labels",
            "recall_poses")
"""Parts of :class:`PoseDecoderConfig` that a later stage may add to a trained decoder (they
start as the identity): a decoder without them grows them, one with them keeps them."""
CONFIDENCE = ("none", "pose", "joint")
"""What :attr:`PoseDecoderConfig.confidence` may name: no gate, one factor per answer, one per joint."""


@dataclasses.dataclass(frozen=True)
class PoseDecoderConfig:
    """Architecture of :class:`PoseDecoder` (saved with it)."""

    state_dim: int = 576
    """Width of the LLM states it reads (SmolLM2-135M: 576)."""
    width: int = 256
    layers: int = 2
    heads: int = 4
    dropout: float = 0.1
    max_poses: int = 4
    """Poses per answer it can tell apart (index embeddings)."""
    image_dim: int = 1280
    """Width of the image feature tokens (EfficientNet-lite0: 1280)."""
    image_tokens: int = 49
    """Image feature tokens per image (EfficientNet-lite0 at 224 px: 7 x 7)."""
    image_detail_dim: int = 0
    """Width of the detail features appended to each image token (``efficientnet-lite0-detail``:
    its 2 x 2 sub-cells of 155 values, read as 4 more memory tokens per image token); 0: none."""
    grounding: bool = False
    """Ground the request in the image before decoding: an attention-pooling of the request's
    states scores every image token (:meth:`PoseDecoder.grounding`), and each token gets a
    learned "asked for" embedding in proportion to its score, so that the joint queries can
    tell the asked-for person's tokens from everyone else's. Trained against where that
    person's joints lie (:attr:`DecoderTrainConfig.grounding_weight`)."""
    image_layers: int = 0
    """Transformer encoder layers over the image tokens alone (self-attention among them,
    before the joint queries read them): more capacity in the image path, which only image
    requests reach. Their residual branches start at zero, so adding them to a trained decoder
    (:func:`train_pose_decoder`'s ``init``) changes no answer until they train."""

    image_text_layers: int = 0
    """Layers in which the image tokens read the request (self-attention among them, then
    cross-attention to the request's token states), after :attr:`image_layers`: early fusion,
    so that the image path can mark the person a request names ("the one on the left", "the one
    who is about to jump") before the joint queries read the image. Residual branches start at
    zero, so they too may be added to a trained decoder."""
    confidence: str = "none"
    """A confidence gate (:data:`CONFIDENCE`): ``"pose"`` scales every joint's predicted change
    from the mean pose by one factor per answer, ``2 * sigmoid(g)``, ``"joint"`` by one factor per
    joint, ``g`` read from the joints' decoder outputs and the request's summary (the mean of its
    memory tokens; :meth:`PoseDecoder.confidence`), so that a request the decoder cannot read well
    (a situation it never saw) gets an answer nearer the mean pose, the best guess under doubt,
    while a plain caption keeps its full answer. The gate starts at exactly 1 (an added gate
    changes no answer) and is fitted on held-out requests (:attr:`DecoderTrainConfig.trainable`
    ``"confidence"``): on the training requests, which the decoder has learnt by heart, it would
    only learn to trust them. ``"none"``: no gate."""

    recall: int = 0
    """Retrieval memory: the ``recall`` canonical poses whose labels (names, who
    phrases, situations, plain requests; :func:`posekit.datasets.plain.pose_labels`) lie nearest to
    the request in MiniLM space; each joint of the answer moves toward each recalled pose's joint
    by an amount a small network reads from the joint's features, the difference and the
    similarity (a copy mechanism; its last layer starts at zero, so that added to a trained
    decoder it changes no answer until it trains). Requests with an image skip it (answered from
    the image, as before). 0: none."""
    sentence_dim: int = 0
    """Width of the request's sentence embedding (MiniLM: 384): with :attr:`recall`, one more input
    of the copy amounts; without, it changes each joint's features through a residual network
    starting at zero; 0: none."""
    recall_margin: float = 0.0
    """How much more a recalled pose must score than the decoder's own answer to be chosen at
    inference (logits), picked on validation requests (``bench/recall_margin.py``): 0 takes the
    best-scored candidate."""
    recall_labels: int = 0
    """Labels in the retrieval memory (the decoder keeps their MiniLM keys, set by
    :meth:`PoseDecoder.set_label_memory`)."""
    recall_poses: int = 0
    """Canonical poses the retrieval memory answers with."""

    @property
    def reads_sentence(self) -> bool:
        """Whether the decoder needs the request's text (its MiniLM embedding) besides its states."""
        return bool(self.recall or self.sentence_dim)

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.width % self.heads:
            raise ValueError(f"width ({self.width}) must be divisible by heads ({self.heads})")
        if min(self.state_dim, self.width, self.layers, self.heads, self.max_poses) < 1:
            raise ValueError(f"every size must be >= 1, got {self}")
        for name in ("image_layers", "image_text_layers"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.confidence not in CONFIDENCE:
            raise ValueError(f"confidence must be one of {CONFIDENCE}, got {self.confidence!r}")
        if min(self.recall, self.sentence_dim, self.recall_labels, self.recall_poses) < 0:
            raise ValueError(f"recall sizes must be >= 0, got {self}")
        if self.image_detail_dim % 4:
            raise ValueError(f"image_detail_dim holds 2 x 2 sub-cells per token: a multiple of 4, got {self.image_detail_dim}")


TRAINABLE = ("all", "image", "confidence", "recall")
"""What :attr:`DecoderTrainConfig.trainable` may name."""
IMAGE_PATH = ("image_", "detail_", "ground_", "asked_embed")
"""Names of the parameters that only image requests reach."""
TRAINABLE_PARTS = {"image": IMAGE_PATH, "confidence": ("confidence_",), "recall": ("recall_", "sentence_")}
"""Name prefixes of the parameters each partial :attr:`DecoderTrainConfig.trainable` trains."""


@dataclasses.dataclass(frozen=True)
class DecoderTrainConfig:
    """How :func:`train_pose_decoder` trains (saved with the model)."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 0.01
    seed: int = 0
    patience: int = 8
    """Stop after this many epochs without a better validation loss."""
    joint_weight: float = 0.0
    """Weight of an L1 loss on pelvis-relative joint positions (metres) through the body model's
    forward kinematics, added to the rotation-matrix L1 (which weighs a wrist like a hip); the
    validation loss that picks the best epoch is the same sum."""
    caption_draws: int = 0
    """Extra caption draws per training text2pose pose (:func:`posekit.datasets.recaptioned`),
    added by :func:`fit_state_decoder` to the training split only (validation and test stay the
    dataset's)."""
    brief_draws: int = 0
    """Extra *short* caption draws per training text2pose pose (at most :attr:`brief_facts` facts
    each, picked at random), added like :attr:`caption_draws`."""
    brief_facts: int = 2
    instruction_draws: int = 0
    """Extra *instruction-style* requests per training text2pose pose: the imperative that takes
    a person from standing into the pose ("Kneel down on both knees, then lean forward.",
    :func:`posekit.datasets.recaptioned` with ``style="instruction"``), added like
    :attr:`caption_draws`."""
    edit_draws: int = 0
    """Extra edit pairs per training edit record: its input pose taken to another training pose,
    with the automatic instruction (:func:`posekit.datasets.extra_edit_pairs`), added by
    :func:`fit_state_decoder` to the training split only."""
    plain_targets: int = 0
    """Requests in everyday words (:func:`posekit.datasets.plain.plain_records`: every plain request
    and situation of each canonical pose), added by :func:`fit_state_decoder` with this many target
    poses each (the canonical pose, then variants of it): the training poses' to the training
    split, the validation poses' to the validation split; 0: none."""
    trainable: str = "all"
    """Which parameters train: ``"all"``; ``"image"``: only the image path (the image tokens'
    norm, projection and positions, the image layers and the grounding map), so that a second stage on the image
    tasks (:func:`train_pose_decoder`'s ``init``) leaves every text and edit answer bit for bit
    as it was; ``"confidence"``: only the confidence gate (:attr:`PoseDecoderConfig.confidence`),
    the rest in eval mode (no dropout), which :func:`fit_state_decoder` fits on held-out requests:
    half of the validation split, the other half picking the epoch."""
    task_repeats: dict = dataclasses.field(default_factory=dict)
    """``{task: n}``: each training example of ``task`` is seen ``n`` times per epoch (an integer
    >= 1; tasks not named: once), so that a small task keeps its share of the mix when others
    grow (e.g. ``{"spg": 2}`` after more caption and edit draws). Validation is not repeated."""
    grounding_weight: float = 0.0
    """Weight of an auxiliary cross-entropy between the decoder's grounding map
    (:attr:`PoseDecoderConfig.grounding`) and the image cells that hold the asked-for person's
    2D joints (the renderer's, in the image records' meta); 0: none. The validation loss that
    picks the best epoch stays the pose loss alone."""

    def __post_init__(self) -> None:
        check_field_types(self)
        rules = [(name, ">= 1", lambda v: v >= 1) for name in ("epochs", "batch_size", "patience", "brief_facts")]
        rules += [("lr", "> 0", lambda v: v > 0)]
        rules += [(name, ">= 0", lambda v: v >= 0) for name in ("joint_weight", "grounding_weight", "caption_draws",
                                                                  "brief_draws", "instruction_draws", "edit_draws",
                                                                  "plain_targets")]
        broken = [f"{name} {rule} (got {getattr(self, name)})" for name, rule, ok in rules if not ok(getattr(self, name))]
        if broken:
            raise ValueError(f"need {', '.join(broken)}")
        if self.trainable not in TRAINABLE:
            raise ValueError(f"trainable must be one of {TRAINABLE}, got {self.trainable!r}")
        bad = {t: n for t, n in self.task_repeats.items() if not isinstance(n, int) or isinstance(n, bool) or n < 1}
        if bad:
            raise ValueError(f"task_repeats must map tasks to whole numbers >= 1, got {bad}")


def parse_task_repeats(text: str) -> dict[str, int]:
    """``"spg=2,rpe=3"`` -> ``{"spg": 2, "rpe": 3}`` (:attr:`DecoderTrainConfig.task_repeats`; ``""``: none)."""
    out = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        task, _, count = item.partition("=")
        if not count.strip().isdigit() or int(count) < 1 or not task.strip():
            raise ValueError(f"task repeats are written task=N with a whole N >= 1, e.g. spg=2,rpe=3; got {item!r}")
        out[task.strip()] = int(count)
    return out


DECODER_TASKS = ("text2pose", "spg", "edit", "image2pose", "rpe")
"""The tasks the shipped decoder trains across (every pose-producing task)."""
