"""Checks shared by posekit's configuration dataclasses: every field's value has its declared type and is finite,
so that a config read from a JSON file or typed on the command line fails naming the field
(``TrainConfig.steps must be an integer, got '10' (str)``), not deep inside a run."""
from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing

__all__ = ["ConfigTypeError", "check_field_types"]


class ConfigTypeError(TypeError, ValueError):
    """A configuration field holds a value of the wrong type (a ``TypeError`` and a ``ValueError``,
    so that callers catching either see it)."""


_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "an object (dict)",
          type(None): "null (None)"}


def _matches(value, hint) -> bool:
    """Whether ``value`` is an instance of the annotation ``hint`` (the few forms configs use)."""
    origin = typing.get_origin(hint)
    if hint is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if origin in (tuple, list):
        args = typing.get_args(hint)
        if not isinstance(value, (tuple, list)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in value)
        return not args or (len(args) == len(value) and all(_matches(v, a) for v, a in zip(value, args)))
    if origin is dict:
        return isinstance(value, dict)
    if hint is float:  # numpy's numbers too
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # a form the configs do not use: not checked


def _describe(hint) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if origin in (tuple, list):
        args = typing.get_args(hint)
        return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s" if args else "a list"
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return f"a {hint.__name__}"
    return _NAMES.get(hint, str(hint))


def _first_non_finite(value):
    """The first NaN or infinite number in a config value (numbers, lists, tuples, dicts), else None.
    No config field means NaN or infinity: a ``"lr": NaN`` in a JSON file would train NaN weights."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return None if math.isfinite(value) else value
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        for item in value:
            found = _first_non_finite(item)
            if found is not None:
                return found
    return None


def check_field_types(config) -> None:
    """Raise :class:`ConfigTypeError` naming the first field of the dataclass instance ``config``
    whose value does not have the field's declared type (an integer is accepted for a float).
    Called first in each posekit config's ``__post_init__``."""
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value, hint = getattr(config, field.name), hints.get(field.name, typing.Any)
        if not _matches(value, hint):
            raise ConfigTypeError(f"{type(config).__name__}.{field.name} must be {_describe(hint)}, got {value!r} "
                                  f"({type(value).__name__}): fix it in the config file or the option that sets it")
        bad = _first_non_finite(value)
        if bad is not None:
            raise ConfigTypeError(f"{type(config).__name__}.{field.name} must be finite, got {bad}: fix it in the "
                                  "config file or the option that sets it")
