"""posekit: a notebook workbench for language models that understand 3D human pose.

Shape vocabulary used in every docstring:

- ``B`` batch, ``J`` joints (24 for SMPL, :data:`posekit.body.skeleton.NUM_JOINTS`),
  ``V`` vertices, ``F`` faces, ``S`` shape components (betas), ``T`` tokens, ``D`` features.
- Rotations: ``rotvec (..., 3)`` axis-angle, ``rotmat (..., 3, 3)``, ``rot6d (..., 6)``
  (first two columns of the matrix, HMR2 / ChatPose layout); see :mod:`posekit.body.rotations`.
- Poses: ``global_orient (B, 3)`` + ``body_pose (B, 23, 3)`` axis-angle (or the matrix / 6D
  forms), ``betas (B, S)``, ``transl (B, 3)``; see :mod:`posekit.body.parameters`.
- Coordinates: metres, SMPL axes (y up, the body facing +z, its left at +x).

Importing posekit has no side effects: models are loaded when asked for.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("posekit")
except PackageNotFoundError:  # pragma: no cover - source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
