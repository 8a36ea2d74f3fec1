"""Baselines with the interface every pose model in posekit has (the ChatPose model included):
``model.fit(train_records, root)`` then ``model.predict(records, root) -> (N, 24, 3)`` axis-angle,
the first ``<POSE>`` of each record.

- :class:`MeanPose`: the mean training target (rotation average per joint);
- :class:`NearestNeighbour`: the target of the training query closest in MiniLM space;
- :class:`SoftNearest`: a softmax-weighted mean of the targets of the 200 closest (a nearest
  neighbour that hedges: the strongest simple spg baseline measured);
- :class:`TextRegressor`: MiniLM embedding (plus the input pose for ``edit``) -> MLP -> 6D pose;
- :class:`ImageRegressor`: frozen ImageNet EfficientNet-lite0 features -> MLP -> 6D pose (for
  RPE it sees the whole image and cannot reason about the query: that is the point);
- :class:`LabelNearest`: the canonical pose whose plain-word label (its name, its "who" phrase,
  one of its situations or one of its plain requests: every label the model's memory reads) is
  closest to the request in MiniLM space: a look-up anyone could write in twenty lines, and the
  bar a model of everyday wording must clear;
- :class:`PartNearest`: the request cut into clauses, each clause's nearest label's pose put on
  the body parts the clause names (:mod:`posekit.language.clauses`), over the whole request's
  nearest pose (or, for an edit, the given pose): the look-up that composes;
- :class:`CopyInput`: ``edit`` only, returns the input pose unchanged.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from posekit.body.parts import compose_pose
from posekit.body.rotations import mean_rotation, rot6d_to_rotmat, rotmat_to_rotvec, rotvec_to_rot6d, rotvec_to_rotmat
from posekit.body.skeleton import NUM_JOINTS, POSE_6D_DIM
from posekit.configs import check_field_types
from posekit.corpus.library import canonical_poses
from posekit.datasets.plain import pose_labels, train_descriptions
from posekit.datasets.records import IMAGE_TASKS, IMAGE_TOKEN, POSE_IN_TOKEN, Record
from posekit.encoders.text import get_text_encoder
from posekit.encoders.vision import efficientnet_lite0
from posekit.files import atomic_path, read_torch_file
from posekit.language.clauses import clause_parts, split_clauses
from posekit.models.names import TEXT_QUERY_BASELINES
from posekit.paths import cache_dir

__all__ = ["MeanPose", "NearestNeighbour", "SoftNearest", "LabelNearest", "PartNearest", "TextRegressor", "ImageRegressor", "CopyInput", "query_text",
           "RegressorConfig", "image_features", "BASELINES", "TEXT_QUERY_BASELINES", "make_baseline"]


def query_text(record: Record) -> str:
    """The text a text model sees: the caption, implicit description or instruction when the
    record keeps it in its metadata, else the user turn without placeholders."""
    for key in ("caption", "description", "instruction", "query"):
        if key in record.meta:
            return record.meta[key]
    user = " ".join(m["content"] for m in record.messages if m["role"] == "user")
    return user.replace(POSE_IN_TOKEN, "").replace(IMAGE_TOKEN, "").strip()


def _targets(records: list[Record]) -> torch.Tensor:
    return torch.stack([r.targets()[0] for r in records])  # (N, 24, 3)


class MeanPose:
    name = "mean"

    def fit(self, records: list[Record], root: Path | None = None) -> "MeanPose":
        self.pose = rotmat_to_rotvec(mean_rotation(rotvec_to_rotmat(_targets(records))))  # (24, 3)
        return self

    def predict(self, records: list[Record], root: Path | None = None) -> torch.Tensor:
        return self.pose.expand(len(records), -1, -1).clone()


class NearestNeighbour:
    name = "nearest"

    def fit(self, records: list[Record], root: Path | None = None) -> "NearestNeighbour":
        self.encoder = get_text_encoder()
        self.keys = self.encoder.encode([query_text(r) for r in records])  # (N, 384), unit vectors
        self.poses = _targets(records)
        return self

    def predict(self, records: list[Record], root: Path | None = None) -> torch.Tensor:
        queries = self.encoder.encode([query_text(r) for r in records])
        return self.poses[(queries @ self.keys.T).argmax(1)]


class SoftNearest:
    """The mean (chordal, per joint) of the targets of the ``k`` training queries closest in MiniLM
    space, weighted by a softmax of their cosine similarities at ``temperature``: where one
    neighbour is a guess, many of them hedge toward what similar requests share. ``k=200,
    temperature=0.1`` were picked on spg's validation split (``bench/spg_soft_nearest.py``)."""

    name = "soft-nearest"

    def __init__(self, k: int = 200, temperature: float = 0.1):
        if k < 1 or temperature <= 0:
            raise ValueError(f"SoftNearest needs k >= 1 and temperature > 0, got k={k}, temperature={temperature}")
        self.k, self.temperature = k, temperature

    def fit(self, records: list[Record], root: Path | None = None) -> "SoftNearest":
        self.encoder = get_text_encoder()
        self.keys = self.encoder.encode([query_text(r) for r in records])  # (N, 384), unit vectors
        self.targets = rotvec_to_rotmat(_targets(records))  # (N, 24, 3, 3)
        return self

    def predict(self, records: list[Record], root: Path | None = None, chunk: int = 128) -> torch.Tensor:
        queries = self.encoder.encode([query_text(r) for r in records])
        out = []
        for start in range(0, len(queries), chunk):  # (chunk, k, 24, 3, 3) at a time
            top = (queries[start:start + chunk] @ self.keys.T).topk(min(self.k, len(self.keys)), dim=1)
            weights = torch.softmax(top.values / self.temperature, 1)[..., None].expand(-1, -1, NUM_JOINTS)
            out.append(rotmat_to_rotvec(mean_rotation(self.targets[top.indices], dim=1, weights=weights)))
        return torch.cat(out)  # (N, 24, 3)


class LabelNearest:
    """The canonical pose whose label is nearest to the request (MiniLM cosine): its name
    ("hands on hips"), "someone who" + its who phrase, one of its situations or, with ``plain``
    (the default), one of its plain requests (:func:`posekit.datasets.plain.pose_labels`: the
    labels ChatPose's retrieval memory reads), answered with that canonical pose. ``fit`` takes
    the canonical poses of the training records' sources (so that a test pose is never among the
    answers); :meth:`fit_poses` any list of them, :meth:`answer` free text."""

    name = "label-nearest"

    def __init__(self, plain: bool = True):
        self.plain = plain

    def fit(self, records: list[Record], root: Path | None = None) -> "LabelNearest":
        sources = {r.meta.get(key) for r in records for key in ("source", "source_a", "source_b")}
        sources |= {s for r in records for s in r.meta.get("sources", [])}
        known = canonical_poses()
        names = [n for n in known if n in sources]
        if not names:
            raise ValueError("LabelNearest.fit found no canonical pose among the records' sources (meta 'source')")
        return self.fit_poses(names, descriptions=train_descriptions(records))  # spg's test descriptions stay out

    def fit_poses(self, names: list[str] | None = None, descriptions: set[str] | None = None) -> "LabelNearest":
        """Answer with the canonical poses ``names`` (all when None); ``descriptions``: keep only these
        of the spg descriptions (:func:`posekit.datasets.plain.pose_labels`)."""
        self.encoder = get_text_encoder()
        labels = pose_labels(names, plain=self.plain, descriptions=descriptions)
        self.labels = [text for text, _ in labels]
        poses = canonical_poses(list(dict.fromkeys(pose for _, pose in labels)))
        self.names = list(poses)
        self.poses = torch.stack(list(poses.values()))  # (P, 24, 3)
        self.label_pose = torch.tensor([self.names.index(pose) for _, pose in labels])  # (L,)
        self.keys = self.encoder.encode(self.labels)  # (L, 384)
        return self

    def nearest(self, texts: list[str]) -> list[str]:
        """The canonical pose name each text is answered with."""
        best = (self.encoder.encode(texts) @ self.keys.T).argmax(1)
        return [self.names[int(self.label_pose[i])] for i in best]

    def answer(self, texts: list[str]) -> torch.Tensor:
        """Poses ``(N, 24, 3)`` for free-text requests."""
        if not texts:
            return torch.zeros(0, NUM_JOINTS, 3)
        return self.poses[self.label_pose[(self.encoder.encode(texts) @ self.keys.T).argmax(1)]]

    def predict(self, records: list[Record], root: Path | None = None) -> torch.Tensor:
        return self.answer([query_text(r) for r in records])


class PartNearest(LabelNearest):
    """The look-up that composes: the request is cut into clauses
    (:func:`posekit.language.clauses.split_clauses`); the answer starts from the whole request's
    nearest pose (an edit: from the given pose) and each clause that names body parts
    (:func:`posekit.language.clauses.clause_parts`) puts its own nearest label's pose on those
    parts, later clauses over earlier ones. "Squat with both arms forward": the legs and torso of
    the nearest squat, the arms of the nearest "arms forward"."""

    name = "part-nearest"

    def compose(self, texts: list[str], starts: list[torch.Tensor | None] | None = None) -> torch.Tensor:
        """Poses ``(N, 24, 3)`` for free-text requests; ``starts``: per request, the pose an edit
        starts from ``(24, 3)`` (None: a new pose)."""
        if not texts:
            return torch.zeros(0, NUM_JOINTS, 3)
        starts = starts if starts is not None else [None] * len(texts)
        if len(starts) != len(texts):
            raise ValueError(f"{len(starts)} starting poses for {len(texts)} requests")
        clauses = [split_clauses(t) for t in texts]
        flat = [c for cs in clauses for c in cs]
        nearest = self.answer(list(texts) + flat)  # (N + C, 24, 3)
        whole, per_clause = nearest[:len(texts)], iter(nearest[len(texts):])
        out = []
        for k, cs in enumerate(clauses):
            pose = whole[k] if starts[k] is None else torch.as_tensor(starts[k], dtype=torch.float32).reshape(NUM_JOINTS, 3)
            for clause in cs:
                donor = next(per_clause)
                parts = clause_parts(clause)
                if len(cs) > 1 or starts[k] is not None:
                    pose = compose_pose(pose, {part: donor for part in parts})
            out.append(pose)
        return torch.stack(out)

    def predict(self, records: list[Record], root: Path | None = None) -> torch.Tensor:
        starts = [torch.tensor(r.input_poses[0]) if r.input_poses else None for r in records]
        return self.compose([query_text(r) for r in records], starts)


class CopyInput:
    name = "copy"

    def fit(self, records: list[Record], root: Path | None = None) -> "CopyInput":
        return self

    def predict(self, records: list[Record], root: Path | None = None) -> torch.Tensor:
        if any(not r.input_poses for r in records):
            raise ValueError("CopyInput needs records with an input pose (the edit task)")
        return torch.stack([r.inputs()[0] for r in records])


@dataclasses.dataclass(frozen=True)
class RegressorConfig:
    hidden: int = 512
    epochs: int = 80
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        check_field_types(self)


def _mlp(inputs: int, config: RegressorConfig) -> nn.Module:
    return nn.Sequential(nn.Linear(inputs, config.hidden), nn.GELU(), nn.Dropout(0.1),
                         nn.Linear(config.hidden, config.hidden), nn.GELU(), nn.Linear(config.hidden, POSE_6D_DIM))


def _train_regressor(features: torch.Tensor, targets: torch.Tensor, config: RegressorConfig) -> nn.Module:
    """MLP ``(N, F) -> (N, 24 * 6)`` trained with an L1 loss on rotation matrices (as ChatPose's pose loss)."""
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    net = _mlp(features.shape[1], config)
    target_rot = rotvec_to_rotmat(targets)  # (N, 24, 3, 3)
    # Start from the mean pose: a zero-initialised 6D head sits on Gram-Schmidt's unstable
    # origin and can settle with some joints flipped by 180 degrees.
    mean_rot = mean_rotation(target_rot)  # (24, 3, 3)
    with torch.no_grad():
        net[-1].weight.mul_(0.01)
        net[-1].bias.copy_(torch.cat([mean_rot[..., 0], mean_rot[..., 1]], -1).flatten())
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    for _ in range(config.epochs):
        net.train()
        order = torch.randperm(len(features), generator=gen)
        for start in range(0, len(features), config.batch_size):
            idx = order[start:start + config.batch_size]
            pred = rot6d_to_rotmat(net(features[idx]).reshape(-1, NUM_JOINTS, 6), validate=False)
            loss = (pred - target_rot[idx]).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


def _decode(net: nn.Module, features: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return rotmat_to_rotvec(rot6d_to_rotmat(net(features).reshape(-1, NUM_JOINTS, 6)))


class TextRegressor:
    name = "regressor"

    def __init__(self, config: RegressorConfig = RegressorConfig()):
        self.config = config

    def _features(self, records: list[Record]) -> torch.Tensor:
        text = self.encoder.encode([query_text(r) for r in records])
        if self.with_input:
            pose_in = torch.stack([rotvec_to_rot6d(r.inputs()[0]).flatten() for r in records])
            return torch.cat([text, pose_in], 1)
        return text

    def fit(self, records: list[Record], root: Path | None = None) -> "TextRegressor":
        self.encoder = get_text_encoder()
        self.with_input = all(r.input_poses for r in records)
        self.net = _train_regressor(self._features(records), _targets(records), self.config)
        return self

    def predict(self, records: list[Record], root: Path | None = None) -> torch.Tensor:
        return _decode(self.net, self._features(records))


def image_features(records: list[Record], root: Path, batch_size: int = 32, progress: bool = False) -> torch.Tensor:
    """Frozen ImageNet EfficientNet-lite0 features ``(N, 1280)`` (global average pooled) of the
    records' images, cached on disk under ``$POSEKIT_CACHE/features``."""
    from PIL import Image
    from tqdm.auto import tqdm

    paths = [str(Path(root) / r.image) for r in records]
    key = hashlib.sha256("\n".join(paths).encode() + str([Path(p).stat().st_mtime_ns for p in paths]).encode()).hexdigest()[:20]
    cache = cache_dir() / "features" / f"efficientnet-lite0-{key}.pt"
    if cache.is_file():
        try:
            cached = read_torch_file(cache, "image feature cache")
            if isinstance(cached, torch.Tensor) and cached.shape == (len(paths), 1280) and cached.isfinite().all():
                return cached
        except ValueError:
            pass  # truncated or foreign: computed again below and written over it
    net = efficientnet_lite0()
    feats = []
    for start in tqdm(range(0, len(paths), batch_size), desc="image features", disable=not progress):
        batch = torch.stack([torch.from_numpy(np.array(Image.open(p).convert("RGB").resize((224, 224))))
                             for p in paths[start:start + batch_size]]).permute(0, 3, 1, 2).float() / 255.0
        with torch.no_grad():
            feats.append(net.extract_features((batch - 0.5) / 0.5).mean((2, 3)))
    out = torch.cat(feats) if feats else torch.zeros(0, 1280)
    with atomic_path(cache) as tmp:  # a killed run leaves no half-written cache behind
        torch.save(out, tmp)
    return out


class ImageRegressor:
    name = "regressor"

    def __init__(self, config: RegressorConfig = RegressorConfig()):
        self.config = config

    def fit(self, records: list[Record], root: Path) -> "ImageRegressor":
        self.net = _train_regressor(image_features(records, root), _targets(records), self.config)
        return self

    def predict(self, records: list[Record], root: Path) -> torch.Tensor:
        return _decode(self.net, image_features(records, root))


BASELINES = {"mean": MeanPose, "nearest": NearestNeighbour, "soft-nearest": SoftNearest, "label-nearest": LabelNearest,
             "part-nearest": PartNearest, "regressor": None, "copy": CopyInput}
"""Baseline names; ``regressor`` is the text or image regressor depending on the task."""


def make_baseline(name: str, task: str):
    """A fresh (unfitted) baseline for ``task``."""
    if name not in BASELINES:
        raise ValueError(f"unknown model {name!r}; baselines: {sorted(BASELINES)}")
    if name == "regressor":
        return ImageRegressor() if task in IMAGE_TASKS else TextRegressor()
    if name in TEXT_QUERY_BASELINES and task in IMAGE_TASKS:
        raise ValueError(f"the {name} baseline needs a text query; image tasks use mean or regressor")
    if name == "copy" and task != "edit":
        raise ValueError("the copy baseline only applies to the edit task")
    return BASELINES[name]()
