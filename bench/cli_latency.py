"""How long the command line takes, from process start to the last file written, as a user waits.

Usage: python bench/cli_latency.py [--runs 5] [--only help,chat,photo,interactive]

Each command runs ``--runs`` times in a fresh process (median and range); beside them the machine's
``bench/bench_body.py`` joints-only batch-1 figure, so that a reader can place the times (machines of
this project's kind differ by 2x and more in small batches). Run it on an idle machine: another job on
the 2 cores doubles every figure. Goals (issue: "the command line answers at once"): ``--help`` <= 1 s,
a one-shot chat <= 5 s, a photo of one person <= 4 s, an interactive chat's first answer <= 5 s.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "Raise both arms above your head."


def posekit(*args: str) -> list[str]:
    return [sys.executable, "-m", "posekit", *args]


def wall(command: list[str], stdin: str | None = None, until: str | None = None) -> float:
    """Seconds from start to exit, or to the first output line containing ``until``."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    if until is None:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, env=env, cwd=ROOT)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
        return time.perf_counter() - start
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True, env=env, cwd=ROOT) as proc:
        proc.stdin.write(stdin or "")
        proc.stdin.flush()
        for line in proc.stdout:
            if until in line:
                seconds = time.perf_counter() - start
                proc.stdin.close()
                proc.wait()
                return seconds
        raise SystemExit(f"{' '.join(command)}: no line with {until!r}")


def body_figure() -> float:
    """bench/bench_body.py's joints-only batch-1 bodies/s on this machine."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_body import throughput

    from posekit.body.model import load_body_model

    return throughput(load_body_model(), 1, True, repeats=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="help,chat,photo,interactive")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="posekit-latency-"))
    cases = {
        "help": ("posekit --help", lambda k: wall(posekit("--help")), 1.0),
        "chat": (f'posekit chat --prompt "{PROMPT}"',
                 lambda k: wall(posekit("chat", "--prompt", PROMPT, "--out", str(out / f"chat{k}"))), 5.0),
        "photo": ("posekit photo data/photos/astronaut.jpg",
                  lambda k: wall(posekit("photo", "data/photos/astronaut.jpg", "--out", str(out / f"photo{k}"))), 4.0),
        "interactive": ("posekit chat (first answer saved)",
                        lambda k: wall(posekit("chat", "--out", str(out / f"interactive{k}")), stdin=PROMPT + "\n",
                                       until="pose_00.npz"), 5.0),
    }
    chosen = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = sorted(set(chosen) - set(cases))
    if unknown:
        raise SystemExit(f"--only: unknown {unknown}; choose from {sorted(cases)}")
    wall(posekit("--help"))  # the first start reads every file from disk; the rest are what a user sees
    print(f"bench_body.py joints-only batch 1 on this machine: {body_figure():,.0f} bodies/s")
    print(f"{'command':<44}{'median s':>9}{'min':>7}{'max':>7}{'goal':>7}")
    for name in chosen:
        label, run, goal = cases[name]
        times = [run(k) for k in range(args.runs)]
        print(f"{label:<44}{statistics.median(times):>9.2f}{min(times):>7.2f}{max(times):>7.2f}{goal:>7.1f}",
              flush=True)


if __name__ == "__main__":
    main()
