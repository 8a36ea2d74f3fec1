"""One resolver for every asset posekit reads: argument > environment variable > packaged default.

Nothing is ever downloaded. A missing asset raises :class:`AssetNotFoundError` (a
``FileNotFoundError``) that lists every place that was searched and how to fix it.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["AssetNotFoundError", "repo_root", "data_dir", "cache_dir", "reports_dir", "resolve_file"]

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


def resolve_file(
    filename: str | os.PathLike,
    *,
    path: str | os.PathLike | None = None,
    env_var: str | None = None,
    defaults: tuple[Path, ...] = (),
    what: str = "file",
    hint: str = "",
) -> Path:
    """Find ``filename`` by precedence: ``path`` argument, ``$env_var``, then ``defaults``.

    ``path`` and the environment variable may name the file itself or a folder holding
    ``filename``. Once an explicit ``path`` is given, nothing else is searched: a wrong
    path is an error, never silently replaced by a default.
    """
    def candidates(location: Path) -> list[Path]:
        location = location.expanduser()
        if location.is_dir() or location.suffix == "":
            return [location / filename]
        return [location]

    tried: list[Path] = []
    if path is not None:
        places = candidates(Path(path))
    elif env_var and os.environ.get(env_var):
        places = candidates(Path(os.environ[env_var]))
    else:
        places = [d / filename for d in defaults]
    for place in places:
        tried.append(place)
        if place.is_file():
            return place
    source = "the path argument" if path is not None else (
        f"${env_var}" if env_var and os.environ.get(env_var) else "posekit's default locations")
    lines = "\n".join(f"  - {p}" for p in tried) or "  (no location to search)"
    raise AssetNotFoundError(
        f"{what} {str(filename)!r} not found (searched {source}):\n{lines}\n{hint}".rstrip()
    )
