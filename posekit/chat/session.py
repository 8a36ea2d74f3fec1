"""Chatting about pose: a session that keeps the conversation and every pose produced so far.

>>> session = ChatSession()                              # the shipped ChatPose model
>>> reply = session.send("Show me someone sitting cross-legged.")
>>> reply.poses[0].vertices.shape                        # (V, 3) posed mesh
>>> session.send("Make that pose more relaxed.", pose=-1)  # the last pose goes in as <pose_in>
>>> session.send("<image> Which pose is the person in?", image="photo.jpg")
>>> session.export(-1, "out/")                           # .npz (SMPL parameters), .obj, .html

Like ChatPose's own chat, one image per conversation (call :meth:`ChatSession.reset` for another).
Long conversations drop their oldest turns when the context is full.
"""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import torch

from posekit.body.model import load_body_model
from posekit.body.skeleton import NUM_BETAS, NUM_JOINTS
from posekit.chat.config import CHAT_DEFAULTS, NO_REPEAT_NGRAM
from posekit.chat.export import save_html, save_obj, save_pose_npz
from posekit.chat.photo import PhotoReading, photo_path_available, photo_route, read_chat_photo
from posekit.chat.tools import describe_pose, is_description_request, yes_no_answer, yes_no_question
from posekit.datasets.records import IMAGE_TOKEN, POSE_IN_TOKEN, POSE_TOKEN, Record
from posekit.encoders.vision import read_photo_rgb
from posekit.language.captioner import Captioner
from posekit.models.chatpose import check_no_repeat_ngram_size, load_chatpose
from posekit.outputs import OutputFolder
from posekit.photos import PHOTO_INSTALL

__all__ = ["ChatPoseResult", "Reply", "ChatSession", "NO_REPEAT_NGRAM", "NOBODY_FOUND"]

NOBODY_FOUND = ("(No person was found in the image, so this pose is the model's guess from the whole picture, "
                "not a reading of someone in it.)")
"""Added to an answer about an image in which the photo path found no one."""


@dataclasses.dataclass
class ChatPoseResult:
    """One pose the model produced, ready to use."""

    index: int
    """Position in :attr:`ChatSession.poses` (pass it as ``pose=`` to talk about this pose)."""
    turn: int
    pose: torch.Tensor  # (24, 3) axis-angle, global orientation first
    betas: torch.Tensor  # (10,) shape (the mean shape)
    joints: torch.Tensor  # (24, 3) metres
    vertices: torch.Tensor  # (V, 3) metres
    description: str
    """posekit's posecode caption of the pose."""

    @property
    def global_orient(self) -> torch.Tensor:
        """``(3,)`` axis-angle."""
        return self.pose[0]

    @property
    def body_pose(self) -> torch.Tensor:
        """``(23, 3)`` axis-angle."""
        return self.pose[1:]


@dataclasses.dataclass
class Reply:
    text: str
    """The answer with each ``<POSE>`` written as ``[pose N]``."""
    raw_text: str
    """The answer as the model wrote it."""
    poses: list[ChatPoseResult]
    tool: str | None = None
    """``"captioner"`` or ``"posecodes"`` when the answer was computed from the given pose's
    posecodes (:mod:`posekit.chat.tools`) instead of generated; ``"photo fit"`` when its poses are the
    fitted bodies of the photo's people (:mod:`posekit.chat.photo`); ``"model's guess"`` when the
    photo path found no one in the image (the text says so: :data:`NOBODY_FOUND`); None: the model's."""


class ChatSession:
    """A multi-turn conversation with a ChatPose model (greedy by default, sampling settable)."""

    def __init__(self, model=None, checkpoint: str | os.PathLike | None = None, body=None,
                 max_new_tokens: int = CHAT_DEFAULTS.max_new_tokens, do_sample: bool = CHAT_DEFAULTS.do_sample,
                 temperature: float = CHAT_DEFAULTS.temperature, top_p: float = CHAT_DEFAULTS.top_p,
                 seed: int = CHAT_DEFAULTS.seed, dtype: str | None = CHAT_DEFAULTS.dtype,
                 no_repeat_ngram_size: int = NO_REPEAT_NGRAM, context_turns: int | None = CHAT_DEFAULTS.context_turns,
                 tools: bool = True, photos: bool | None = None):
        """``model``: a ChatPose (else ``checkpoint`` is loaded, by default the release checkpoint,
        ``data/checkpoints/chatpose-release``, trained on every canonical pose, in
        ``dtype``: float16 answers as float32 does and generates about twice as fast on a CPU, see
        docs/reference.md, Benchmarks; None or "float32" keeps full precision). ``no_repeat_ngram_size``:
        a guard against answers that loop (see :meth:`posekit.models.chatpose.ChatPose.generate`; 0: off;
        on by default). ``tools``: descriptions of a given pose and yes/no questions about it are
        answered from its posecodes (:mod:`posekit.chat.tools`: true by construction) instead of
        generated; False: the model writes every answer.
        ``context_turns``: how many earlier exchanges the model reads with each message (None: as
        many as fit). The default 0 answers each message on its own, earlier poses coming in only
        through ``pose=``: the shipped model's language side was trained on single-turn requests
        and loses the ``<POSE>`` in long histories (docs/reference.md, Chat).
        ``photos``: find the people in an image and fit their bodies (:mod:`posekit.chat.photo`), so that
        messages about them are answered from their fitted poses; None: when MediaPipe is installed."""

        check_no_repeat_ngram_size(no_repeat_ngram_size)  # before loading a model: a bad value fails at once
        self.model = model if model is not None else load_chatpose(checkpoint, dtype=dtype, release=True)
        self.body = body if body is not None else load_body_model()
        self.max_new_tokens, self.do_sample, self.temperature, self.top_p = max_new_tokens, do_sample, temperature, top_p
        self.no_repeat_ngram_size = no_repeat_ngram_size
        self.tools = tools
        if photos and not photo_path_available():
            raise ImportError(f"photos=True needs MediaPipe's bundled pose model: {PHOTO_INSTALL}")
        self.photos = photo_path_available() if photos is None else photos
        if context_turns is not None and context_turns < 0:
            raise ValueError(f"context_turns must be >= 0 or None (all that fit), got {context_turns}")
        self.context_turns = context_turns
        self.generator = torch.Generator().manual_seed(seed)
        self.reset()

    def reset(self) -> None:
        """Forget the conversation, its image and its poses (the file numbers of :meth:`export` go
        on from where they were, so that a new conversation never writes over an earlier one's poses)."""
        self._numbered = getattr(self, "_numbered", 0) + len(getattr(self, "poses", []))
        self.messages: list[dict[str, str]] = []
        self.input_poses: list[torch.Tensor] = []
        self.image = None
        self.photo: PhotoReading | None = None
        """The people found in the conversation's image and their fitted bodies (None: no image, no
        one found, or ``photos=False``)."""
        self.poses: list[ChatPoseResult] = []
        self.trimmed_turns = 0
        self._answered = 0

    @property
    def turns(self) -> int:
        """Messages answered since the last :meth:`reset` (also those the model no longer reads)."""
        return self._answered

    def _pose_input(self, pose) -> torch.Tensor:
        if isinstance(pose, ChatPoseResult):
            return pose.pose
        if isinstance(pose, int):
            if not self.poses:
                raise ValueError("there is no earlier pose to refer to yet: ask for a pose first")
            try:
                return self.poses[pose].pose
            except IndexError:
                raise ValueError(f"pose index {pose} is out of range: this session has {len(self.poses)} pose(s)") from None
        pose = torch.as_tensor(pose, dtype=torch.float32)
        if pose.numel() != NUM_JOINTS * 3:
            raise ValueError(f"a pose must be (24, 3) axis-angle, got shape {tuple(pose.shape)}")
        return pose.reshape(NUM_JOINTS, 3)

    def send(self, text: str, image=None, pose=None) -> Reply:
        """One user turn -> the model's reply (text plus a :class:`ChatPoseResult` per ``<POSE>``).

        ``image``: a path, PIL image or ``(H, W, 3)`` array (put ``<image>`` in ``text`` to place
        it, else it goes first). ``pose``: an earlier pose (its index, e.g. -1 for the latest) or a
        ``(24, 3)`` axis-angle tensor, given to the model as ``<pose_in>``."""

        text = (text or "").strip()
        if not text:
            raise ValueError("the message is empty")
        nobody_found = False
        if image is not None:
            if self.image is not None:
                raise ValueError("this conversation already has an image: start a new one to talk about another "
                                 "(/reset in `posekit chat`, ChatSession.reset() in Python)")
            read_photo_rgb(image)  # fail early, with the reason, on an unreadable, tiny or blank image
            if IMAGE_TOKEN not in text:
                text = f"{IMAGE_TOKEN}\n{text}"
            if self.photos:
                self.photo = read_chat_photo(image, self.body)
                nobody_found = self.photo is None
        elif IMAGE_TOKEN in text:
            raise ValueError(f"the message has {IMAGE_TOKEN} but no image was given")
        if self.photo is not None and pose is None and POSE_IN_TOKEN not in text:
            return self._photo_turn(text, image)
        new_inputs = []
        if pose is not None:
            new_inputs.append(self._pose_input(pose))
            if POSE_IN_TOKEN not in text:
                text = f"{POSE_IN_TOKEN}\n{text}"
        if text.count(POSE_IN_TOKEN) != len(new_inputs):
            raise ValueError(f"{POSE_IN_TOKEN} needs a pose: attach one (/pose N in `posekit chat`, pose=<index or "
                             "tensor> in Python)")
        messages = [*self.messages, {"role": "user", "content": text}]
        if new_inputs and image is None and self.tools:
            told = self._tool_answer(text.replace(POSE_IN_TOKEN, "").strip(), new_inputs[-1])
            if told is not None:
                answer, tool = told
                self.messages = [*messages, {"role": "assistant", "content": answer}]
                self.input_poses = [*self.input_poses, *new_inputs]
                self._answered += 1
                return Reply(answer, answer, [], tool)
        inputs = [*self.input_poses, *new_inputs]
        session_image = image if image is not None else self.image
        if not any(IMAGE_TOKEN in m["content"] for m in messages):  # an edit of a photo's person: the pose alone
            session_image = None
        record, inputs = self._fit_context(messages, inputs, session_image)
        messages, session_image = record.messages, record.image
        answer = self.model.generate([record], max_new_tokens=self.max_new_tokens, do_sample=self.do_sample,
                                     temperature=self.temperature, top_p=self.top_p, generator=self.generator,
                                     no_repeat_ngram_size=self.no_repeat_ngram_size)[0]
        self.messages = [*messages, {"role": "assistant", "content": answer.text}]
        self.input_poses, self.image = inputs, session_image if session_image is not None else self.image
        reply = self._answer(answer.text, answer.poses)
        if nobody_found and reply.poses:  # said, so that a pose for an empty scene is not taken for a reading of it
            reply = dataclasses.replace(reply, text=f"{reply.text}\n{NOBODY_FOUND}", tool="model's guess")
        return reply

    def _answer(self, text: str, poses: list[torch.Tensor], tool: str | None = None) -> Reply:
        """Count the turn, keep its poses and write each ``<POSE>`` of ``text`` as ``[pose N]``."""
        self._answered += 1
        results = [self._result(p, self.turns, len(self.poses) + k) for k, p in enumerate(poses)]
        self.poses += results
        numbered = iter(r.index for r in results)
        shown = re.sub(re.escape(POSE_TOKEN), lambda _: f"[pose {next(numbered)}]", text)
        return Reply(shown.strip(), text, results, tool)

    @torch.no_grad()
    def _photo_turn(self, text: str, image) -> Reply:
        """A message about the people of the conversation's photo (see :mod:`posekit.chat.photo`)."""
        words = text.replace(IMAGE_TOKEN, "").strip()
        if image is not None:
            self.image = image
        route = photo_route(words, self.tools)
        if route in ("edit", "tool"):  # about the person the words name (colour, place, size), else the largest
            pose = self.photo.pose(self.photo.pick(words)[0])
        if route == "edit":
            return self.send(words, pose=pose)
        if route == "tool":
            answer, tool = self._tool_answer(words, pose)
            self.messages = [*self.messages, {"role": "user", "content": text},
                             {"role": "assistant", "content": answer}]
            self._answered += 1
            return Reply(answer, answer, [], tool)
        record = Record(id=f"chat-{self.turns}", task="chat", split="test", target_poses=[],
                        messages=[{"role": "user", "content": f"{IMAGE_TOKEN}\n{words}"}], image=self.image)
        answer = self.model.generate([record], max_new_tokens=self.max_new_tokens, do_sample=self.do_sample,
                                     temperature=self.temperature, top_p=self.top_p, generator=self.generator,
                                     no_repeat_ngram_size=self.no_repeat_ngram_size)[0]
        said = answer.text if POSE_TOKEN in answer.text else f"Here is the pose: {POSE_TOKEN}."
        picked = [self.photo.pick(words, self.body(p[None, 0], p[None, 1:], joints_only=True).joints[0])[0]
                  for p in answer.poses] or [self.photo.pick(words)[0]]
        self.messages = [*self.messages, {"role": "user", "content": text}, {"role": "assistant", "content": said}]
        return self._answer(said, [self.photo.pose(k) for k in picked][:said.count(POSE_TOKEN)], "photo fit")

    @torch.no_grad()
    def _tool_answer(self, text: str, pose: torch.Tensor) -> tuple[str, str] | None:
        """A description or a yes/no answer about ``pose`` ``(24, 3)`` computed from its posecodes,
        with the name of the tool, or None when ``text`` asks for something else."""
        describe = is_description_request(text)
        if not (describe or yes_no_question(text) is not None):
            return None
        out = self.body(pose[None, 0], pose[None, 1:], torch.zeros(1, NUM_BETAS))
        joints, rotmats = out.joints[0], out.rotmats[0] if out.rotmats is not None else None
        if describe:
            return describe_pose(joints, rotmats, self.body), "captioner"
        return yes_no_answer(text, joints, rotmats), "posecodes"

    def _history_poses(self, messages: list[dict]) -> list[list[list[float]]]:
        """The poses of the ``<POSE>`` tokens still in the history (the record needs one per token)."""
        count = sum(m["content"].count(POSE_TOKEN) for m in messages if m["role"] == "assistant")
        return [p.pose.tolist() for p in self.poses[len(self.poses) - count:]] if count else []

    def _fit_context(self, messages, inputs, image) -> tuple[Record, list[torch.Tensor]]:
        """The conversation as the record to answer, its oldest turns (with their input poses and
        image) dropped until the prompt fits; and the input poses it kept."""
        budget = self.model.config.max_length - self.max_new_tokens
        while True:
            record = Record(id=f"chat-{self.turns}", task="chat", split="test", messages=messages,
                            target_poses=self._history_poses(messages), input_poses=[p.tolist() for p in inputs],
                            image=image)
            length = self.model.prompt_length(record)
            earlier = sum(m["role"] == "user" for m in messages) - 1
            within = self.context_turns is None or earlier <= self.context_turns
            if (length <= budget and within) or earlier < 1:
                if length > budget:
                    raise ValueError(f"the message is too long for the model's context ({length} > {budget} tokens)")
                return record, inputs
            first_answer = next(k for k, m in enumerate(messages) if m["role"] == "assistant")
            dropped = messages[:first_answer + 1]
            messages = messages[first_answer + 1:]
            inputs = inputs[sum(m["content"].count(POSE_IN_TOKEN) for m in dropped):]
            if any(IMAGE_TOKEN in m["content"] for m in dropped):
                image = None
            self.trimmed_turns += 1

    @torch.no_grad()
    def _result(self, pose: torch.Tensor, turn: int, index: int) -> ChatPoseResult:
        betas = torch.zeros(NUM_BETAS)
        out = self.body(pose[None, 0], pose[None, 1:], betas[None])
        description = Captioner()(out.joints, out.rotmats, seed=None)[0]
        return ChatPoseResult(index, turn, pose, betas, out.joints[0], out.vertices[0], description)

    def export(self, pose: int | ChatPoseResult, folder: str | os.PathLike, stem: str | None = None,
               force: bool = False) -> dict[str, Path]:
        """Write pose ``pose`` as ``.npz`` (SMPL parameters), ``.obj`` (mesh) and ``.html`` (3D view). A
        file of those names in ``folder`` that posekit did not write is never replaced
        (:class:`posekit.outputs.OutputFolder`: ``NotOwnedError``; ``force``: replaced)."""
        result = pose if isinstance(pose, ChatPoseResult) else self.poses[pose]
        stem = stem or f"pose_{self._numbered + result.index:02d}"  # numbered across resets
        names = {kind: f"{stem}.{kind}" for kind in ("npz", "obj", "html")}
        out = OutputFolder(folder, "chat", names=names.values(), force=force)
        files = {"npz": save_pose_npz(out.path(names["npz"]), result.pose, result.betas),
                 "obj": save_obj(out.path(names["obj"]), result.vertices, self.body.faces),
                 "html": save_html(out.path(names["html"]), result, self.body.faces)}
        out.record(*names.values())
        return files
