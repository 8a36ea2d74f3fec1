"""The ``posekit`` command line: ``posekit build-data``, ``posekit train``, ``posekit eval``, ``posekit chat``,
``posekit report``, ... (:mod:`~posekit.cli.parser` builds the parser, :mod:`~posekit.cli.commands` runs each
subcommand)."""
from __future__ import annotations

import gc
import json
import sys

from posekit.cli.parser import build_parser

__all__ = ["main", "build_parser", "USER_ERRORS"]

USER_ERRORS = (OSError, ValueError, TypeError, KeyError, json.JSONDecodeError, ImportError, RuntimeError)
"""Errors a user can cause (a missing or unwritable file, bad JSON, a bad value, a corrupt checkpoint: posekit's
CheckpointError and AssetNotFoundError are among them): one line and exit code 2, not a traceback."""


def main(argv: list[str] | None = None) -> int:
    """Run one command; ``argv`` None: the process's own arguments (``posekit ...``, ``python -m posekit``),
    a list: called from Python (tests), where the process goes on afterwards."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help (0), or a bad option already said in one line (2)
        return stop.code if isinstance(stop.code, int) else 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"posekit {args.command}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        if args.debug:
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"posekit {args.command}: error: {message} (--debug shows the traceback)", file=sys.stderr)
        return 2
    finally:
        if argv is None:  # the process ends next: the interpreter's last collections skip what is frozen
            gc.freeze()  # (over a second at exit once torch and transformers are loaded, for nothing)


if __name__ == "__main__":
    sys.exit(main())
