"""Requests in the words people use: hand-written ways to ask for every canonical pose
(``data/requests/plain.json``: "hands on hips", "can you make him stand akimbo?") and the
situations that call for it (``data/spg/descriptions.json``: its five ``descriptions``, which
the dataset's spg task uses, and its further ``situations``, which only training augmentation
and the label look-up read, so that the built dataset and its test splits stay as they were).

- :func:`load_plain_requests`, :func:`pose_labels`: the data, checked;
- :func:`plain_records`: training records built from them (the request typed as is, no
  template), the canonical pose and variants of it as targets (a variant stays in its pose's
  category: the sampler perturbs the canonical pose within its plausibility limits).
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import torch

from posekit.datasets.records import POSE_ANSWERS, POSE_TOKEN, Record, system_turn
from posekit.datasets.tasks import load_spg_descriptions
from posekit.paths import data_dir, resolve_file

__all__ = ["load_plain_requests", "pose_situations", "pose_labels", "plain_records", "source_pools", "PLAIN_KINDS", "PARTS",
           "HELD_SHARE", "held_out",
           "train_descriptions",
           "normalise_request"]

PLAIN_KINDS = ("plain", "situation")
"""What :func:`plain_records` builds: requests that name the pose, situations that call for it."""


def normalise_request(text: str) -> str:
    """Lower case, letters and digits only, single spaces: how two requests are compared for
    being the same request."""
    return " ".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def load_plain_requests(path: str | Path | None = None) -> dict[str, list[str]]:
    """``{canonical pose: [plain request, ...]}`` (``data/requests/plain.json``), at least 12 per
    pose; raises ``ValueError`` naming a pose with fewer or an empty request."""
    file = resolve_file("plain.json", path=path, defaults=(data_dir() / "requests",), what="plain requests")
    raw = {k: v for k, v in json.loads(Path(file).read_text()).items() if not k.startswith("_")}
    for pose, requests in raw.items():
        if not isinstance(requests, list) or len(requests) < 12 or not all(isinstance(r, str) and r.strip() for r in requests):
            raise ValueError(f"{file}: pose {pose!r} needs a list of at least 12 non-empty requests")
    return raw


def pose_situations() -> dict[str, list[str]]:
    """``{canonical pose: [situation, ...]}``: the spg ``descriptions`` and the further
    ``situations`` of ``data/spg/descriptions.json``, together."""
    return {pose: list(entry["descriptions"]) + list(entry.get("situations", []))
            for pose, entry in load_spg_descriptions().items()}


def pose_labels(poses: list[str] | None = None, plain: bool = False,
                descriptions: set[str] | None = None) -> list[tuple[str, str]]:
    """``[(label, canonical pose), ...]``: each pose's name, its "who" phrase ("someone who ..."),
    its situations and, with ``plain``, its plain requests (every pose when ``poses`` is None).
    ``descriptions``: keep only these of the spg task's descriptions (the others held out for
    test); the further situations, which no dataset split uses, stay."""
    spg = load_spg_descriptions()
    requests = load_plain_requests() if plain else {}
    names = list(spg) if poses is None else list(poses)
    unknown = [n for n in names if n not in spg]
    if unknown:
        raise KeyError(f"no labels for poses {unknown}: not in data/spg/descriptions.json")
    out = []
    for name in names:
        out += [(name, name), (f"someone who {spg[name]['who']}", name)]
        entry = spg[name]
        kept = [t for t in entry["descriptions"] if descriptions is None or t in descriptions]
        out += [(text, name) for text in kept + list(entry.get("situations", []))]
        out += [(text, name) for text in requests.get(name, [])]
    return out


def train_descriptions(records: list[Record]) -> set[str] | None:
    """The spg descriptions that ``records`` (a training split) use, so that labels for an
    evaluated model leave out the descriptions the dataset holds out for test; None when the
    records have no spg record (every description is then allowed)."""
    seen = {r.meta["description"] for r in records if r.task == "spg" and "description" in r.meta}
    return seen or None


PARTS = ("all", "kept", "held")
"""Which of each pose's texts :func:`plain_records` uses: all, or one of two seeded parts (the
held part, :data:`HELD_SHARE` of each pose's requests and of its situations, validates a model
on wordings it never trained on)."""
HELD_SHARE = 0.2


def held_out(texts: list[str], pose: str, seed: int = 0) -> set[str]:
    """The :data:`HELD_SHARE` of ``texts`` (at least one) held out for validation, drawn per pose
    from ``seed`` (the same texts for every run with that seed)."""
    rng = np.random.default_rng([seed, zlib.crc32(pose.encode())])
    count = max(1, int(round(HELD_SHARE * len(texts))))
    return {texts[i] for i in rng.choice(len(texts), size=min(count, len(texts)), replace=False)}


def plain_records(pools: dict[str, list[list[list[float]]]], split: str, kinds: tuple[str, ...] = PLAIN_KINDS,
                  targets: int = 2, seed: int = 0, part: str = "all") -> list[Record]:
    """Training records for the canonical poses of ``pools`` (``{pose: [target pose (24 x 3
    axis-angle), ...]}``, the canonical pose first, then its variants): every plain request
    (``"plain"``) and situation (``"situation"``) of each, typed as is, each with ``targets``
    target poses (the canonical one, then variants drawn at random), all in ``split``.
    ``part``: :data:`PARTS` (``"kept"`` and ``"held"`` split each pose's texts by :func:`held_out`
    with ``seed``)."""
    unknown = set(kinds) - set(PLAIN_KINDS)
    if unknown or targets < 1 or part not in PARTS:
        raise ValueError(f"kinds must be among {PLAIN_KINDS}, targets >= 1 and part one of {PARTS}, got {kinds}, "
                         f"{targets}, {part!r}")
    rng = np.random.default_rng(seed)
    requests = load_plain_requests() if "plain" in kinds else {}
    situations = pose_situations() if "situation" in kinds else {}
    out = []
    for pose, pool in pools.items():
        texts = []
        for kind, items in (("plain", requests.get(pose, [])), ("situation", situations.get(pose, []))):
            held = held_out(items, pose, seed) if part != "all" and items else set()
            texts += [(kind, t) for t in items if part == "all" or (t in held) == (part == "held")]
        for kind, text in texts:
            picks = [0] + (rng.choice(np.arange(1, len(pool)), size=min(targets - 1, len(pool) - 1), replace=False).tolist()
                           if len(pool) > 1 else [])
            for k in picks:
                answer = POSE_ANSWERS[int(rng.integers(len(POSE_ANSWERS)))].format(pose=POSE_TOKEN)
                task = "text2pose" if kind == "plain" else "spg"
                meta_key = "instruction" if kind == "plain" else "description"
                out.append(Record(id=f"{kind}-{split}-{len(out):06d}", task=task, split=split,
                                  messages=[system_turn(), {"role": "user", "content": text},
                                            {"role": "assistant", "content": answer}],
                                  target_poses=[pool[k]], meta={"source": pose, meta_key: text, "plain": kind}))
    return out


def source_pools(records: list[Record], canonical: dict[str, torch.Tensor], keep: float = 0.5) -> dict[str, list]:
    """``{canonical pose: [its pose, then the nearest variants]}`` for :func:`plain_records`: each
    source of ``records``' single-pose targets, its canonical pose (``canonical``: name -> ``(24,
    3)``, unmirrored) first, then the ``keep`` share of its perturbed variants nearest to it (a
    mirrored variant of a one-sided pose lies far from it and is left out: "wave with your right
    hand" must not be answered with the left)."""
    found: dict[str, list] = {}
    for r in records:
        source = r.meta.get("source")
        if source in canonical and r.meta.get("kind") == "perturbed" and len(r.target_poses) == 1:
            found.setdefault(source, []).append(r.target_poses[0])
    out = {}
    for source in dict.fromkeys(r.meta.get("source") for r in records):
        if source not in canonical:
            continue
        base = canonical[source].reshape(24, 3)
        variants = list({np.asarray(p, dtype=np.float32).tobytes(): p for p in found.get(source, [])}.values())
        if variants:
            gap = (torch.tensor(variants, dtype=torch.float32)[:, 1:22] - base[1:22]).norm(dim=-1).mean(-1)
            order = gap.argsort()[:int(round(keep * len(variants)))].tolist()
            variants = [variants[i] for i in order]
        out[source] = [base.tolist()] + variants
    return out
