"""The ``posekit`` command line: ``posekit build-data``, ``posekit train``, ``posekit eval``, ``posekit chat``,
``posekit report``, ... (:mod:`~posekit.cli.parser` builds the parser, :mod:`~posekit.cli.commands` runs each
subcommand)."""
from __future__ import annotations

import json
import sys

from posekit.cli.parser import build_parser

__all__ = ["main", "build_parser", "USER_ERRORS"]

USER_ERRORS = (OSError, ValueError, TypeError, KeyError, json.JSONDecodeError, ImportError, RuntimeError)
"""Errors a user can cause (a missing or unwritable file, bad JSON, a bad value, a corrupt checkpoint: posekit's
CheckpointError and AssetNotFoundError are among them): one line and exit code 2, not a traceback."""


def main(argv: list[str] | None = None) -> int:
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


if __name__ == "__main__":
    sys.exit(main())
