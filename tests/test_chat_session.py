"""Chat sessions, exports and the `posekit chat` command (scripted tiny models, no training)."""
import numpy as np
import pytest
import torch
from PIL import Image
from test_chatpose import ScriptedChatPose, tiny_llama

from posekit.chat import ChatSession, load_pose_npz
from posekit.chat.session import NOBODY_FOUND
from posekit.cli import main
from posekit.datasets.records import POSE_IN_TOKEN, POSE_TOKEN
from posekit.models.chatpose import ChatPoseConfig


def scripted(vision: bool = False) -> ScriptedChatPose:
    llm, tok = tiny_llama()
    model = ScriptedChatPose(ChatPoseConfig(vision_encoder="efficientnet-lite0" if vision else None, max_length=1024),
                             backbone=(llm, tok))
    sure = tok("Sure:", add_special_tokens=False)["input_ids"]
    model.script = (*sure, model.token_ids[POSE_TOKEN], tok.convert_tokens_to_ids("<|im_end|>"))
    return model


@pytest.fixture(scope="module")
def session(body):
    return ChatSession(model=scripted(vision=True), body=body, context_turns=None)  # reads the whole history


def test_session_keeps_history_and_poses_across_turns(session, tiny_dataset):
    session.reset()
    first = session.send("Show me a squat.")
    assert first.text == "Sure:[pose 0]" and len(first.poses) == 1
    pose = first.poses[0]
    assert pose.vertices.shape[1] == 3 and pose.joints.shape == (24, 3) and pose.description
    image = tiny_dataset[0] / "images" / "image2pose" / sorted((tiny_dataset[0] / "images" / "image2pose").iterdir())[0].name
    second = session.send("And the person in this image?", image=image)
    assert [p.index for p in second.poses] == [1] and len(session.poses) == 2 and session.turns == 2
    assert [m["role"] for m in session.messages] == ["user", "assistant"] * 2
    assert session.messages[1]["content"].count(POSE_TOKEN) == 1
    with pytest.raises(ValueError, match="already has an image"):
        session.send("Another one?", image=image)


def test_edit_turn_receives_the_previous_pose(session, monkeypatch):
    session.reset()
    session.send("Show me a lunge.")
    seen = []
    original = session.model.generate
    monkeypatch.setattr(session.model, "generate", lambda records, **kw: seen.append(records[0]) or original(records, **kw))
    reply = session.send("Make that pose more relaxed.", pose=-1)
    record = seen[0]
    assert record.messages[-1]["content"].startswith(POSE_IN_TOKEN)
    assert torch.allclose(record.inputs()[-1], session.poses[0].pose)
    assert len(record.target_poses) == 1  # the first answer's <POSE> stays in the history
    assert reply.poses[0].index == 1
    with pytest.raises(ValueError, match="out of range"):
        session.send("And that one?", pose=7)


def test_by_default_each_message_is_answered_on_its_own(body, monkeypatch):
    chat = ChatSession(model=scripted(), body=body)
    chat.send("Show me a lunge.")
    seen = []
    original = chat.model.generate
    monkeypatch.setattr(chat.model, "generate", lambda records, **kw: seen.append(records[0]) or original(records, **kw))
    reply = chat.send("Make that pose more relaxed.", pose=-1)
    record = seen[0]
    assert [m["role"] for m in record.messages] == ["user"]  # no earlier exchange in the prompt
    assert torch.allclose(record.inputs()[0], chat.poses[0].pose)  # the earlier pose still comes in
    assert reply.poses[0].index == 1 and len(chat.poses) == 2 and chat.trimmed_turns == 1
    assert [p.turn for p in chat.poses] == [1, 2] and chat.turns == 2  # turns count every message answered
    with pytest.raises(ValueError, match="context_turns"):
        ChatSession(model=chat.model, body=body, context_turns=-1)


def test_session_passes_its_repetition_guard_to_generation(body, monkeypatch):
    chat = ChatSession(model=scripted(), body=body, no_repeat_ngram_size=6)
    seen = []
    original = chat.model.generate
    monkeypatch.setattr(chat.model, "generate", lambda records, **kw: seen.append(kw) or original(records, **kw))
    chat.send("Show me a squat.")
    assert seen[0]["no_repeat_ngram_size"] == 6
    with pytest.raises(ValueError, match="no_repeat_ngram_size must be >= 0"):
        ChatSession(model=chat.model, body=body, no_repeat_ngram_size=-2)


def test_long_conversations_drop_their_oldest_turns(body):
    model = scripted()
    model.config.max_length = 200
    chat = ChatSession(model=model, body=body, max_new_tokens=16, context_turns=None)  # as much history as fits
    for k in range(8):
        chat.send(f"Pose number {k}: a person standing with the arms relaxed along the body, looking ahead.")
    kept = sum(m["role"] == "user" for m in chat.messages)
    assert chat.trimmed_turns > 0 and 1 < kept < 8 and chat.turns == 8 and len(chat.poses) == 8


def test_cli_one_shot_writes_npz_obj_html(tmp_path, body, monkeypatch, capsys):
    model, dtypes = scripted(), []
    monkeypatch.setattr("posekit.chat.session.load_chatpose",
                        lambda checkpoint=None, device=None, dtype=None, release=False: dtypes.append(dtype) or model)
    assert main(["chat", "--prompt", "Raise your right arm.", "--out", str(tmp_path / "out")]) == 0
    assert dtypes == ["float16"]  # the CLI chats with float16 weights unless --dtype says otherwise
    printed = capsys.readouterr().out
    assert "[pose 0]" in printed and "poses saved in" in printed
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["pose_00.html", "pose_00.npz", "pose_00.obj", "posekit-output.json"]  # the marker lists them
    data = np.load(tmp_path / "out" / "pose_00.npz")
    assert data["global_orient"].shape == (1, 3) and data["body_pose"].shape == (1, 69) and data["betas"].shape == (1, 10)
    pose, betas = load_pose_npz(tmp_path / "out" / "pose_00.npz")
    vertices = body(pose[None, 0], pose[None, 1:], betas[None]).vertices[0]
    obj = [line.split() for line in (tmp_path / "out" / "pose_00.obj").read_text().splitlines()]
    obj_vertices = torch.tensor([[float(v) for v in line[1:]] for line in obj if line[0] == "v"])
    assert obj_vertices.shape == vertices.shape and torch.allclose(obj_vertices, vertices, atol=1e-5)
    assert sum(line[0] == "f" for line in obj) == len(body.faces)
    html = (tmp_path / "out" / "pose_00.html").read_text()
    assert "plotly" in html and "<script" in html and len(html) > 1_000_000  # plotly.js embedded: opens offline


@pytest.mark.parametrize("args, message", [
    (["--prompt", "   "], "the prompt is empty"),
    (["--prompt", "Hi", "--image", "missing.png"], "does not exist"),
    (["--prompt", "Hi", "--image", "BAD"], "could not be read"),
    (["--prompt", "Hi", "--checkpoint", "nowhere"], "ChatPose checkpoint"),
    (["--prompt", "Hi", "--no-repeat-ngram", "-1"], "argument --no-repeat-ngram: must be >= 0"),
])
def test_cli_bad_inputs_give_one_line_and_exit_2(tmp_path, capsys, args, message):
    (tmp_path / "bad.png").write_text("not an image")
    args = [str(tmp_path / "bad.png") if a == "BAD" else str(tmp_path / a) if a in ("missing.png", "nowhere") else a
            for a in args]
    assert main(["chat", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("posekit chat: error:") and message in err and "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_parse_chat_line_refuses_bad_lines_with_a_reason(tmp_path):
    from PIL import Image

    from posekit.chat import parse_chat_line

    assert parse_chat_line("  Raise your arm. ", 0).value == "Raise your arm."
    assert parse_chat_line("/pose", 3).value == -1 and parse_chat_line("/pose 2", 3).value == 2
    for line, count, reason in [("/pose abc", 2, "takes a pose number"), ("/pose 99", 2, "there is no pose 99"),
                                ("/pose -3", 2, "there is no pose -3"), ("/pose 0", 0, "no pose to attach yet"),
                                ("/image " + str(tmp_path), 0, "is a folder"), ("/posse 1", 1, "unknown command"),
                                ("caf\udce9", 0, "not valid UTF-8")]:
        with pytest.raises((ValueError, OSError), match=reason):
            parse_chat_line(line, count)
    big = tmp_path / "big.png"
    Image.new("L", (10000, 5000)).save(big)  # 50 megapixels declared in the header
    with pytest.raises(ValueError, match="10000 x 5000 pixels, more than posekit reads"):
        parse_chat_line(f"/image {big}", 0)
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb)  # 400 megapixels: Pillow itself refuses to open it
    with pytest.raises(ValueError, match="too large to read safely"):
        parse_chat_line(f"/image {bomb}", 0)


def test_interactive_chat_survives_bad_lines_and_keeps_the_conversation(tmp_path, monkeypatch, capsys):
    model = scripted()
    monkeypatch.setattr("posekit.chat.session.load_chatpose",
                        lambda checkpoint=None, device=None, dtype=None, release=False: model)
    blocker = tmp_path / "a_file"
    blocker.write_text("in the way")
    lines = iter(["/pose 0", "Raise your arm.", "/pose abc", "/pose 99", "/pose 0", "Now lower it.", "caf\udce9",
                  "/image nowhere.png", "And again.", "/quit"])
    sent = []
    real_send = ChatSession.send

    def send(self, text, image=None, pose=None):
        sent.append((text, pose))
        return real_send(self, text, image=image, pose=pose)

    monkeypatch.setattr(ChatSession, "send", send)
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    assert main(["chat", "--out", str(blocker / "sub")]) == 0  # --out lies under a regular file
    printed = capsys.readouterr().out
    assert "no pose to attach yet" in printed and "takes a pose number" in printed and "there is no pose 99" in printed
    assert "not valid UTF-8" in printed
    assert "does not exist" in printed and "Traceback" not in printed
    assert [pose for _, pose in sent] == [None, 0, None]  # /pose 0 went with the next message only
    assert printed.count("could not write to") == 1 and "[pose 2]" in printed  # answers kept, saved elsewhere
    fallback = printed.split("saved in ")[1].split(" instead")[0]
    assert sorted(p.name for p in __import__("pathlib").Path(fallback).iterdir())[:3] == \
        ["pose_00.html", "pose_00.npz", "pose_00.obj"]


def test_a_turn_that_fails_fails_alone(tmp_path, monkeypatch, capsys):
    """Any error inside one turn of the interactive chat is one line; the next turns are read and answered."""
    model = scripted()
    monkeypatch.setattr("posekit.chat.session.load_chatpose",
                        lambda checkpoint=None, device=None, dtype=None, release=False: model)
    dot = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (200, 10, 10)).save(dot)
    lines = iter([f"/image {dot}", "Who is this?", "Break please.", "Show me a squat.", "/quit"])
    real_send = ChatSession.send

    def send(self, text, image=None, pose=None):
        if text.startswith("Break"):
            raise RuntimeError("an internal fault\nwith a second line")
        return real_send(self, text, image=image, pose=pose)

    monkeypatch.setattr(ChatSession, "send", send)
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    assert main(["chat", "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "dot.png is 1 x 1 pixels: too small" in printed  # refused when attached, before any model sees it
    assert "error: an internal fault with a second line (this message was not answered" in printed
    assert printed.count("chatpose>") == 2 and "Traceback" not in printed  # "Who is this?" and the squat
    assert (tmp_path / "out" / "pose_01.npz").is_file()


def test_two_poses_in_one_answer_get_their_own_numbers(body):
    model = scripted()
    model.script = (model.token_ids[POSE_TOKEN], model.token_ids[POSE_TOKEN], model.script[-1])
    chat = ChatSession(model=model, body=body)
    reply = chat.send("Two poses please.")
    assert [r.index for r in reply.poses] == [0, 1] and "[pose 0]" in reply.text and "[pose 1]" in reply.text


def test_a_reset_never_writes_over_the_earlier_conversations_files(session, tmp_path):
    session.reset()
    first = session.export(session.send("Show me a squat.").poses[0], tmp_path)
    session.reset()
    second = session.export(session.send("Show me a lunge.").poses[0], tmp_path)
    assert first["npz"] != second["npz"] and first["npz"].is_file() and second["npz"].is_file()
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_two_chat_calls_in_the_same_second_get_two_folders(monkeypatch, tmp_path, body):
    import time

    from posekit.chat import commands

    folders = []
    monkeypatch.setattr(commands, "reports_dir", lambda: tmp_path)
    monkeypatch.setattr(commands, "ChatSession", lambda **kw: ChatSession(model=scripted(), body=body))
    monkeypatch.setattr(time, "strftime", lambda fmt: "20260101-000000")  # the same second
    for pid in (111, 222):
        monkeypatch.setattr(commands.os, "getpid", lambda pid=pid: pid)
        assert main(["chat", "--prompt", "Show me a squat."]) == 0
    folders = sorted(p.name for p in (tmp_path / "chat").iterdir())
    assert folders == ["20260101-000000-111", "20260101-000000-222"]


def test_a_photo_brings_its_people_in_as_fitted_poses(body, tiny_dataset, monkeypatch, tmp_path):
    from PIL import Image

    from posekit.chat.photo import is_edit_request
    from posekit.photos import photo_path_available

    if not photo_path_available():
        pytest.skip("MediaPipe is not installed (make env installs it)")
    chat = ChatSession(model=scripted(vision=True), body=body)
    folder = tiny_dataset[0] / "images" / "image2pose"
    image = sorted(folder.iterdir())[0]
    shown = chat.send("Show me the pose of the person in this photo.", image=image)
    assert chat.photo is not None and len(chat.photo.people) == 1
    assert shown.tool == "photo fit" and torch.equal(shown.poses[0].pose, chat.photo.pose(0))
    assert float(chat.photo.fit.reprojection[0]) < 12.0  # its joints follow the landmarks (percent of the height)
    described = chat.send("What is this person doing?")
    assert described.tool == "captioner" and not described.poses and described.text
    seen = []
    original = chat.model.generate
    monkeypatch.setattr(chat.model, "generate", lambda records, **kw: seen.append(records[0]) or original(records, **kw))
    edited = chat.send("Make him raise both arms.")
    assert torch.allclose(seen[-1].inputs()[-1], chat.photo.pose(0)) and seen[-1].image is None
    assert edited.tool is None and len(edited.poses) == 1
    assert is_edit_request("Now bend her left knee.") and not is_edit_request("Show me the pose of the person.")
    empty = tmp_path / "grey.png"
    Image.new("RGB", (160, 160), (120, 120, 120)).save(empty)
    plain = ChatSession(model=scripted(vision=True), body=body)
    with pytest.raises(ValueError, match=r"grey\.png is blank"):  # nothing to see: no answer, no pose saved
        plain.send("Show me the pose of the person in this photo.", image=empty)
    assert not plain.poses and plain.image is None
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (160, 160, 3), dtype=np.uint8)).save(noise)
    reply = plain.send("Show me the pose of the person in this photo.", image=noise)
    assert plain.photo is None and len(reply.poses) == 1  # no one found: the model's answer, said to be a guess
    assert reply.tool == "model's guess" and NOBODY_FOUND in reply.text


def test_the_chat_loads_the_release_checkpoint_by_default(monkeypatch):
    from pathlib import Path

    import posekit.chat.session as session_module
    from posekit.models.chatpose import default_checkpoint_dir

    assert default_checkpoint_dir(release=True).name == "chatpose-release"
    assert default_checkpoint_dir().name == "chatpose"  # posekit eval and the benchmark: the evaluated one
    called = {}

    class Loaded(Exception):
        pass

    def fake_load(path=None, device=None, dtype=None, release=False):
        called.update(path=path, release=release)
        raise Loaded

    monkeypatch.setattr(session_module, "load_chatpose", fake_load)
    with pytest.raises(Loaded):
        session_module.ChatSession()
    assert called == {"path": None, "release": True}
    assert Path(default_checkpoint_dir(release=True) / "part_composer.pt").is_file()
