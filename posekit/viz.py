"""Interactive 3D views of bodies with plotly, and a live pose-editing widget.

Figures use SMPL's axes (y up, the body facing +z) with a fixed front-three-quarter
camera, so views are comparable across a notebook. They render in JupyterLab and in the
exported HTML report (call :func:`setup_notebook` once per notebook for the latter).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from posekit.body.skeleton import JOINT_NAMES, NUM_BODY_JOINTS, PARENTS

__all__ = ["setup_notebook", "mesh_trace", "simplify_mesh", "DISPLAY_CELL", "skeleton_trace", "ground_trace", "plot_bodies", "plot_body",
           "PoseEditor", "FigureView", "BODY_COLORS", "image_grid", "image_with_joints", "draw_skeletons", "wrap_title"]

BODY_COLORS = ("#8fb3d9", "#e3a587", "#9fcf9a", "#d3a6d9", "#e8d27c", "#8fd1cf")
CAMERA = dict(up=dict(x=0, y=1, z=0), eye=dict(x=0.9, y=0.35, z=1.9), center=dict(x=0, y=-0.05, z=0))


def setup_notebook() -> None:
    """Render figures both natively in JupyterLab and as self-contained HTML (for reports)."""
    import plotly.io as pio
    from plotly.offline import init_notebook_mode

    pio.renderers.default = "plotly_mimetype+notebook"
    # plotly.js once, at the top of the page: figures shown first inside a widget's output would
    # otherwise carry it in the widget's state only, and later figures would not draw in the report.
    init_notebook_mode(connected=False)


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


DISPLAY_CELL = 0.01
"""Grid cell (metres) within which :func:`mesh_trace` merges vertices for display: posekit's
open body (13,718 vertices, median edge 6.4 mm) shows with about 6,500, SMPL's density, and
every page and exported ``.html`` carries half the mesh bytes."""


def simplify_mesh(vertices: np.ndarray, faces: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Vertex clustering: ``vertices (V, 3)`` and ``faces (F, 3)`` -> the mean vertex of each
    occupied ``cell``-metre grid cell ``(V', 3)`` float32 and the faces between three different
    cells ``(F', 3)`` (each once, winding kept). Deterministic; for display only (the shape moves
    by at most a cell's diagonal)."""
    v = np.asarray(vertices, dtype=np.float64)
    _, cluster = np.unique(np.floor(v / cell).astype(np.int64), axis=0, return_inverse=True)
    cluster = cluster.reshape(-1)
    count = np.bincount(cluster)
    merged = np.stack([np.bincount(cluster, weights=v[:, d]) for d in range(3)], 1) / count[:, None]
    f = cluster[np.asarray(faces)]
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]
    _, first = np.unique(np.sort(f, 1), axis=0, return_index=True)
    return merged.astype(np.float32), f[np.sort(first)]


def mesh_trace(vertices, faces, color: str = BODY_COLORS[0], name: str = "body", opacity: float = 1.0,
               simplify: float | None = DISPLAY_CELL) -> go.Mesh3d:
    """A shaded body mesh; ``vertices (V, 3)``, ``faces (F, 3)``; ``simplify``: merge vertices
    within that grid cell for display (:func:`simplify_mesh`; None: every vertex)."""
    v, f = _np(vertices), _np(faces)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"need vertices (V, 3) and faces (F, 3), got {v.shape} and {f.shape}")
    if simplify:
        v, f = simplify_mesh(v, f, simplify)
    return go.Mesh3d(
        x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2], color=color, opacity=opacity,
        name=name, flatshading=False, hoverinfo="skip",
        lighting=dict(ambient=0.45, diffuse=0.8, specular=0.15, roughness=0.7, fresnel=0.1),
        lightposition=dict(x=100, y=200, z=300),
    )


def skeleton_trace(joints, parents: Sequence[int] = PARENTS, color: str = "#333333", name: str = "skeleton",
                   names: Sequence[str] = JOINT_NAMES) -> go.Scatter3d:
    """Bones as lines between joints ``(J, 3)`` and their parents, joint names on hover."""
    j = _np(joints)
    xs, ys, zs = [], [], []
    for child, parent in enumerate(parents):
        if parent >= 0:
            for arr, axis in ((xs, 0), (ys, 1), (zs, 2)):
                arr += [j[parent, axis], j[child, axis], None]
    lines = go.Scatter3d(x=xs, y=ys, z=zs, mode="lines", line=dict(color=color, width=5), name=name,
                         hoverinfo="skip", showlegend=False)
    return lines, go.Scatter3d(x=j[:, 0], y=j[:, 1], z=j[:, 2], mode="markers", marker=dict(size=3, color=color),
                               text=list(names)[: len(j)], hoverinfo="text", name=f"{name} joints", showlegend=False)


def ground_trace(height: float, center_x: float = 0.0, center_z: float = 0.0, extent: float = 1.2) -> go.Mesh3d:
    """A light, opaque square floor at ``y = height`` (two triangles; opaque because
    transparent traces are depth-sorted badly by WebGL when a figure has several scenes)."""
    xs = [center_x - extent, center_x + extent, center_x + extent, center_x - extent]
    zs = [center_z - extent, center_z - extent, center_z + extent, center_z + extent]
    return go.Mesh3d(x=xs, y=[height] * 4, z=zs, i=[0, 0], j=[1, 2], k=[2, 3], color="#e4e4e4", opacity=1.0,
                     hoverinfo="skip", name="ground", lighting=dict(ambient=1.0, diffuse=0.0, specular=0.0))


def _as_items(bodies) -> list[tuple[np.ndarray, np.ndarray | None, np.ndarray]]:
    """Normalise BodyOutput / (vertices, faces[, joints]) inputs into (vertices, joints, faces) per body."""
    items = []
    for body in bodies:
        if hasattr(body, "vertices") and hasattr(body, "faces"):
            if body.vertices is None:
                raise ValueError("a joints-only BodyOutput has no mesh; run the model with joints_only=False")
            verts, joints = _np(body.vertices), _np(body.joints)
            for b in range(verts.shape[0]):
                items.append((verts[b], joints[b], _np(body.faces)))
        else:
            verts, faces, *rest = body
            items.append((_np(verts), _np(rest[0]) if rest else None, _np(faces)))
    return items


def plot_bodies(bodies, titles: Sequence[str] | None = None, cols: int = 4, skeleton: bool = False,
                ground: bool = True, height: int = 420, colors: Sequence[str] = BODY_COLORS) -> go.Figure:
    """Several bodies side by side, one 3D scene each, same camera and scale.

    ``bodies``: BodyOutputs (every batch element is drawn) or ``(vertices, faces[, joints])`` tuples.
    """
    items = _as_items(bodies)
    if not items:
        raise ValueError("plot_bodies needs at least one body")
    titles = list(titles) if titles is not None else [f"body {i}" for i in range(len(items))]
    if len(titles) != len(items):
        raise ValueError(f"{len(titles)} titles for {len(items)} bodies")
    cols = min(cols, len(items))
    rows = (len(items) + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=cols, specs=[[{"type": "scene"}] * cols] * rows, subplot_titles=titles,
                        horizontal_spacing=0.01, vertical_spacing=0.04)
    all_v = np.concatenate([v for v, _, _ in items])
    half = float(np.max(all_v.max(0) - all_v.min(0))) / 2 + 0.05
    for k, (verts, joints, faces) in enumerate(items):
        row, col = k // cols + 1, k % cols + 1
        opacity = 0.55 if skeleton and joints is not None else 1.0
        fig.add_trace(mesh_trace(verts, faces, colors[k % len(colors)], titles[k], opacity), row=row, col=col)
        if skeleton and joints is not None:
            for trace in skeleton_trace(joints):
                fig.add_trace(trace, row=row, col=col)
        center = (verts.max(0) + verts.min(0)) / 2
        if ground:
            fig.add_trace(ground_trace(float(verts[:, 1].min()), center[0], center[2], extent=half), row=row, col=col)
        scene = dict(
            xaxis=dict(range=[center[0] - half, center[0] + half], visible=False),
            yaxis=dict(range=[center[1] - half, center[1] + half], visible=False),
            zaxis=dict(range=[center[2] - half, center[2] + half], visible=False),
            aspectmode="cube", camera=CAMERA,
        )
        fig.update_layout(**{f"scene{'' if k == 0 else k + 1}": scene})
    fig.update_layout(height=height * rows, margin=dict(l=0, r=0, t=30, b=0), showlegend=False,
                      modebar=dict(orientation="v"))  # the toolbar at the side, not over the titles
    return fig


def plot_body(body, title: str = "", skeleton: bool = True, ground: bool = True, height: int = 520) -> go.Figure:
    """One body (the first of a BodyOutput batch) with its skeleton."""
    items = _as_items([body])[:1]
    return plot_bodies([(items[0][0], items[0][2], items[0][1])], titles=[title or "body"], cols=1,
                       skeleton=skeleton, ground=ground, height=height)


class FigureView:
    """A plotly figure shown in an ipywidgets ``Output`` and redrawn whole on every change.

    A ``FigureWidget`` updated in place saves only its first data in the notebook's widget state,
    so an exported page cannot redraw it; an ``Output`` saves the figure it shows last, so the
    report page draws it with no kernel and no network. ``view.widget`` is what to display,
    ``view.figure`` the figure shown."""

    def __init__(self, figure: go.Figure | None = None):
        import ipywidgets as widgets

        self.widget = widgets.Output()
        self.figure: go.Figure | None = None
        if figure is not None:
            self.show(figure)

    def show(self, figure: go.Figure) -> None:
        """Replace the figure shown (the ``Output``'s outputs are set directly: no output capture,
        so it works from any thread and outside a cell's execution). The MIME bundle is built here:
        IPython's formatter would call the figure's ``_ipython_display_``, which *displays* it in
        the running cell and returns nothing, and plotly's own bundle re-displays plotly.js on
        every call. JupyterLab draws the plotly JSON; an exported page draws the HTML with the
        page's one plotly.js (:func:`setup_notebook`)."""
        import json

        self.figure = figure
        data = {"application/vnd.plotly.v1+json": {**json.loads(figure.to_json()), "config": {}},
                "text/html": figure.to_html(full_html=False, include_plotlyjs=False)}
        self.widget.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)


class PoseEditor:
    """A live pose editor: pick a joint, turn its axis-angle sliders (degrees), the body follows.

    ``PoseEditor(model).widget`` is an ipywidgets box; ``editor.body_pose`` (1, 23, 3) and
    ``editor.global_orient`` (1, 3) hold the current pose (radians).
    """

    def __init__(self, model, body_pose: torch.Tensor | None = None, global_orient: torch.Tensor | None = None,
                 height: int = 520):
        import ipywidgets as widgets

        self.model = model
        self.body_pose = (body_pose.detach().clone() if body_pose is not None
                          else torch.zeros(1, NUM_BODY_JOINTS, 3, dtype=model.dtype))
        self.global_orient = (global_orient.detach().clone() if global_orient is not None
                              else torch.zeros(1, 3, dtype=model.dtype))
        self.height = height
        self.view = FigureView(plot_body(self._forward(), title="drag the sliders", height=height))
        self.joint = widgets.Dropdown(options=list(JOINT_NAMES), value="left_shoulder", description="joint")
        self.sliders = [widgets.FloatSlider(value=0.0, min=-180, max=180, step=1, description=f"{a} (deg)",
                                            continuous_update=False) for a in "xyz"]  # one redraw per release
        self.reset = widgets.Button(description="reset pose")
        self._syncing = False
        self.joint.observe(lambda _: self._load_joint(), names="value")
        for slider in self.sliders:
            slider.observe(lambda _: self._apply(), names="value")
        self.reset.on_click(lambda _: self.set_pose(torch.zeros_like(self.body_pose), torch.zeros_like(self.global_orient)))
        self.widget = widgets.VBox([widgets.HBox([self.joint, self.reset]), *self.sliders, self.view.widget])
        self._load_joint()

    @property
    def figure(self) -> go.Figure:
        """The figure shown: the posed body with its skeleton."""
        return self.view.figure

    def _forward(self):
        with torch.no_grad():
            return self.model(global_orient=self.global_orient, body_pose=self.body_pose)

    def _joint_vector(self) -> torch.Tensor:
        index = JOINT_NAMES.index(self.joint.value)
        return self.global_orient[0] if index == 0 else self.body_pose[0, index - 1]

    def _load_joint(self) -> None:
        self._syncing = True
        for slider, value in zip(self.sliders, self._joint_vector().tolist()):
            slider.value = float(np.degrees(value))
        self._syncing = False

    def _apply(self) -> None:
        if self._syncing:
            return
        vec = self._joint_vector()
        vec[:] = torch.tensor([np.radians(s.value) for s in self.sliders], dtype=vec.dtype)
        self.redraw()

    def set_pose(self, body_pose: torch.Tensor, global_orient: torch.Tensor | None = None) -> None:
        """Replace the pose (``(1, 23, 3)`` and ``(1, 3)`` axis-angle) and redraw."""
        self.body_pose = body_pose.detach().clone().to(self.model.dtype)
        if global_orient is not None:
            self.global_orient = global_orient.detach().clone().to(self.model.dtype)
        self._load_joint()
        self.redraw()

    def redraw(self) -> None:
        self.view.show(plot_body(self._forward(), title=f"{self.joint.value} edited", height=self.height))


def image_grid(images, titles: Sequence[str] | None = None, cols: int = 8, tile: int = 150) -> go.Figure:
    """Images ``(N, H, W, 3)`` uint8 as a grid of small panels with titles (2D, light for big grids)."""
    import plotly.express as px

    imgs = _np(images)
    fig = px.imshow(imgs, facet_col=0, facet_col_wrap=cols, facet_col_spacing=0.005, facet_row_spacing=0.03)
    names = list(titles) if titles is not None else [str(i) for i in range(len(imgs))]
    width = max(12, int(tile / 5.5))  # characters of 9 px text that fit a tile
    for annotation in fig.layout.annotations:
        k = int(annotation.text.split("=")[-1])
        annotation.update(text=wrap_title(names[k], width), font=dict(size=9), hovertext=names[k])
    rows = (len(imgs) + cols - 1) // cols
    fig.update_xaxes(visible=False).update_yaxes(visible=False)
    fig.update_layout(height=(tile + 12) * rows + 40, margin=dict(l=0, r=0, t=30, b=0), coloraxis_showscale=False,
                      modebar=dict(orientation="v"))
    fig.update_traces(hoverinfo="skip", hovertemplate=None)
    return fig


def image_with_joints(image, joints_2d, title: str = "", parents: Sequence[int] = PARENTS, points=None,
                      height: int = 400) -> go.Figure:
    """An image ``(H, W, 3)`` with 2D skeletons ``(P, 24, 2)`` (pixels) drawn over it, and optional
    white dots at ``points`` ``(P, K, 2)`` (e.g. the landmarks a fit was made to)."""
    import plotly.express as px

    fig = px.imshow(_np(image))
    if points is not None:
        dots = _np(points).reshape(-1, 2)
        fig.add_trace(go.Scatter(x=dots[:, 0], y=dots[:, 1], mode="markers", hoverinfo="skip", name="landmarks",
                                 marker=dict(size=5, color="white", line=dict(color="black", width=1))))
    colors = ["#ffd400", "#00e5ff", "#ff4df0", "#7dff5c"]
    for p, joints in enumerate(_np(joints_2d).reshape(-1, len(parents), 2)):
        xs, ys = [], []
        for child, parent in enumerate(parents):
            if parent >= 0:
                xs += [joints[parent, 0], joints[child, 0], None]
                ys += [joints[parent, 1], joints[child, 1], None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", line=dict(color=colors[p % 4], width=2),
                                 marker=dict(size=3), name=f"person {p}", hoverinfo="skip"))
    rows, cols = _np(image).shape[:2]  # the photo's frame: lines running off it (hidden legs) are cut at its edge
    fig.update_xaxes(visible=False, range=[-0.5, cols - 0.5]).update_yaxes(visible=False, range=[rows - 0.5, -0.5])
    fig.update_layout(title=dict(text=wrap_title(title, 48), font=dict(size=13)), height=height, width=height + 20,
                      margin=dict(l=0, r=40, t=50, b=0), showlegend=False,
                      modebar=dict(orientation="v"))  # the toolbar on the right, not over the title
    return fig


def draw_skeletons(image, joints_2d, points=None, parents: Sequence[int] = PARENTS, width: int = 3):
    """A PIL copy of ``image`` ``(H, W, 3)`` with 2D skeletons ``(P, 24, 2)`` (pixels) drawn on it and
    optional dots at ``points`` (per person ``(K, 2)``): a picture without a browser (``posekit photo``)."""
    from PIL import Image, ImageDraw

    picture = Image.fromarray(_np(image).astype(np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(picture)
    colors = ["#ffd400", "#00e5ff", "#ff4df0", "#7dff5c"]
    scale = max(1, round(max(picture.size) / 400))
    for p, joints in enumerate(_np(joints_2d).reshape(-1, len(parents), 2)):
        for child, parent in enumerate(parents):
            if parent >= 0:
                draw.line([tuple(joints[parent]), tuple(joints[child])], fill=colors[p % 4], width=width * scale)
    for dots in points or []:
        for x, y in _np(dots).reshape(-1, 2):
            r = 2 * scale
            draw.ellipse([x - r, y - r, x + r, y + r], fill="white", outline="black")
    return picture


def wrap_title(text: str, width: int = 40, lines: int = 2) -> str:
    """``text`` broken into at most ``lines`` lines of ``width`` characters (plotly ``<br>``),
    the last ending in "..." when the text is longer."""
    import textwrap

    parts = textwrap.wrap(str(text), width) or [""]
    if len(parts) > lines:
        parts = parts[:lines]
        parts[-1] = parts[-1][: max(width - 3, 1)].rstrip() + "..."
    return "<br>".join(parts)
