"""Draw the README's picture: the release checkpoint's answers to six requests typed in everyday
words, through the chat (greedy, float16), each with whether its body passes the geometric check
of the test bank's kind (`posekit.evaluation.requests`). Illustrations, not a measurement: the
bank's rates are in the README.

    python docs/images/make_readme_figure.py     # writes docs/images/plain-requests.png (needs chromium)
"""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

REQUESTS = {  # request -> the check its body should pass
    "Raise both arms above your head.": "both_hands_up",
    "put your hands on your hips": "hands_on_hips",
    "Kneel on one knee.": "kneel_one",
    "touch your toes": "hands_low & legs_straight",
    "Strike a T-pose.": "both_arms_out",
    "someone proposing to his girlfriend": "kneel_one",
}


def main() -> int:
    from posekit.chat import ChatSession
    from posekit.evaluation.requests import passes
    from posekit.viz import plot_bodies

    session = ChatSession(checkpoint="data/checkpoints/chatpose-release")
    bodies, titles = [], []
    for text, check in REQUESTS.items():
        session.reset()
        pose = session.send(text).poses[0]
        bodies.append((pose.vertices, session.body.faces, pose.joints))
        words = text if len(text) < 24 else text[:text.rfind(" ", 0, 24)] + "<br>" + text[text.rfind(" ", 0, 24) + 1:]
        titles.append(f"{words}<br><i>{'passes' if passes(check, pose.joints) else 'misses'}: {check}</i>")
    fig = plot_bodies(bodies, titles, cols=6, height=340)
    fig.update_layout(width=1500, margin=dict(t=80))
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "figure.html"
        fig.write_html(page, include_plotlyjs=True, config={"displayModeBar": False})
        out = Path(__file__).with_name("plain-requests.png")
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--screenshot={out.resolve()}", "--window-size=1500,360", "--virtual-time-budget=8000",
                        page.as_uri()], check=True, capture_output=True)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
