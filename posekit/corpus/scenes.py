"""Rendered scenes for image-based tasks: one person (image -> pose) or several (reasoning-based
pose estimation, RPE), with the queries that single out one person.

A person gets a pose, a body shape (betas), a clothing colour from :data:`COLORS`, a
heading and a place on the floor; the camera frames everyone. Target poses of image tasks
are expressed in the **camera frame** (x right, y up, z towards the camera, as SMPL's own
frame when the person faces the camera), so that "the person is facing away" is learnable.

An RPE query is built from attributes that are unique in its scene by construction (the
action, the clothing colour, being the tallest / shortest, being leftmost / rightmost, or
the situation one person's action fits); :func:`resolve_query` re-checks any query against
the scene and returns every person it matches.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import roma
import torch

from posekit.body.render import Camera, Light, RenderResult, look_at, make_background, render

__all__ = ["COLORS", "Person", "Scene", "Query", "place_people", "frame_camera", "render_scene", "build_scene",
           "camera_frame_pose", "make_queries", "resolve_query", "BACKGROUNDS"]

COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.80, 0.12, 0.10), "blue": (0.12, 0.28, 0.80), "green": (0.15, 0.58, 0.22), "yellow": (0.92, 0.80, 0.12),
    "purple": (0.50, 0.22, 0.65), "orange": (0.95, 0.50, 0.08), "white": (0.93, 0.93, 0.93), "black": (0.13, 0.13, 0.14),
}
"""Clothing colours (stand-ins for clothing) and the names queries use for them."""
BACKGROUNDS = ("solid", "gradient", "noise", "floor")


@dataclasses.dataclass(frozen=True)
class Person:
    """One person placed in a scene."""

    pose: torch.Tensor
    """``(24, 3)`` axis-angle in world coordinates (heading included)."""
    betas: torch.Tensor
    """``(10,)`` shape."""
    color: str
    source: str
    """Canonical pose the pose comes from."""
    category: str
    who: str
    """Action phrase, e.g. ``"is waving with one hand"``."""
    height: float
    """Standing height of this body shape (m), the rest-pose height."""
    position: tuple[float, float]
    """(x, z) on the floor."""


@dataclasses.dataclass(frozen=True)
class Scene:
    people: tuple[Person, ...]
    vertices: torch.Tensor
    """``(P, V, 3)`` world vertices (floor at y = 0)."""
    joints: torch.Tensor
    """``(P, 24, 3)`` world joints."""
    camera: Camera
    light: Light
    background: torch.Tensor
    faces: torch.Tensor
    """``(F, 3)`` triangles shared by every body."""


@dataclasses.dataclass(frozen=True)
class Query:
    """A phrase that points at one person, and the attributes it uses."""

    text: str
    kind: str
    """``action``, ``situation``, ``color``, ``height``, ``position`` or ``color+action``."""
    target: int
    attributes: dict


def _turn(pose: torch.Tensor, yaw_deg: torch.Tensor) -> torch.Tensor:
    """Rotate global orientations ``pose (P, 24, 3)`` about the vertical by ``yaw_deg (P,)``."""
    angle = torch.deg2rad(yaw_deg)
    turn = roma.rotvec_to_rotmat(torch.stack([torch.zeros_like(angle), angle, torch.zeros_like(angle)], -1))
    out = pose.clone()
    out[:, 0] = roma.rotmat_to_rotvec(turn @ roma.rotvec_to_rotmat(pose[:, 0]))
    return out


def place_people(body, poses: torch.Tensor, betas: torch.Tensor, yaw_deg: torch.Tensor,
                 positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pose, turn and place bodies on the floor (lowest vertex at y = 0).

    Args: poses ``(P, 24, 3)``, betas ``(P, 10)``, yaw_deg ``(P,)``, positions ``(P, 2)`` (x, z).
    Returns: world poses ``(P, 24, 3)``, vertices ``(P, V, 3)``, joints ``(P, 24, 3)``, rest heights ``(P,)``.
    """
    world = _turn(poses, yaw_deg)
    with torch.no_grad():
        out = body(world[:, 0], world[:, 1:], betas)
        rest = body(betas=betas).vertices
    lift = -out.vertices[..., 1].amin(1)  # (P,)
    shift = torch.stack([positions[:, 0], lift, positions[:, 1]], -1)[:, None]  # (P, 1, 3)
    heights = rest[..., 1].amax(1) - rest[..., 1].amin(1)
    return world, out.vertices + shift, out.joints + shift, heights


def frame_camera(vertices: torch.Tensor, size: int, azimuth_deg: float, elevation_deg: float, fov_deg: float,
                 margin: float = 1.15) -> Camera:
    """A camera that frames every vertex ``(P, V, 3)`` (bounding sphere of the scene)."""
    pts = vertices.reshape(-1, 3)
    center = (pts.amax(0) + pts.amin(0)) / 2
    radius = float((pts - center).norm(dim=-1).amax())
    distance = margin * radius / math.sin(math.radians(fov_deg) / 2)
    return look_at(center, distance, azimuth_deg, elevation_deg, fov_deg, size, size)


def render_scene(scene: Scene) -> RenderResult:
    return render(list(scene.vertices), scene.faces, scene.camera, [COLORS[p.color] for p in scene.people],
                  joints=list(scene.joints), light=scene.light, background=scene.background)


def build_scene(body, poses: torch.Tensor, sources: list[str], categories: list[str], whos: list[str],
                rng: np.random.Generator, size: int = 224, spacing: float = 1.0, shape_std: float = 0.9,
                colors: list[str] | None = None) -> Scene:
    """Random shapes, colours, headings, places, camera, light and background for ``poses (P, 24, 3)``."""
    count = poses.shape[0]
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    betas = torch.randn(count, 10, generator=gen) * shape_std
    betas[:, 2:] *= 0.5
    if count == 1:
        yaw = torch.tensor([float(rng.uniform(-180, 180))])
        positions = torch.zeros(1, 2)
    else:
        yaw = torch.tensor(rng.uniform(-60, 60, count), dtype=torch.float32)
        xs = (np.arange(count) - (count - 1) / 2) * spacing + rng.uniform(-0.1, 0.1, count)
        zs = rng.uniform(-0.4, 0.4, count)
        positions = torch.tensor(np.stack([xs, zs], 1), dtype=torch.float32)
    world, verts, joints, heights = place_people(body, poses, betas, yaw, positions)
    names = colors or list(rng.choice(list(COLORS), size=count, replace=False))
    people = tuple(Person(world[k], betas[k], str(names[k]), sources[k], categories[k], whos[k], float(heights[k]),
                          (float(positions[k, 0]), float(positions[k, 1]))) for k in range(count))
    azimuth = float(rng.uniform(-25, 25)) if count > 1 else float(rng.uniform(-10, 10))
    camera = frame_camera(verts, size, azimuth, float(rng.uniform(0, 15)), float(rng.uniform(40, 55)))
    light = Light(direction=(float(rng.uniform(-0.8, 0.8)), float(rng.uniform(-1.0, -0.4)), float(rng.uniform(-1.0, -0.3))),
                  ambient=float(rng.uniform(0.25, 0.45)), diffuse=float(rng.uniform(0.55, 0.8)))
    background = make_background(str(rng.choice(BACKGROUNDS)), size, size, gen)
    return Scene(people, verts, joints, camera, light, background, body.faces)


def camera_frame_pose(pose: torch.Tensor, camera: Camera) -> torch.Tensor:
    """World pose ``(..., 24, 3)`` -> the same pose with its global orientation in the y-up camera
    frame (x right, y up, z towards the camera): identity for an upright person facing the camera."""
    flip = torch.diag(torch.tensor([1.0, -1.0, -1.0]))
    view = flip @ camera.rotation  # world -> y-up camera frame
    out = pose.clone()
    out[..., 0, :] = roma.rotmat_to_rotvec(view @ roma.rotvec_to_rotmat(pose[..., 0, :]))
    return out


def _screen_x(scene: Scene) -> list[float]:
    uv, _ = scene.camera.project(scene.joints[:, 0])  # pelvis of each person
    return uv[:, 0].tolist()


def resolve_query(scene: Scene, attributes: dict) -> list[int]:
    """Every person of ``scene`` that matches all ``attributes`` (keys: action, situation_source,
    color, height in {tallest, shortest}, position in {leftmost, rightmost})."""
    people = scene.people
    match = set(range(len(people)))
    if "action" in attributes:
        match &= {k for k, p in enumerate(people) if p.who == attributes["action"]}
    if "situation_source" in attributes:
        match &= {k for k, p in enumerate(people) if p.source == attributes["situation_source"]}
    if "color" in attributes:
        match &= {k for k, p in enumerate(people) if p.color == attributes["color"]}
    if "height" in attributes:
        heights = [p.height for p in people]
        best = max(heights) if attributes["height"] == "tallest" else min(heights)
        match &= {k for k, h in enumerate(heights) if abs(h - best) < 1e-6}
    if "position" in attributes:
        xs = _screen_x(scene)
        best = min(xs) if attributes["position"] == "leftmost" else max(xs)
        match &= {k for k, x in enumerate(xs) if abs(x - best) < 1e-6}
    return sorted(match)


def make_queries(scene: Scene, target: int, situations: list[str], rng: np.random.Generator,
                 min_height_gap: float = 0.05, min_screen_gap: float = 20.0) -> list[Query]:
    """Every query kind that singles out person ``target`` in ``scene``.

    ``situations`` are implicit descriptions of the target's canonical pose (SPG data);
    situation queries are only made when every person comes from a different canonical pose
    category, so that the situation fits one person only.
    """
    person, people = scene.people[target], scene.people
    out: list[Query] = []

    def add(kind: str, text: str, attributes: dict) -> None:
        if resolve_query(scene, attributes) == [target]:
            out.append(Query(text, kind, target, attributes))

    if person.who and sum(p.who == person.who for p in people) == 1:  # (poses read from AMASS have no action)
        add("action", f"the person who {person.who}", {"action": person.who})
    if situations and len({p.category for p in people}) == len(people):
        situation = str(rng.choice(situations)).rstrip(".?!")
        situation = situation[0].lower() + situation[1:]
        add("situation", f"the person who best fits this situation: {situation}", {"situation_source": person.source})
    add("color", f"the person in {person.color}", {"color": person.color})
    if person.who:
        add("color+action", f"the one in {person.color} who {person.who}", {"color": person.color, "action": person.who})
    if len(people) < 2:  # one person (a small corpus): nobody to be taller than or left of
        return out
    heights = sorted(p.height for p in people)
    if person.height == heights[-1] and heights[-1] - heights[-2] >= min_height_gap:
        add("height", "the tallest person", {"height": "tallest"})
    if person.height == heights[0] and heights[1] - heights[0] >= min_height_gap:
        add("height", "the shortest person", {"height": "shortest"})
    xs = sorted(_screen_x(scene))
    mine = _screen_x(scene)[target]
    if mine == xs[0] and xs[1] - xs[0] >= min_screen_gap:
        add("position", "the person on the far left of the image", {"position": "leftmost"})
    if mine == xs[-1] and xs[-1] - xs[-2] >= min_screen_gap:
        add("position", "the person on the far right of the image", {"position": "rightmost"})
    return out
