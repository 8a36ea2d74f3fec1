"""Chatting about pose: :mod:`~posekit.chat.session` (the conversation and its poses),
:mod:`~posekit.chat.export` (an answer's files), :mod:`~posekit.chat.commands` (``posekit chat``)
and :mod:`~posekit.chat.panel` (the ipywidgets panel, imported on its own: it needs ipywidgets).

    from posekit.chat import ChatSession
"""
from posekit.lazy import lazy_exports

# names come from their modules when first used: reading one light module (a config) stays light
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "commands": ("CHAT_HELP", "ChatCommand", "parse_chat_line",),
    "config": ("ChatConfig", "CHAT_DEFAULTS",),
    "export": ("export_or_fallback", "load_pose_npz", "save_html", "save_obj", "save_pose_npz",),
    "session": ("ChatPoseResult", "ChatSession", "Reply",),
})
