"""Shared test helpers: hand-built poses with known configurations (posecode / captioner tests) and crafted files (loader tests)."""
import torch

from posekit.body.parameters import pose_from_degrees

ARMS_DOWN = {"left_shoulder": (0, 0, -75), "right_shoulder": (0, 0, 75)}
POSES = {
    "rest": {},
    "arms down": ARMS_DOWN,
    "left elbow right angle": {**ARMS_DOWN, "left_elbow": (0, -90, 0)},
    "right hand up": {"left_shoulder": (0, 0, -75), "right_shoulder": (0, 0, -80)},
    "both hands up": {"left_shoulder": (0, 0, 80), "right_shoulder": (0, 0, -80)},
    "left arm up": {"left_shoulder": (0, 0, 80), "right_shoulder": (0, 0, 75)},
    "kneeling": {**ARMS_DOWN, "left_knee": (90, 0, 0), "right_knee": (90, 0, 0), "left_ankle": (30, 0, 0),
                 "right_ankle": (30, 0, 0)},
    "leaning forward": {**ARMS_DOWN, "spine1": (20, 0, 0), "spine2": (20, 0, 0), "spine3": (10, 0, 0)},
    "lying on the back": {**ARMS_DOWN, "pelvis": (-90, 0, 0)},
    "sitting": {**ARMS_DOWN, "left_hip": (-90, 0, 0), "right_hip": (-90, 0, 0), "left_knee": (90, 0, 0),
                "right_knee": (90, 0, 0)},
    "head turned left": {**ARMS_DOWN, "neck": (0, 20, 0), "head": (0, 25, 0)},
    "right knee raised": {**ARMS_DOWN, "right_hip": (-90, 0, 0), "right_knee": (90, 0, 0)},
    "turned around": {**ARMS_DOWN, "pelvis": (0, 180, 0)},
    "headstand": {**ARMS_DOWN, "pelvis": (180, 0, 0)},
    "bent over upside down": {**ARMS_DOWN, "pelvis": (150, 0, 0)},
    "lying on the left side": {**ARMS_DOWN, "pelvis": (0, 0, -90)},
    "lying on the right side": {**ARMS_DOWN, "pelvis": (0, 0, 90)},
}


def posed(body, names, dtype=torch.float32):
    """Joints (B, 24, 3) and local rotations (B, 24, 3, 3) of the named poses."""
    params = [pose_from_degrees(POSES[n], dtype=dtype) for n in names]
    out = body(torch.cat([p[0] for p in params]), torch.cat([p[1] for p in params]), joints_only=True)
    return out.joints, out.rotmats


class _RunsCode:
    """A pickle payload that would create a file when unpickled (what a crafted resume file does)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def crafted_torch_file(path, marker):
    """``path``: a torch save whose unpickling would create ``marker``."""
    import torch

    torch.save({"model": _RunsCode(marker)}, path)
    return path


def random_states(n: int, width: int, seed: int = 0, lengths: tuple[int, int] = (3, 9)):
    """Request states of ``n`` requests of random lengths in ``lengths`` (half-open), ``width`` wide,
    as :class:`posekit.encoders.state_cache.RequestStates` (layer 1 of a backbone named "tiny")."""
    from posekit.encoders.state_cache import RequestStates

    gen = torch.Generator().manual_seed(seed)
    counts = torch.randint(*lengths, (n,), generator=gen)
    flat = torch.randn(int(counts.sum()), width, generator=gen).half()
    return RequestStates(flat, torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)]), 1, "tiny")
