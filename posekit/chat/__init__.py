"""Chatting about pose: :mod:`~posekit.chat.session` (the conversation and its poses),
:mod:`~posekit.chat.export` (an answer's files), :mod:`~posekit.chat.commands` (``posekit chat``)
and :mod:`~posekit.chat.panel` (the ipywidgets panel, imported on its own: it needs ipywidgets).

    from posekit.chat import ChatSession
"""
from posekit.chat.commands import CHAT_HELP, ChatCommand, parse_chat_line
from posekit.chat.export import export_or_fallback, load_pose_npz, save_html, save_obj, save_pose_npz
from posekit.chat.session import ChatPoseResult, ChatSession, Reply

__all__ = ["ChatSession", "ChatPoseResult", "Reply", "save_pose_npz", "load_pose_npz", "save_obj", "save_html",
           "export_or_fallback", "ChatCommand", "CHAT_HELP", "parse_chat_line"]
