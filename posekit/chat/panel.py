"""An ipywidgets chat panel: a conversation with ChatPose next to a live 3D view of its latest pose.

``ChatPanel(session).widget`` shows a text box, an optional image upload, a "use the latest pose"
toggle (the next message then talks about that pose: edit it, describe it), the conversation log,
and buttons to compare every pose side by side and to export the latest one. All the work is done
by :class:`posekit.chat.session.ChatSession`; the panel only wires widgets to it.
"""
from __future__ import annotations

import html
import io
from pathlib import Path

import plotly.graph_objects as go

from posekit.chat.session import ChatSession, Reply
from posekit.viz import FigureView, plot_bodies

__all__ = ["ChatPanel"]


class ChatPanel:
    """Widgets around a :class:`ChatSession`; ``panel.widget`` is what to display."""

    def __init__(self, session: ChatSession, export_dir: str | Path = "chat-exports", height: int = 480):
        import ipywidgets as widgets

        self.session, self.export_dir, self.height = session, Path(export_dir), height
        self.text = widgets.Textarea(placeholder="Ask for a pose, describe a situation, or ask about an image...",
                                     layout=widgets.Layout(width="100%", height="70px"))
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="image")
        self.use_pose = widgets.Checkbox(value=False, description="about the latest pose", indent=False)
        self.send_button = widgets.Button(description="send", button_style="primary")
        self.compare_button = widgets.Button(description="compare poses")
        self.export_button = widgets.Button(description="export latest")
        self.reset_button = widgets.Button(description="new conversation")
        self.log = widgets.HTML(value=self._log_html(), layout=widgets.Layout(width="100%", max_height="420px",
                                                                             overflow="auto"))
        self.status = widgets.HTML()
        self.view = FigureView(self._empty_figure())  # saved whole: the report page redraws it offline
        self.compare = widgets.Output()
        self.send_button.on_click(lambda _: self.submit())
        self.compare_button.on_click(lambda _: self.show_comparison())
        self.export_button.on_click(lambda _: self.export_latest())
        self.reset_button.on_click(lambda _: self.reset())
        left = widgets.VBox([self.log, self.text, widgets.HBox([self.send_button, self.upload, self.use_pose]),
                             widgets.HBox([self.compare_button, self.export_button, self.reset_button]), self.status],
                            layout=widgets.Layout(width="48%"))
        self.widget = widgets.VBox([widgets.HBox([left, widgets.Box([self.view.widget], layout=widgets.Layout(width="52%"))]),
                                    self.compare])

    @property
    def figure(self) -> go.Figure:
        """The figure in the live view (the latest pose)."""
        return self.view.figure

    # --------------------------------------------------------------------------- actions
    def submit(self, text: str | None = None, image=None, pose=None) -> Reply | None:
        """Send the text box (or ``text``) with the uploaded image and/or latest pose if chosen."""
        text = self.text.value if text is None else text
        if image is None and self.upload.value:
            from PIL import Image

            image = Image.open(io.BytesIO(bytes(self.upload.value[0]["content"])))
        if pose is None and self.use_pose.value and self.session.poses:
            pose = -1
        try:
            reply = self.session.send(text, image=image, pose=pose)
        except ValueError as err:
            self.status.value = f"<span style='color:#b00'>{html.escape(str(err))}</span>"
            return None
        self.text.value, self.use_pose.value, self.status.value = "", False, ""
        self.upload.value = ()
        self.log.value = self._log_html()
        if reply.poses:
            self.show_pose(reply.poses[-1].index)
        return reply

    def show_pose(self, index: int = -1) -> None:
        """Draw pose ``index`` in the live view."""
        result = self.session.poses[index]
        fig = plot_bodies([(result.vertices, self.session.body.faces, result.joints)], titles=[f"pose {result.index}"],
                          cols=1, height=self.height)
        fig.update_layout(width=self.height)  # a fixed size that fits the panel's right half
        self.view.show(fig)

    def show_comparison(self):
        """Every pose of the conversation side by side (below the panel); returns the figure."""
        self.compare.clear_output()
        if not self.session.poses:
            self.status.value = "no pose yet"
            return None
        poses = self.session.poses
        fig = plot_bodies([(p.vertices, self.session.body.faces, p.joints) for p in poses],
                          titles=[f"pose {p.index} (turn {p.turn})" for p in poses], cols=min(4, len(poses)), height=320)
        with self.compare:
            fig.show()
        return fig

    def export_latest(self) -> dict[str, Path] | None:
        if not self.session.poses:
            self.status.value = "no pose to export yet"
            return None
        files = self.session.export(-1, self.export_dir)
        self.status.value = "saved " + ", ".join(html.escape(str(p)) for p in files.values())
        return files

    def reset(self) -> None:
        self.session.reset()
        self.log.value = self._log_html()
        self.compare.clear_output()
        self.view.show(self._empty_figure())

    # ---------------------------------------------------------------------------- display
    def _log_html(self) -> str:
        if not self.session.messages:
            return "<i>No messages yet.</i>"
        shown = sum(m["content"].count("<POSE>") for m in self.session.messages if m["role"] == "assistant")
        rows, pose = [], len(self.session.poses) - shown  # trimmed turns took their first poses with them
        for message in self.session.messages:
            text = html.escape(message["content"])
            if message["role"] == "assistant":
                while "&lt;POSE&gt;" in text:
                    text = text.replace("&lt;POSE&gt;", f"<b>[pose {pose}]</b>", 1)
                    pose += 1
            who, colour = ("you", "#eef3fb") if message["role"] == "user" else ("ChatPose", "#f4f4f4")
            rows.append(f"<div style='background:{colour};padding:4px 8px;margin:3px 0;border-radius:4px'>"
                        f"<b>{who}:</b> {text}</div>")
        return "".join(rows)

    def _empty_figure(self) -> go.Figure:
        fig = go.Figure()
        fig.update_layout(height=self.height, width=self.height, margin=dict(l=0, r=0, t=30, b=0),
                          title="the latest pose appears here")
        return fig
