"""The twelve plain requests of ``tests/test_plain_requests.py`` against any ChatPose checkpoint:
which ones it follows, with the joint measurements the checks read.

    python bench/plain_requests.py [CHECKPOINT]     # default: the shipped checkpoint
"""
from __future__ import annotations

import argparse

from posekit.chat import ChatSession
from posekit.evaluation.requests import PLAIN_REQUEST_CHECKS as CHECKS
from posekit.evaluation.requests import measure


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
        print(f"{'follows' if ok else 'misses '}  {text:<54} " + ", ".join(f"{k} {v}" for k, v in measure(j).items()))
    print(f"{followed} of {len(CHECKS)} followed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
