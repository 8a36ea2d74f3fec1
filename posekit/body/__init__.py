"""The body: SMPL's skeleton, rotations and pose parameters, linear blend skinning, the body model
(posekit's open body or real SMPL / SMPL-H / SMPL-X files), the open body's builder, plausibility
checks and the headless renderer.

    from posekit.body import load_body_model
"""
from posekit.body.model import MODEL_FILES, BodyModel, BodyOutput, load_body_model, read_model_file, resolve_body_file

__all__ = ["BodyModel", "BodyOutput", "load_body_model", "resolve_body_file", "read_model_file", "MODEL_FILES"]
