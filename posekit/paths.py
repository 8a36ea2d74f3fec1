"""One resolver for every asset posekit reads: argument > environment variable > packaged default.

Nothing is ever downloaded. A missing asset raises :class:`AssetNotFoundError` (a
``FileNotFoundError``) that lists every place that was searched and how to fix it.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["AssetNotFoundError", "repo_root", "data_dir", "cache_dir", "reports_dir", "widget_js_dir", "resolve_file"]

PACKAGE_DIR = Path(__file__).resolve().parent


class AssetNotFoundError(FileNotFoundError):
    """An asset (body model, checkpoint, dataset) was not found where posekit looked."""


def repo_root() -> Path:
    """The checkout that holds this package (``data/``, ``notebooks/`` live next to it)."""
    return PACKAGE_DIR.parent


def data_dir() -> Path:
    """Authored data shipped with posekit: ``$POSEKIT_DATA`` or ``<repo>/data``."""
    return Path(os.environ.get("POSEKIT_DATA", repo_root() / "data")).expanduser()


def cache_dir() -> Path:
    """Generated, rebuildable files: ``$POSEKIT_CACHE`` or ``~/.cache/posekit``."""
    return Path(os.environ.get("POSEKIT_CACHE", Path.home() / ".cache" / "posekit")).expanduser()


def reports_dir() -> Path:
    """Executed notebooks, tables and HTML: ``$POSEKIT_REPORTS`` or ``<repo>/reports``."""
    return Path(os.environ.get("POSEKIT_REPORTS", repo_root() / "reports")).expanduser()


def widget_js_dir() -> Path:
    """The widget renderer's JavaScript for offline report pages (require.js, the Jupyter widget
    HTML manager; installed at set-up time by :func:`posekit.report.install_widget_js`):
    ``$POSEKIT_WIDGET_JS`` or ``<python prefix>/share/posekit/widget-js``."""
    import sys

    return Path(os.environ.get("POSEKIT_WIDGET_JS", Path(sys.prefix) / "share" / "posekit" / "widget-js")).expanduser()


def resolve_file(
    filename: str | os.PathLike | Sequence[str],
    *,
    path: str | os.PathLike | None = None,
    env_var: str | None = None,
    defaults: tuple[Path, ...] = (),
    subdirs: tuple[str, ...] = ("",),
    what: str = "file",
    hint: str = "",
) -> Path:
    """Find an asset by precedence: ``path`` argument, ``$env_var``, then ``defaults``.

    ``filename`` may be several accepted names (tried in order). ``path`` and the
    environment variable may name the file itself or a folder; a folder ``root`` is
    searched as ``root/<subdir>/<name>`` for each of ``subdirs``. Once an explicit
    ``path`` is given nothing else is searched: a wrong path is an error, never silently
    replaced by a default.
    """
    names = [str(filename)] if isinstance(filename, (str, os.PathLike)) else [str(n) for n in filename]
    if path is not None:
        roots, source = [Path(path).expanduser()], "the path argument"
    elif env_var and os.environ.get(env_var):
        roots, source = [Path(os.environ[env_var]).expanduser()], f"${env_var}"
    else:
        roots, source = list(defaults), "posekit's default locations"
    tried: list[Path] = []
    for root in roots:
        if root.is_file():
            return root
        for name in names:
            for sub in subdirs:
                tried.append(root / sub / name if sub else root / name)
                if tried[-1].is_file():
                    return tried[-1]
    lines = "\n".join(f"  - {p}" for p in tried) or "  (no location to search)"
    wanted = " or ".join(repr(n) for n in names)
    raise AssetNotFoundError(f"{what} {wanted} not found (searched {source}):\n{lines}\n{hint}".rstrip())
