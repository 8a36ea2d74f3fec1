"""The twelve plain requests of ``tests/test_plain_requests.py`` against any ChatPose checkpoint:
which ones it follows, with the joint measurements the checks read.

    python bench/plain_requests.py [CHECKPOINT]     # default: the shipped checkpoint
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_plain_requests import CHECKS, J, _knee, _lean  # noqa: E402

from posekit.chat import ChatSession  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", default=None, help="ChatPose checkpoint folder (default: shipped)")
    args = parser.parse_args()
    session = ChatSession(checkpoint=args.checkpoint)
    followed = 0
    for text, check in CHECKS.items():
        session.reset()
        reply = session.send(text)
        if not reply.poses:
            print(f"NO POSE {text}: {reply.text!r}")
            continue
        j = reply.poses[0].joints
        ok = bool(check(j))
        followed += ok
        print(f"{'follows' if ok else 'misses '}  {text:<54} knees {_knee(j, 'left'):.0f}/{_knee(j, 'right'):.0f} deg, "
              f"torso lean {_lean(j):.0f} deg, hands {float((j[J['left_hand']] - j[J['right_hand']]).norm()):.2f} m apart, "
              f"left hand {float(j[J['left_hand'], 1] - j[J['head'], 1]):+.2f} m above the head")
    print(f"{followed} of {len(CHECKS)} followed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
