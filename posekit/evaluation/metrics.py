"""Evaluation metrics, batched, as used in the 3D pose and text-pose retrieval literature.

- :func:`mpjpe`: mean per-joint position error (mm) after aligning the pelvis;
- :func:`pa_mpjpe`: the same after Procrustes similarity alignment (rotation, scale, translation);
- :func:`mpvpe`: mean per-vertex position error (mm), pelvis-aligned;
- :func:`mpjre`: mean geodesic rotation error per joint (degrees) on local rotations;
- :func:`recall_at_k`: text <-> pose retrieval R@K under the "full" protocol (rank among every
  candidate) or the "pool" protocol (rank among ``pool_size`` random candidates, averaged
  over ``repeats`` draws), and their mean ``mRecall``;
- :func:`posecode_agreement`: precision / recall / F1 of the predicted pose's deterministic
  posecodes against the target's: does the generated pose do what the text asked?
- :func:`pose_spread`: how far a set of poses lies from its own average (degrees): near 0 means
  a model answers every request with the same pose, whatever its scores;
- :func:`paired_bootstrap`: the mean difference of two models' per-sample scores on the same
  records, with a percentile-bootstrap confidence interval (is a win more than noise?).

Position metrics use the 22 main joints (global + 21 body) unless told otherwise. Every
function returns per-sample values ``(B,)`` so that spreads can be plotted; average them
for the usual single number.
"""
from __future__ import annotations

import dataclasses

import roma
import torch

from posekit.body.rotations import geodesic_angle, mean_rotation, rotvec_to_rotmat
from posekit.body.skeleton import MAIN_JOINTS
from posekit.language.posecodes import IGNORED, POSECODES, compute_posecodes

__all__ = ["mpjpe", "pa_mpjpe", "mpvpe", "mpjre", "pose_spread", "recall_at_k", "RetrievalScores", "posecode_agreement",
           "PosecodeScores", "procrustes_align", "paired_bootstrap", "Difference"]


def _check_pair(pred: torch.Tensor, target: torch.Tensor, name: str) -> None:
    if pred.shape != target.shape or pred.dim() != 3 or pred.shape[-1] != 3:
        raise ValueError(f"{name}: pred and target must both be (B, N, 3), got {tuple(pred.shape)} and {tuple(target.shape)}")


def mpjpe(pred: torch.Tensor, target: torch.Tensor, joints=MAIN_JOINTS, root: int = 0) -> torch.Tensor:
    """Per-sample MPJPE in mm, ``pred``/``target`` joints ``(B, J, 3)`` in metres, both moved so
    that joint ``root`` (the pelvis) is at the origin."""
    _check_pair(pred, target, "mpjpe")
    pred = pred - pred[:, root:root + 1]
    target = target - target[:, root:root + 1]
    idx = list(joints)
    return (pred[:, idx] - target[:, idx]).norm(dim=-1).mean(-1) * 1000.0


def procrustes_align(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``pred (B, N, 3)`` moved onto ``target`` by the best similarity (rotation, scale, translation)."""
    rotation, translation, scale = roma.rigid_points_registration(pred, target, compute_scaling=True)
    return scale[:, None, None] * (pred @ rotation.transpose(-1, -2)) + translation[:, None]


def pa_mpjpe(pred: torch.Tensor, target: torch.Tensor, joints=MAIN_JOINTS) -> torch.Tensor:
    """Per-sample PA-MPJPE in mm on ``joints`` (Procrustes fitted on those joints)."""
    _check_pair(pred, target, "pa_mpjpe")
    idx = list(joints)
    aligned = procrustes_align(pred[:, idx].double(), target[:, idx].double())
    return ((aligned - target[:, idx].double()).norm(dim=-1).mean(-1) * 1000.0).to(pred.dtype)


def mpvpe(pred_vertices: torch.Tensor, target_vertices: torch.Tensor, pred_pelvis: torch.Tensor,
          target_pelvis: torch.Tensor) -> torch.Tensor:
    """Per-sample MPVPE in mm; vertices ``(B, V, 3)``, pelvis positions ``(B, 3)`` for alignment."""
    _check_pair(pred_vertices, target_vertices, "mpvpe")
    pred = pred_vertices - pred_pelvis[:, None]
    target = target_vertices - target_pelvis[:, None]
    return (pred - target).norm(dim=-1).mean(-1) * 1000.0


def mpjre(pred_pose: torch.Tensor, target_pose: torch.Tensor, joints=MAIN_JOINTS) -> torch.Tensor:
    """Per-sample mean geodesic angle (degrees) between local joint rotations, axis-angle ``(B, 24, 3)``."""
    _check_pair(pred_pose, target_pose, "mpjre")
    idx = list(joints)
    angle = geodesic_angle(rotvec_to_rotmat(pred_pose[:, idx]), rotvec_to_rotmat(target_pose[:, idx]))
    return torch.rad2deg(angle).mean(-1)


def pose_spread(poses: torch.Tensor, joints=MAIN_JOINTS[1:]) -> torch.Tensor:
    """Per-sample mean geodesic angle (degrees) between each pose's local rotations of ``joints``
    (default: the 21 main body joints, global orientation left out) and the set's average pose
    (per joint, the mean rotation matrix projected back onto rotations); ``poses`` axis-angle
    ``(B, 24, 3)``. The mean over the set is 0 for a constant answer; test targets spread ~20°."""
    if poses.ndim != 3 or poses.shape[1:] != (24, 3):
        raise ValueError(f"pose_spread expects axis-angle poses (B, 24, 3), got {tuple(poses.shape)}")
    rot = rotvec_to_rotmat(poses[:, list(joints)])  # (B, J, 3, 3)
    centre = mean_rotation(rot)  # (J, 3, 3)
    return torch.rad2deg(geodesic_angle(rot, centre.expand_as(rot))).mean(-1)


@dataclasses.dataclass(frozen=True)
class RetrievalScores:
    """Recall@K (percent) in both directions under one protocol."""

    protocol: str
    text_to_pose: dict[int, float]
    pose_to_text: dict[int, float]

    @property
    def mean_recall(self) -> float:
        """mRecall: the mean of every R@K in both directions."""
        values = list(self.text_to_pose.values()) + list(self.pose_to_text.values())
        return sum(values) / len(values)

    def as_row(self) -> dict[str, float]:
        row = {f"t2p_R@{k}": v for k, v in self.text_to_pose.items()}
        row.update({f"p2t_R@{k}": v for k, v in self.pose_to_text.items()})
        row["mRecall"] = self.mean_recall
        return row


def _ranks(similarity: torch.Tensor) -> torch.Tensor:
    """Rank (0 = best) of the diagonal element in each row of ``similarity (N, N)``; ties count
    against the true match (pessimistic), so constant embeddings score at chance, not 100 %."""
    diag = similarity.diagonal()[:, None]
    return (similarity >= diag).sum(1) - 1


def recall_at_k(text_emb: torch.Tensor, pose_emb: torch.Tensor, ks=(1, 5, 10), protocol: str = "full",
                pool_size: int = 32, repeats: int = 10, generator: torch.Generator | None = None) -> RetrievalScores:
    """Retrieval recall of matching pairs ``(text_emb[i], pose_emb[i])``, embeddings ``(N, D)``
    (cosine similarity). ``protocol`` is ``"full"`` or ``"pool"``."""
    if text_emb.shape != pose_emb.shape or text_emb.dim() != 2:
        raise ValueError(f"need text and pose embeddings of the same shape (N, D), got {tuple(text_emb.shape)} "
                         f"and {tuple(pose_emb.shape)}")
    t = torch.nn.functional.normalize(text_emb.float(), dim=-1)
    p = torch.nn.functional.normalize(pose_emb.float(), dim=-1)
    n = t.shape[0]
    if protocol == "full":
        sim = t @ p.T
        t2p, p2t = _ranks(sim)[None], _ranks(sim.T)[None]
    elif protocol == "pool":
        if n < pool_size:
            raise ValueError(f"pool protocol needs at least pool_size={pool_size} pairs, got {n}")
        generator = generator or torch.Generator().manual_seed(0)
        t2p_all, p2t_all = [], []
        for _ in range(repeats):
            # Each query is ranked against itself plus pool_size - 1 random distractors.
            others = torch.stack([torch.randperm(n - 1, generator=generator)[: pool_size - 1] for _ in range(n)])
            others = others + (others >= torch.arange(n)[:, None]).long()  # skip the query itself
            cand = torch.cat([torch.arange(n)[:, None], others], 1)  # (N, pool), true match first
            s_tp = (t[:, None] * p[cand]).sum(-1)  # (N, pool)
            s_pt = (p[:, None] * t[cand]).sum(-1)
            t2p_all.append((s_tp[:, 1:] >= s_tp[:, :1]).sum(1))
            p2t_all.append((s_pt[:, 1:] >= s_pt[:, :1]).sum(1))
        t2p, p2t = torch.stack(t2p_all), torch.stack(p2t_all)
    else:
        raise ValueError(f"protocol must be 'full' or 'pool', got {protocol!r}")
    name = "full" if protocol == "full" else f"pool of {pool_size}"
    return RetrievalScores(name, {k: float((t2p < k).float().mean() * 100) for k in ks},
                           {k: float((p2t < k).float().mean() * 100) for k in ks})


@dataclasses.dataclass(frozen=True)
class PosecodeScores:
    precision: torch.Tensor
    """``(B,)`` share of the predicted pose's posecodes that the target has too."""
    recall: torch.Tensor
    """``(B,)`` share of the target's posecodes that the prediction has."""
    f1: torch.Tensor


def posecode_agreement(pred_joints: torch.Tensor, target_joints: torch.Tensor, pred_rotmats: torch.Tensor | None = None,
                       target_rotmats: torch.Tensor | None = None) -> PosecodeScores:
    """Deterministic posecodes (non-ignored ``(posecode, category)`` pairs) of prediction vs target,
    joints ``(B, 24, 3)`` (and optional local rotations ``(B, 24, 3, 3)`` for the head codes)."""

    pred = compute_posecodes(pred_joints, pred_rotmats)
    target = compute_posecodes(target_joints, target_rotmats)
    ignored = torch.tensor([s.categories.index(IGNORED) if IGNORED in s.categories else -1 for s in POSECODES])
    is_super = torch.tensor([s.kind == "super" for s in POSECODES])
    # Super-posecodes count when they hold ("yes"), other posecodes when they are not ignored.
    pred_on = torch.where(is_super, pred.categories == 1, pred.categories != ignored)
    target_on = torch.where(is_super, target.categories == 1, target.categories != ignored)
    both = pred_on & target_on & (pred.categories == target.categories)
    precision = both.sum(1) / pred_on.sum(1).clamp_min(1)
    recall = both.sum(1) / target_on.sum(1).clamp_min(1)
    f1 = 2 * precision * recall / (precision + recall).clamp_min(1e-9)
    return PosecodeScores(precision.float(), recall.float(), f1.float())


@dataclasses.dataclass(frozen=True)
class Difference:
    """Mean of ``a - b`` over paired samples with its bootstrap confidence interval."""

    mean: float
    low: float
    high: float
    level: float
    samples: int

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval lies on one side of zero."""
        return self.low > 0 or self.high < 0

    def __str__(self) -> str:
        return f"{self.mean:+.1f} [{self.low:+.1f}, {self.high:+.1f}]"


def paired_bootstrap(a: torch.Tensor, b: torch.Tensor, resamples: int = 2000, level: float = 0.95,
                     seed: int = 0) -> Difference:
    """Mean of ``a - b`` (per-sample scores ``(N,)`` of two models on the same N records) and its
    percentile-bootstrap interval: records are resampled with replacement ``resamples`` times."""
    a, b = torch.as_tensor(a, dtype=torch.float64).flatten(), torch.as_tensor(b, dtype=torch.float64).flatten()
    if a.shape != b.shape or len(a) == 0:
        raise ValueError(f"paired_bootstrap needs two equally long, non-empty score vectors, got {len(a)} and {len(b)}")
    if not 0 < level < 1 or resamples < 1:
        raise ValueError(f"need 0 < level < 1 and resamples >= 1, got {level}, {resamples}")
    diff = a - b
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(diff), (resamples, len(diff)), generator=gen)
    means = diff[idx].mean(1)
    tail = (1 - level) / 2
    low, high = torch.quantile(means, torch.tensor([tail, 1 - tail], dtype=torch.float64)).tolist()
    return Difference(float(diff.mean()), low, high, level, len(diff))
