"""Package namespaces that import their modules when a name is first used (PEP 562).

A package such as :mod:`posekit.models.decoder` re-exports the names of its modules
(``from posekit.models.decoder import PoseDecoder``). Importing them all in ``__init__`` would make
reading one light module (its ``config``, which the command line reads for its defaults) pay for
torch and the model code. With :func:`lazy_exports` the package imports a module only when one of
its names is asked for, and ``from package import *`` and ``dir(package)`` still list every name::

    __getattr__, __dir__, __all__ = lazy_exports(__name__, {
        "config": ("PoseDecoderConfig", "DecoderTrainConfig"),
        "network": ("PoseDecoder",),
    })
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, Iterable[str]]
                 ) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``, whose ``exports`` map each submodule
    (relative name) to the names it gives the package."""
    owner: dict[str, str] = {}
    for module, names in exports.items():
        for name in names:
            if name in owner:
                raise ValueError(f"{package}: {name!r} is exported by both {owner[name]!r} and {module!r}")
            owner[name] = module
    names = list(owner)

    def __getattr__(name: str):
        module = owner.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        globals_of_package = importlib.import_module(package).__dict__
        globals_of_package[name] = value  # the next look-up is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(names) | set(importlib.import_module(package).__dict__))

    return __getattr__, __dir__, names
