"""Body models in SMPL's model-file layout: posekit's open body, and real SMPL / SMPL-H / SMPL-X.

Every model is driven by the same 24-joint SMPL pose (see :mod:`posekit.body.parameters`):
``global_orient (B, 3)`` + ``body_pose (B, 23, 3)`` axis-angle, or rotation matrices, or
6D; ``betas (B, S)``; ``transl (B, 3)``. Outputs are ``vertices (B, V, 3)``,
``joints (B, 24, 3)`` and ``faces (F, 3)``.

Where files are looked for (:func:`resolve_body_file`): the ``path`` argument, else
``$POSEKIT_BODY_MODELS``, else ``<repo>/data/body_models`` and ``~/.cache/posekit/body_models``.
A folder is searched for ``<type>/<FILE>`` and ``<FILE>``, smplx-style.

Real SMPL-H / SMPL-X files have finger joints instead of SMPL's two hand joints: the
``left_hand`` / ``right_hand`` rotations are applied to the four finger roots (index to
pinky) and the middle-finger root is reported as the hand joint.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import nn

from posekit.body.lbs import blend_shapes, forward_kinematics, pose_features, skin
from posekit.body.parameters import PoseFormatError, full_pose_rotmats
from posekit.body.skeleton import NUM_BETAS, NUM_JOINTS, PARENTS
from posekit.files import read_npz
from posekit.paths import cache_dir, data_dir, resolve_file

__all__ = ["BodyModel", "BodyOutput", "load_body_model", "resolve_body_file", "read_model_file", "MODEL_FILES"]

MODEL_FILES: dict[str, tuple[str, ...]] = {
    "posekit": ("POSEKIT_{G}.npz",),
    "smpl": ("SMPL_{G}.npz", "SMPL_{G}.pkl", "basicmodel_{g}_lbs_10_207_0_v1.1.0.pkl",
             "basicModel_{g}_lbs_10_207_0_v1.0.0.pkl"),
    "smplh": ("SMPLH_{G}.npz", "SMPLH_{G}.pkl", "model.npz"),
    "smplx": ("SMPLX_{G}.npz", "SMPLX_{G}.pkl"),
}
"""Accepted file names per model type (``{G}`` = NEUTRAL/MALE/FEMALE, ``{g}`` = neutral/m/f)."""

_GENDER_SHORT = {"neutral": "neutral", "male": "m", "female": "f"}
# Finger roots (index1, middle1, pinky1, ring1) per side, and the middle-finger root.
_HAND_LAYOUT = {
    "smplh": {"left": (22, 25, 28, 31), "right": (37, 40, 43, 46), "num_joints": 52},
    "smplx": {"left": (25, 28, 31, 34), "right": (40, 43, 46, 49), "num_joints": 55},
}


@dataclasses.dataclass(frozen=True)
class BodyOutput:
    """Result of a body forward pass."""

    joints: torch.Tensor
    """``(B, 24, 3)`` SMPL joints in world coordinates."""
    vertices: torch.Tensor | None
    """``(B, V, 3)`` mesh vertices, None on the joints-only path."""
    faces: torch.Tensor
    """``(F, 3)`` triangle vertex indices (int64)."""
    rotmats: torch.Tensor
    """``(B, 24, 3, 3)`` local joint rotations that were applied."""


def resolve_body_file(model_type: str = "posekit", gender: str = "neutral", path: str | os.PathLike | None = None) -> Path:
    """Find the model file of ``model_type`` and ``gender``; raises FileNotFoundError listing where it looked."""
    if model_type not in MODEL_FILES:
        raise ValueError(f"model_type must be one of {sorted(MODEL_FILES)}, got {model_type!r}")
    if gender not in _GENDER_SHORT:
        raise ValueError(f"gender must be one of {sorted(_GENDER_SHORT)}, got {gender!r}")
    names = [n.format(G=gender.upper(), g=_GENDER_SHORT[gender]) for n in MODEL_FILES[model_type]]
    hint = (
        "posekit's open body ships in data/body_models/posekit/; rebuild it with `posekit build-body`."
        if model_type == "posekit" else
        f"{model_type.upper()} files are licence-gated: download them yourself, then pass path=... or set "
        "POSEKIT_BODY_MODELS to the folder that holds them."
    )
    return resolve_file(names, path=path, env_var="POSEKIT_BODY_MODELS",
                        defaults=(data_dir() / "body_models", cache_dir() / "body_models"),
                        subdirs=(model_type, ""), what=f"{model_type} model file ({gender})", hint=hint)


def read_model_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read an SMPL-family model file (``.npz`` or ``.pkl``) into plain numpy arrays.

    ``.npz`` files are never unpickled. ``.pkl`` files (the official SMPL downloads, which hold
    chumpy objects) are Python pickles and can run code when loaded: posekit reads one only
    from a path the user names as a body model (``load_body_model(path=...)`` or
    ``POSEKIT_BODY_MODELS``), never from a dataset."""
    path = Path(path)
    if path.suffix == ".npz":
        return read_npz(path, "body model file")
    if path.suffix == ".pkl":  # official SMPL files: a pickle (with chumpy objects) the user named as a body model
        try:
            with open(path, "rb") as fh:
                raw = pickle.load(fh, encoding="latin1")
        except ModuleNotFoundError as err:
            raise ModuleNotFoundError(
                f"{path} pickles objects of the missing module {err.name!r} (official SMPL .pkl files use "
                "chumpy). Install it (pip install chumpy) or convert the file to .npz once with numpy."
            ) from err
        out = {}
        for key, value in raw.items():
            if hasattr(value, "toarray"):  # scipy sparse J_regressor
                value = value.toarray()
            elif hasattr(value, "r"):  # chumpy array
                value = value.r
            if isinstance(value, (np.ndarray, list, tuple, float, int)):
                out[key] = np.asarray(value)
        return out
    raise ValueError(f"unsupported model file {path}: expected a .npz or .pkl file")


_REQUIRED = ("v_template", "shapedirs", "posedirs", "J_regressor", "kintree_table", "weights", "f")


def _check_shapes(data: dict, v_template: np.ndarray, shapedirs: np.ndarray, joints: int, source: str) -> None:
    """Refuse a model file whose arrays disagree on the vertex or joint count (one line naming the
    array, its shape and the shape expected), before any of them is used."""
    if v_template.ndim != 2 or v_template.shape[1] != 3:
        raise ValueError(f"{source}: v_template must be (V, 3), got {v_template.shape}: the file is damaged")
    verts = v_template.shape[0]
    expected = {"shapedirs": ((verts, 3, None), shapedirs.shape), "J_regressor": ((joints, verts), np.shape(data["J_regressor"])),
                "weights": ((verts, joints), np.shape(data["weights"])), "posedirs": ((verts, 3, None), np.shape(data["posedirs"]))}
    for name, (want, got) in expected.items():
        if len(got) != len(want) or any(w is not None and w != g for w, g in zip(want, got)):
            shown = tuple("*" if w is None else w for w in want)
            raise ValueError(f"{source}: {name} has shape {tuple(got)} but the template has {verts} vertices and the "
                             f"kinematic tree {joints} joints, so it must be {shown}: the arrays come from different "
                             "models or the file is damaged; use the original file")
    faces = np.asarray(data["f"])
    if faces.ndim != 2 or faces.shape[1] != 3 or (faces.size and (faces.min() < 0 or faces.max() >= verts)):
        raise ValueError(f"{source}: f must be (F, 3) vertex indices below {verts}; the file is damaged")


class BodyModel(nn.Module):
    """An SMPL-family body model driven by SMPL's 24-joint pose.

    Build it with :func:`load_body_model` (or :meth:`from_file` / :meth:`from_dict`). The
    device and dtype follow the module's buffers: ``model.to("cuda", torch.float64)``.
    """

    def __init__(self, data: dict[str, np.ndarray], model_type: str = "posekit", num_betas: int = NUM_BETAS,
                 dtype: torch.dtype = torch.float32, source: str = "<dict>"):
        super().__init__()
        missing = [k for k in _REQUIRED if k not in data]
        if missing:
            raise ValueError(f"{source} lacks SMPL model-file keys {missing}; expected {list(_REQUIRED)}")
        self.model_type, self.source = model_type, source
        self.meta = json.loads(str(data["posekit_meta"])) if "posekit_meta" in data else {}
        v_template = np.asarray(data["v_template"], dtype=np.float64)
        shapedirs = np.asarray(data["shapedirs"], dtype=np.float64)
        if num_betas > shapedirs.shape[-1]:
            raise ValueError(f"num_betas={num_betas} but {source} has {shapedirs.shape[-1]} shape components")
        parents = np.asarray(data["kintree_table"])[0].astype(np.int64)
        parents[0] = -1
        self.model_parents = tuple(int(p) for p in parents)
        num_model_joints = len(self.model_parents)
        layout = _HAND_LAYOUT.get(model_type)
        if layout is None and num_model_joints != NUM_JOINTS:
            raise ValueError(f"{source}: a {model_type} model needs {NUM_JOINTS} joints, the file has {num_model_joints}")
        if layout is not None and num_model_joints != layout["num_joints"]:
            raise ValueError(f"{source}: a {model_type} model needs {layout['num_joints']} joints, the file has {num_model_joints}")
        self.num_betas = num_betas
        _check_shapes(data, v_template, shapedirs, num_model_joints, source)

        def buf(name: str, value: np.ndarray, kind: torch.dtype = dtype) -> None:
            self.register_buffer(name, torch.as_tensor(np.ascontiguousarray(value), dtype=kind), persistent=False)

        j_regressor = np.asarray(data["J_regressor"], dtype=np.float64)
        shapedirs = shapedirs[..., :num_betas]
        buf("v_template", v_template)  # (V, 3)
        buf("shapedirs", shapedirs)  # (V, 3, S)
        buf("j_regressor", j_regressor)  # (J_model, V)
        buf("joint_template", j_regressor @ v_template)  # (J_model, 3)
        buf("joint_shapedirs", np.einsum("jv,vks->jks", j_regressor, shapedirs))  # (J_model, 3, S)
        posedirs = np.asarray(data["posedirs"], dtype=np.float64)
        self.has_pose_correctives = bool(np.abs(posedirs).max() > 0)
        # (P, 3V) as in SMPL; empty when the model has none (posekit's open body).
        buf("posedirs", posedirs.reshape(-1, posedirs.shape[-1]).T if self.has_pose_correctives else np.zeros((0, 0)))
        buf("lbs_weights", np.asarray(data["weights"], dtype=np.float64))  # (V, J_model)
        buf("faces", np.asarray(data["f"], dtype=np.int64), torch.int64)  # (F, 3)
        hand_joints = list(range(NUM_JOINTS))
        if layout is not None:
            hand_joints[22], hand_joints[23] = layout["left"][1], layout["right"][1]
        buf("output_joint_index", np.array(hand_joints), torch.int64)  # (24,)
        self._layout = layout

    # --- construction -----------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | os.PathLike, model_type: str = "posekit", **kwargs) -> "BodyModel":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"body model file {path} does not exist")
        arrays = read_model_file(path)
        bad = sorted(k for k in _REQUIRED if k in arrays and np.issubdtype(np.asarray(arrays[k]).dtype, np.number)
                     and not np.isfinite(np.asarray(arrays[k], dtype=np.float64)).all())
        if bad:
            raise ValueError(f"body model file {path} holds NaN or infinite values in {bad}: the file is damaged; "
                             "use the original file (posekit's open body: `posekit build-body` rebuilds it)")
        return cls(arrays, model_type=model_type, source=str(path), **kwargs)

    # --- properties -------------------------------------------------------------------
    @property
    def dtype(self) -> torch.dtype:
        return self.v_template.dtype

    @property
    def device(self) -> torch.device:
        return self.v_template.device

    @property
    def num_vertices(self) -> int:
        return self.v_template.shape[0]

    @property
    def parents(self) -> tuple[int, ...]:
        return PARENTS

    @property
    def vertex_ids(self) -> dict[str, int] | None:
        """Mesh landmarks for smplx's 21 extra keypoints (nose, eyes, ears, toes, heels,
        fingertips) on posekit's open body; pass as ``smplx.SMPL(..., vertex_ids=...)``.
        None for real SMPL files, where smplx's own defaults apply."""
        return self.meta.get("extra_vertex_ids")

    def rest_joints(self, betas: torch.Tensor | None = None) -> torch.Tensor:
        """Rest-pose SMPL joints ``(B, 24, 3)`` for ``betas (B, S)`` (``(1, 24, 3)`` when None)."""
        joints = self._model_rest_joints(self._betas(betas, 1 if betas is None else betas.shape[0]))
        return joints[:, self.output_joint_index]

    def __repr__(self) -> str:
        return (f"BodyModel(type={self.model_type!r}, vertices={self.num_vertices}, faces={self.faces.shape[0]}, "
                f"betas={self.num_betas}, pose_correctives={self.has_pose_correctives}, source={self.source!r})")

    # --- forward ----------------------------------------------------------------------
    def _betas(self, betas: torch.Tensor | None, batch: int) -> torch.Tensor:
        if betas is None:
            return torch.zeros(batch, self.num_betas, dtype=self.dtype, device=self.device)
        if not isinstance(betas, torch.Tensor) or betas.dim() != 2 or betas.shape[1] > self.num_betas:
            shape = tuple(betas.shape) if isinstance(betas, torch.Tensor) else type(betas).__name__
            raise PoseFormatError(f"betas must have shape (B, S) with S <= {self.num_betas}, got {shape}")
        if not betas.is_floating_point() or not torch.isfinite(betas).all():
            raise PoseFormatError(f"betas must be finite floating-point values (dtype {betas.dtype})")
        if betas.shape[0] != batch:
            raise PoseFormatError(f"betas has batch size {betas.shape[0]}, the pose has {batch}")
        betas = betas.to(self.dtype)
        if betas.shape[1] < self.num_betas:
            betas = torch.cat([betas, betas.new_zeros(batch, self.num_betas - betas.shape[1])], 1)
        return betas

    def _model_rest_joints(self, betas: torch.Tensor) -> torch.Tensor:
        return self.joint_template + torch.einsum("jks,bs->bjk", self.joint_shapedirs, betas)  # (B, J_model, 3)

    def _model_rotmats(self, rotmats: torch.Tensor) -> torch.Tensor:
        """SMPL's 24 rotations -> the model's own joints (hand rotation onto the finger roots)."""
        if self._layout is None:
            return rotmats
        batch = rotmats.shape[0]
        eye = torch.eye(3, dtype=rotmats.dtype, device=rotmats.device)
        out = eye.expand(batch, self._layout["num_joints"], 3, 3).clone()
        out[:, :22] = rotmats[:, :22]
        for side, smpl_joint in (("left", 22), ("right", 23)):
            out[:, list(self._layout[side])] = rotmats[:, smpl_joint, None]
        return out

    def forward(
        self,
        global_orient: torch.Tensor | None = None,
        body_pose: torch.Tensor | None = None,
        betas: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
        joints_only: bool = False,
        validate: bool = True,
    ) -> BodyOutput:
        """Pose the body.

        Args:
            global_orient: ``(B, 3)`` axis-angle, ``(B, 3, 3)`` or ``(B, 6)``; identity if None.
            body_pose: ``(B, 23, 3)`` axis-angle, ``(B, 23, 3, 3)`` or ``(B, 23, 6)``; rest pose if None.
            betas: ``(B, S)`` shape coefficients, ``S <= num_betas``; mean shape if None.
            transl: ``(B, 3)`` root translation; zero if None.
            joints_only: skip skinning (fast path for captioning and metrics).
            validate: check that the rotations are rotations (NaN/inf, non-orthonormal matrices,
                degenerate 6D raise ``PoseFormatError``); False on hot paths whose rotations are
                valid by construction (a network's Gram-Schmidt output in a training loss).
        """
        batch = None
        for t in (global_orient, body_pose, betas, transl):
            if isinstance(t, torch.Tensor) and t.dim() > 0:
                batch = t.shape[0]
                break
        rotmats = full_pose_rotmats(global_orient, body_pose, batch_size=batch if batch is not None else 1,
                                    dtype=self.dtype, device=self.device, validate=validate).to(self.dtype)  # (B, 24, 3, 3)
        batch = rotmats.shape[0]
        betas = self._betas(betas, batch)
        if transl is not None:
            if not isinstance(transl, torch.Tensor) or tuple(transl.shape) != (batch, 3):
                shape = tuple(transl.shape) if isinstance(transl, torch.Tensor) else type(transl).__name__
                raise PoseFormatError(f"transl must have shape ({batch}, 3), got {shape}")
            if not transl.is_floating_point() or not torch.isfinite(transl).all():
                raise PoseFormatError("transl must be finite floating-point values")
        model_rot = self._model_rotmats(rotmats)  # (B, J_model, 3, 3)
        rest = self._model_rest_joints(betas)  # (B, J_model, 3)
        joints, rel_rot, rel_trans = forward_kinematics(model_rot, rest, self.model_parents)
        vertices = None
        if not joints_only:
            shaped = self.v_template + blend_shapes(betas, self.shapedirs)  # (B, V, 3)
            if self.has_pose_correctives:
                shaped = shaped + (pose_features(model_rot) @ self.posedirs).reshape(batch, -1, 3)
            vertices = skin(shaped, self.lbs_weights, rel_rot, rel_trans)  # (B, V, 3)
        joints = joints[:, self.output_joint_index]  # (B, 24, 3)
        if transl is not None:
            shift = transl.to(self.dtype)[:, None]
            joints = joints + shift
            vertices = vertices + shift if vertices is not None else None
        return BodyOutput(joints=joints, vertices=vertices, faces=self.faces, rotmats=rotmats)


def load_body_model(model_type: str = "posekit", gender: str = "neutral", path: str | os.PathLike | None = None,
                    num_betas: int = NUM_BETAS, dtype: torch.dtype = torch.float32,
                    device: torch.device | str | None = None) -> BodyModel:
    """Load a body model through the resolver (see the module docstring for the search order).

    ``model_type="posekit"`` (the default) is the open body that ships with posekit;
    ``"smpl"``, ``"smplh"`` and ``"smplx"`` read your own licensed files.
    """
    file = resolve_body_file(model_type, gender, path)
    model = BodyModel.from_file(file, model_type=model_type, num_betas=num_betas, dtype=dtype)
    return model.to(device) if device is not None else model
