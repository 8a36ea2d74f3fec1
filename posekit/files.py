"""Files: writing them so that a reader never sees half of one, reading data files safely."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = ["atomic_path", "atomic_dir", "NotOwnedError", "copy_other_files", "read_npz", "first_kind_mismatch",
           "read_torch_file", "read_json", "first_bad_tensor"]


def first_bad_tensor(tensors, all_zero: tuple[str, ...] = ()) -> str | None:
    """The name (and the fault) of the first floating-point tensor in the mapping ``tensors`` (any
    nesting of dicts) holding NaN or infinite values, or of a tensor named in ``all_zero`` that is
    zero everywhere (a cache of model states never is); None when all are sound. What every loader
    of weights, states and caches runs before using them."""
    import torch

    for name, value in tensors.items():
        if isinstance(value, dict):
            found = first_bad_tensor(value, all_zero)
            if found:
                return f"{name}.{found}"
        elif isinstance(value, torch.Tensor) and value.is_floating_point():
            # a finite sum means every value is finite (NaN and inf reach the sum): one fast pass, the
            # element-wise check only when the sum is not (a NaN, an inf, or finite values summing past the range)
            if not bool(torch.isfinite(value.sum())) and not bool(torch.isfinite(value).all()):
                return f"{name} (NaN or infinite values)"
            if name in all_zero and value.numel() and not bool(value.any()):
                return f"{name} (all zeros)"
    return None


def first_kind_mismatch(tensors, reference) -> str | None:
    """The first tensor of the mapping ``tensors`` that holds whole numbers where ``reference`` (a
    model's state) holds floating point: an ``int32`` copy of float weights would load with its values
    truncated. (Floats where the model holds whole numbers, e.g. an index buffer shipped in float16,
    load exactly.) None when every shared name is sound."""
    import torch

    for name, value in tensors.items():
        own = reference.get(name)
        if isinstance(value, torch.Tensor) and isinstance(own, torch.Tensor) \
                and own.is_floating_point() and not value.is_floating_point():
            return f"{name} is {value.dtype} where the model holds {own.dtype}"
    return None


def read_json(path: str | os.PathLike, what: str = "file", expect: type | None = dict):
    """The JSON value in ``path`` (UTF-8), with every failure named: ``FileNotFoundError`` /
    ``IsADirectoryError`` for a missing path or a folder, ``ValueError`` for bytes that are not
    UTF-8, text that is not JSON (line and column given) or a value that is not an ``expect``."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a folder; pass the JSON file")
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{what} {path} is not UTF-8 text (byte {err.start}); save it as UTF-8 JSON") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{what} {path} is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}); "
                         "fix or rewrite it") from None
    if expect is not None and not isinstance(value, expect):
        raise ValueError(f"{what} {path} holds a JSON {type(value).__name__}, not the {expect.__name__} expected; "
                         "fix or rewrite it")
    return value


def read_npz(path: str | os.PathLike, what: str = "file") -> dict[str, np.ndarray]:
    """All arrays of a ``.npz`` file, never unpickling (a crafted object array would run code).

    Raises ``FileNotFoundError`` / ``IsADirectoryError`` naming ``what`` and the path, and
    ``ValueError`` for a truncated or corrupt archive or one that holds Python objects."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a folder; pass the .npz file inside it")
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    with open(path, "rb") as fh:
        head = fh.read(6)
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):  # a .npz is a zip archive
        raise ValueError(f"{what} {path} is not a .npz archive (it does not start like a zip file): pass the .npz "
                         "file itself, or export it again")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise ValueError(f"{what} {path} is not a readable .npz archive ({err}); it may be truncated: "
                         "download or export it again") from None
    except ValueError as err:
        if "allow_pickle" in str(err) or "Object arrays" in str(err):
            raise ValueError(f"{what} {path} holds pickled Python objects, which posekit never loads from a data "
                             "file (they can run code): save its arrays as plain numbers and strings") from None
        raise ValueError(f"{what} {path} could not be read: {err}") from None


def read_torch_file(path: str | os.PathLike, what: str = "file", map_location=None):
    """What :func:`torch.save` wrote to ``path``, read with ``weights_only=True``: tensors, numbers,
    strings and containers of them, never arbitrary Python objects (unpickling those can run code).

    Raises ``FileNotFoundError`` naming ``what`` and the path, and ``ValueError`` for a file that is
    not such a save (truncated, another program's, or holding Python objects)."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, ValueError) as err:
        reason = "holds Python objects posekit never loads (they can run code)" if "weights_only" in str(err).lower() \
            or "unsupported global" in str(err).lower() else f"could not be read ({type(err).__name__})"
        raise ValueError(f"{what} {path} {reason}: delete it, or pass a file that posekit wrote") from None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one rename,
    on an exception it is deleted and ``path`` is left as it was.

        with atomic_path(out) as tmp:
            torch.save(obj, tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class NotOwnedError(FileExistsError):
    """A path holds something posekit did not write: posekit leaves it alone unless told (``force``)."""


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``path``; on success it takes ``path``'s place
    (an existing folder is moved aside first and deleted after), on an exception it is deleted
    and ``path`` is left as it was. Whether ``path`` may be replaced is the caller's to check first,
    before any work (:func:`posekit.outputs.check_replaceable`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old) if old.is_dir() else old.unlink()
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def copy_other_files(folder: str | os.PathLike, into: str | os.PathLike, skip: tuple[str, ...]) -> None:
    """Copy every file and subfolder of ``folder`` (if it exists) except the names in ``skip`` into
    ``into``: what a folder replaced through :func:`atomic_dir` keeps of its old contents (a
    checkpoint's README, logs and results)."""
    folder = Path(folder)
    for other in folder.iterdir() if folder.is_dir() else ():
        if other.name not in skip:
            (shutil.copytree if other.is_dir() else shutil.copy2)(other, Path(into) / other.name)
