"""A small headless CPU renderer for body meshes: images, instance masks, exact 2D joints.

Why our own: pytorch3d has no wheel for this platform and its CPU rasteriser takes ~4 s
per frame of the 27k-triangle body; pyrender pins an OpenGL binding that fails headless
(see ../shared/FACTS.md). Body triangles project to about one to three pixels at the
image sizes posekit uses, so a vectorised torch rasteriser is fast: every triangle tests
the pixels of a small window around its bounding box (widened automatically for
close-ups), a z-buffer keeps the nearest fragment per pixel (``scatter_reduce`` with
``amin``), and flat Lambert shading colours it. Measured in ``bench/bench_render.py``.

Coordinates: world in metres (SMPL axes, y up); a :class:`Camera` looks from ``position``
at ``target``; image pixels ``(u, v)`` with ``u`` to the right and ``v`` down, pixel centres
at integer + 0.5. The projection of the 24 joints uses the same camera, so 2D annotations
are exact.
"""
from __future__ import annotations

import dataclasses
import math

import torch

__all__ = ["Camera", "Light", "RenderResult", "look_at", "rasterize", "render", "make_background", "thumbnails"]


@dataclasses.dataclass(frozen=True)
class Camera:
    """Pinhole camera: world -> camera rotation ``rotation (3, 3)`` and translation ``(3,)``
    (camera looks down +z, x right, y down), focal length in pixels, image size."""

    rotation: torch.Tensor
    translation: torch.Tensor
    focal: float
    width: int
    height: int

    def to_camera(self, points: torch.Tensor) -> torch.Tensor:
        """World points ``(..., 3)`` -> camera coordinates ``(..., 3)``."""
        return points @ self.rotation.T.to(points) + self.translation.to(points)

    def project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """World points ``(..., 3)`` -> pixels ``(..., 2)`` and depth ``(...)`` (metres along the view axis)."""
        cam = self.to_camera(points)
        depth = cam[..., 2]
        uv = cam[..., :2] / depth.clamp_min(1e-6)[..., None] * self.focal
        uv = uv + torch.tensor([self.width / 2, self.height / 2], dtype=points.dtype)
        return uv, depth


def look_at(target, distance: float, azimuth_deg: float = 0.0, elevation_deg: float = 10.0,
            fov_deg: float = 40.0, width: int = 224, height: int = 224) -> Camera:
    """A camera ``distance`` metres from ``target``, at ``azimuth`` about the vertical
    (0 = in front of a body facing +z, 90 = on its left) and ``elevation`` above the horizon."""
    target = torch.as_tensor(target, dtype=torch.float32)
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    offset = torch.tensor([math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)])
    position = target + distance * offset
    forward = (target - position) / (target - position).norm()  # camera +z
    right = torch.linalg.cross(forward, torch.tensor([0.0, 1.0, 0.0]))
    right = right / right.norm().clamp_min(1e-8)  # camera +x
    down = torch.linalg.cross(forward, right)  # camera +y (image rows grow downwards)
    rotation = torch.stack([right, down, forward])  # rows: camera axes in world coordinates
    focal = 0.5 * width / math.tan(math.radians(fov_deg) / 2)
    return Camera(rotation, -rotation @ position, focal, width, height)


@dataclasses.dataclass(frozen=True)
class Light:
    """A directional light (``direction`` points from the light towards the scene) plus ambient."""

    direction: tuple[float, float, float] = (-0.4, -0.8, -0.6)
    ambient: float = 0.35
    diffuse: float = 0.7


@dataclasses.dataclass(frozen=True)
class RenderResult:
    """One rendered image and its exact annotations."""

    image: torch.Tensor
    """``(H, W, 3)`` uint8 RGB."""
    instance: torch.Tensor
    """``(H, W)`` int64: index of the body seen at each pixel, -1 for background."""
    depth: torch.Tensor
    """``(H, W)`` float depth in metres (inf for background)."""
    joints_2d: torch.Tensor
    """``(P, 24, 2)`` pixel coordinates of every body's joints."""
    joints_depth: torch.Tensor
    """``(P, 24)`` depth of every joint."""
    camera: Camera


def _fragments(tri: torch.Tensor, z: torch.Tensor, lo: torch.Tensor, window: int, width: int, height: int):
    """Pixels covered by triangles ``tri (F, 3, 2)`` whose bounding boxes fit in ``window``:
    returns the triangle (row of ``tri``), flat pixel index and depth of every fragment."""
    offsets = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="xy"), -1).reshape(-1, 2)
    pix = lo[:, None, :] + offsets[None].to(lo)  # (F, K, 2) pixel corners
    centre = pix + 0.5
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]  # (F, 2)
    v0, v1 = b - a, c - a
    denom = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]  # (F,) twice the signed area
    keep = denom.abs() > 1e-9
    denom = torch.where(keep, denom, torch.ones_like(denom))
    d = centre - a[:, None]
    w1 = (d[..., 0] * v1[:, None, 1] - v1[:, None, 0] * d[..., 1]) / denom[:, None]
    w2 = (v0[:, None, 0] * d[..., 1] - d[..., 0] * v0[:, None, 1]) / denom[:, None]
    w0 = 1 - w1 - w2
    eps = -1e-4
    inside = (w0 >= eps) & (w1 >= eps) & (w2 >= eps) & keep[:, None]
    inside &= (pix[..., 0] >= 0) & (pix[..., 0] < width) & (pix[..., 1] >= 0) & (pix[..., 1] < height)
    frag_face, frag_k = torch.nonzero(inside, as_tuple=True)
    frag_pix = (pix[frag_face, frag_k, 1] * width + pix[frag_face, frag_k, 0]).long()
    frag_depth = (w0 * z[:, None, 0] + w1 * z[:, None, 1] + w2 * z[:, None, 2])[frag_face, frag_k]
    return frag_face, frag_pix, frag_depth


def rasterize(uv: torch.Tensor, depth: torch.Tensor, faces: torch.Tensor, width: int, height: int,
              max_window: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Z-buffered triangle rasterisation.

    Triangles are grouped by bounding-box size (2, 4, 8, ... pixels) so that each group
    tests only a window of that size: most body triangles cover one or two pixels.

    Args:
        uv: ``(V, 2)`` projected vertices (pixels); depth: ``(V,)``; faces: ``(F, 3)``.
        max_window: largest triangle bounding box (pixels) handled; bigger ones are clipped.

    Returns:
        ``face_index (H, W)`` (-1 where empty) and ``zbuffer (H, W)``.
    """
    tri = uv[faces]  # (F, 3, 2)
    z = depth[faces]  # (F, 3)
    lo = tri.amin(1).floor()
    hi = tri.amax(1).ceil()
    visible = (z > 1e-3).all(1) & (hi[:, 0] >= 0) & (hi[:, 1] >= 0) & (lo[:, 0] < width) & (lo[:, 1] < height)
    size = (hi - lo).amax(1)
    faces_all, pix_all, depth_all = [], [], []
    window, smaller = 2, torch.zeros_like(visible)
    while True:
        group = visible & ~smaller & ((size <= window) | (window >= max_window))
        ids = torch.nonzero(group).flatten()
        if ids.numel():
            f, p, d = _fragments(tri[ids], z[ids], lo[ids], window, width, height)
            faces_all.append(ids[f]), pix_all.append(p), depth_all.append(d)
        smaller |= group
        if window >= max_window or bool(smaller[visible].all()):
            break
        window *= 2
    zbuffer = torch.full((height * width,), float("inf"), dtype=uv.dtype)
    face_index = torch.full((height * width,), -1, dtype=torch.long)
    if faces_all:
        frag_face, frag_pix, frag_depth = torch.cat(faces_all), torch.cat(pix_all), torch.cat(depth_all)
        zbuffer.scatter_reduce_(0, frag_pix, frag_depth, reduce="amin")
        winner = frag_depth <= zbuffer[frag_pix]
        face_index[frag_pix[winner]] = frag_face[winner]
    return face_index.view(height, width), zbuffer.view(height, width)


def make_background(kind: str, width: int, height: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``(H, W, 3)`` float background in [0, 1]: ``"solid"``, ``"gradient"``, ``"noise"`` (smooth
    coloured blobs) or ``"floor"`` (a wall and a floor meeting at a horizon)."""
    def rand(*shape):
        return torch.rand(*shape, generator=generator)

    if kind == "solid":
        return rand(3).expand(height, width, 3).clone()
    if kind == "gradient":
        top, bottom = rand(3), rand(3)
        t = torch.linspace(0, 1, height)[:, None, None]
        return (top * (1 - t) + bottom * t).expand(height, width, 3).clone()
    if kind == "noise":
        coarse = rand(1, 3, 6, 6)
        smooth = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)
        return (0.25 + 0.55 * smooth.clamp(0, 1))[0].permute(1, 2, 0)  # muted, like a blurred real scene
    if kind == "floor":
        wall, floor = rand(3) * 0.6 + 0.3, rand(3) * 0.5 + 0.2
        horizon = int(height * (0.45 + 0.2 * float(rand(1))))
        img = wall.expand(height, width, 3).clone()
        img[horizon:] = floor
        return img
    raise ValueError(f"background kind must be solid, gradient, noise or floor; got {kind!r}")


def render(vertices: list[torch.Tensor], faces: torch.Tensor, camera: Camera, colors: list[tuple[float, float, float]],
           joints: list[torch.Tensor] | None = None, light: Light = Light(),
           background: torch.Tensor | None = None) -> RenderResult:
    """Render one or several bodies.

    Args:
        vertices: per body ``(V, 3)`` world vertices (all sharing ``faces (F, 3)``).
        camera: see :func:`look_at`.
        colors: per body RGB in [0, 1] (a stand-in for clothing).
        joints: per body ``(24, 3)`` world joints to project (optional).
        background: ``(H, W, 3)`` float in [0, 1]; mid grey when None.
    """
    if len(vertices) != len(colors):
        raise ValueError(f"{len(vertices)} bodies but {len(colors)} colours")
    if not vertices:
        raise ValueError("render needs at least one body")
    num_verts = vertices[0].shape[0]
    all_verts = torch.cat([v.detach().float() for v in vertices])  # (P*V, 3)
    all_faces = torch.cat([faces + k * num_verts for k in range(len(vertices))])  # (P*F, 3)
    uv, depth = camera.project(all_verts)
    face_index, zbuffer = rasterize(uv, depth, all_faces, camera.width, camera.height)
    # Flat Lambert shading with face normals.
    tri = all_verts[all_faces]
    normals = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = normals / normals.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    to_light = -torch.tensor(light.direction, dtype=torch.float32)
    to_light = to_light / to_light.norm()
    lambert = (normals @ to_light).abs()  # two-sided: thin parts are lit from either side
    shade = light.ambient + light.diffuse * lambert  # (P*F,)
    body_of_face = torch.arange(len(vertices)).repeat_interleave(faces.shape[0])
    palette = torch.tensor(colors, dtype=torch.float32)
    covered = face_index >= 0
    hit = face_index[covered]
    image = background.clone().float() if background is not None else torch.full((camera.height, camera.width, 3), 0.5)
    image[covered] = (palette[body_of_face[hit]] * shade[hit, None]).clamp(0, 1)
    instance = torch.full_like(face_index, -1)
    instance[covered] = body_of_face[hit]
    if joints is not None:
        j2d, jz = camera.project(torch.stack([j.detach().float() for j in joints]))
    else:
        j2d, jz = torch.zeros(0, 24, 2), torch.zeros(0, 24)
    return RenderResult((image * 255).round().to(torch.uint8), instance, zbuffer, j2d, jz, camera)


def thumbnails(body, pose: torch.Tensor, size: int = 128, color: tuple[float, float, float] = (0.56, 0.70, 0.85),
               azimuth_deg: float = 25.0, elevation_deg: float = 12.0) -> torch.Tensor:
    """Small framed renders of poses ``(N, 24, 3)`` -> ``(N, size, size, 3)`` uint8 (one body each)."""
    with torch.no_grad():
        verts = body(pose[:, 0], pose[:, 1:]).vertices
    out = []
    for v in verts:
        center = (v.amax(0) + v.amin(0)) / 2
        radius = float((v - center).norm(dim=-1).amax())
        camera = look_at(center, 1.1 * radius / math.sin(math.radians(20)), azimuth_deg, elevation_deg, 40.0, size, size)
        out.append(render([v], body.faces, camera, [color], background=torch.full((size, size, 3), 0.97)).image)
    return torch.stack(out)
