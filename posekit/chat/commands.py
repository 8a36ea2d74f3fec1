"""The chat on the command line (``posekit chat``): slash commands, the interactive loop and the
one-shot form. Bad inputs print one line and the conversation goes on."""
from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path

from posekit.chat.export import export_or_fallback
from posekit.chat.session import ChatSession
from posekit.encoders.vision import read_photo_rgb
from posekit.models.chatpose.config import CheckpointError
from posekit.files import NotOwnedError
from posekit.outputs import OutputFolder
from posekit.paths import AssetNotFoundError, reports_dir

__all__ = ["ChatCommand", "CHAT_HELP", "parse_chat_line", "run_chat", "show_reply"]


@dataclasses.dataclass(frozen=True)
class ChatCommand:
    """One line typed in the interactive chat (:func:`parse_chat_line`)."""

    kind: str
    """``"message"``, ``"pose"`` (attach an earlier pose), ``"image"``, ``"reset"``, ``"quit"`` or ``"empty"``."""
    value: str | int | None = None
    """The message text, the pose index or the image path (None: no image)."""


CHAT_HELP = "/pose N attaches pose N (or /pose: the latest) to the next message, /image FILE an image, " \
            "/reset starts over, /quit ends"


def parse_chat_line(line: str, pose_count: int) -> ChatCommand:
    """A typed line -> a :class:`ChatCommand`; ``ValueError`` saying what is wrong with a bad one
    (a pose number that is not a number or not in the session's ``pose_count`` poses, an image
    that cannot be read, an unknown command, text that is not valid UTF-8), so that the
    interactive chat can say so and keep the conversation."""

    text = line.strip()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the line is not valid UTF-8 text (check the terminal's encoding) and was ignored") from None
    if not text:
        return ChatCommand("empty")
    if not text.startswith("/"):
        return ChatCommand("message", text)
    command, _, arg = text.partition(" ")
    arg = arg.strip()
    if command in ("/quit", "/exit"):
        return ChatCommand("quit")
    if command == "/reset":
        return ChatCommand("reset")
    if command == "/pose":
        if not pose_count:
            raise ValueError("there is no pose to attach yet: ask for one first")
        try:
            index = int(arg) if arg else -1
        except ValueError:
            raise ValueError(f"/pose takes a pose number, e.g. /pose 0 (or /pose for the latest), got {arg!r}") from None
        if not -pose_count <= index < pose_count:
            raise ValueError(f"there is no pose {index}: this session has poses 0 to {pose_count - 1}")
        return ChatCommand("pose", index)
    if command == "/image":
        if arg:
            read_photo_rgb(arg)  # a bad, tiny or blank file is refused now, not after the model has answered
        return ChatCommand("image", arg or None)
    raise ValueError(f"unknown command {command!r}: {CHAT_HELP}")


def run_chat(args) -> int:
    """``posekit chat`` (``args``: its parsed options): ChatPose's main_chat.py, and a one-shot form
    (``args.prompt``). Bad inputs: one line on stderr, exit code 2."""

    def fail(message: str) -> int:
        print(f"posekit chat: error: {message}", file=sys.stderr)
        return 2

    if args.prompt is not None and not args.prompt.strip():
        return fail("the prompt is empty")
    # one folder per call: the time and the process id, so that two calls in the same second never share one
    out = Path(args.out) if args.out else reports_dir() / "chat" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    force = getattr(args, "force", False)
    try:  # a user's pose_* files in --out: refused before the model loads
        OutputFolder(out, "chat", patterns=("pose_*",), force=force)
    except NotOwnedError as err:
        return fail(one_line(err))
    except OSError:
        pass  # --out cannot be written (no permission, a file above it): each answer goes to a temporary folder
    try:
        if args.image:
            read_photo_rgb(args.image)  # before the model loads: a bad, tiny or blank file fails in a second
        session = ChatSession(checkpoint=args.checkpoint, do_sample=args.sample, temperature=args.temperature,
                              seed=args.seed, max_new_tokens=args.max_new_tokens, dtype=args.dtype,
                              no_repeat_ngram_size=args.no_repeat_ngram, tools=not args.no_tools,
                              photos=False if args.no_photos else None,
                              context_turns=None if args.context_turns < 0 else args.context_turns)
    except (OSError, ValueError, TypeError, CheckpointError, AssetNotFoundError, ImportError) as err:
        return fail(" ".join(str(err).split()))

    image = args.image
    if args.prompt is not None:  # one shot: a bad input ends the command with one line
        try:
            reply = session.send(args.prompt, image=image)
        except (FileNotFoundError, ValueError) as err:
            return fail(str(err).splitlines()[0])
        out = show_reply(session, reply, out, force)
        if session.poses:
            print(f"poses saved in {out}")
        return 0
    print(f"posekit chat: type a message; {CHAT_HELP}. Poses are saved to {out}")
    attach = None
    while True:
        try:
            line = input("you> ")
        except (EOFError, KeyboardInterrupt):
            print()
            break
        except UnicodeDecodeError:
            print("error: the line is not valid UTF-8 text (check the terminal's encoding) and was ignored")
            continue
        try:
            command = parse_chat_line(line, len(session.poses))
        except (OSError, ValueError) as err:
            print(f"error: {one_line(err)}")
            continue
        if command.kind == "quit":
            break
        if command.kind == "reset":
            session.reset()
            image = attach = None
        elif command.kind == "pose":
            attach = command.value
            print(f"(pose {attach} goes with your next message)")
        elif command.kind == "image":
            image = command.value
        elif command.kind == "message":
            try:  # a turn fails alone: any error is one line and the conversation goes on
                reply = session.send(command.value, image=image, pose=attach)
                out = show_reply(session, reply, out, force)
            except Exception as err:  # noqa: BLE001 - the next turns are still read and answered
                if getattr(args, "debug", False):
                    raise
                print(f"error: {one_line(err)} (this message was not answered; the conversation goes on)")
            finally:
                image = attach = None  # a failed message does not leave them attached to every later one
    if session.poses:
        print(f"poses saved in {out}")
    return 0


def one_line(err: BaseException) -> str:
    """An error as one line: its message's words, else its type's name."""
    return " ".join(str(err).split()) or type(err).__name__


def show_reply(session, reply, out: Path, force: bool = False) -> Path:
    """Print a reply and save its poses (elsewhere, with a warning, when ``out`` cannot be written);
    returns the folder the poses went to."""
    print(f"chatpose> {reply.text}")
    for result in reply.poses:
        files, out, warning = export_or_fallback(session, result, out, force)
        if warning:
            print(f"warning: {warning}")
        print(f"  [pose {result.index}] {result.description}")
        print("  saved " + ", ".join(str(p) for p in files.values()))
    return out
