"""``@record``: a frozen dataclass, built in less time at import.

``@dataclass(frozen=True)`` writes and compiles six methods per class (``__init__``,
``__setattr__``, ``__delattr__``, ``__repr__``, ``__eq__``, ``__hash__``): about 0.6 ms a class, and
the ~20 result types that ``dsplan budget`` imports made it 10 of the 20 ms that dsplan adds to
``import typer`` (bench/startup.py's ratio is 1.3 at most). ``@record`` lets dataclasses write
``__init__`` alone (0.2 ms) and shares the other five among all records, with dataclasses' own
behaviour: fields are set once, by ``__init__``, and never again (``FrozenInstanceError``); the
repr ``Name(field=value, ...)`` over the fields with ``repr=True``; equality of the same class over
the fields with ``compare=True``; the hash of those (or of ``hash=True``) fields.
``dataclasses.fields``, ``replace`` and ``asdict`` work as on any dataclass (tests/test_records.py).
It is used where a class sits on a start-up path; elsewhere a plain dataclass is as good.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import FrozenInstanceError, dataclass, fields
from typing import Any, TypeVar

if sys.version_info >= (3, 11):
    from typing import dataclass_transform
else:  # pragma: no cover - mypy checks with the newest typing

    def dataclass_transform(**_: Any) -> Callable[[Any], Any]:
        return lambda f: f


T = TypeVar("T")


def _names(cls: type, which: str) -> tuple[str, ...]:
    cache = f"_record_{which}"
    names: tuple[str, ...] | None = cls.__dict__.get(cache)
    if names is None:
        if which == "all":
            names = tuple(f.name for f in fields(cls))
        elif which == "hash":
            names = tuple(f.name for f in fields(cls) if (f.compare if f.hash is None else f.hash))
        else:
            names = tuple(f.name for f in fields(cls) if getattr(f, which))
        setattr(cls, cache, names)
    return names


def _repr(self: Any) -> str:
    cls = type(self)
    inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in _names(cls, "repr"))
    return f"{cls.__qualname__}({inner})"


def _eq(self: Any, other: object) -> object:
    if other.__class__ is not self.__class__:
        return NotImplemented
    names = _names(type(self), "compare")
    return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)


def _hash(self: Any) -> int:
    return hash(tuple(getattr(self, n) for n in _names(type(self), "hash")))


def _setattr(self: Any, name: str, value: Any) -> None:
    # The generated __init__ sets each field once; after that, as on a frozen dataclass, nothing.
    # The hot path of every record built (the layout search builds thousands): one dict, one set.
    own = self.__dict__
    if name in own or name not in self._record_fields:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")
    own[name] = value


def _delattr(self: Any, name: str) -> None:  # noqa: ARG001 - object.__delattr__'s signature
    raise FrozenInstanceError(f"cannot delete field {name!r}")


@dataclass_transform(frozen_default=True)
def record(cls: type[T]) -> type[T]:
    """A frozen dataclass with dataclasses' repr, equality and hash (see the module docstring)."""
    own = set(cls.__dict__)  # as dataclasses do, a method the class writes itself is kept
    built = dataclass(repr=False, eq=False)(cls)
    shared = {"__setattr__": _setattr, "__delattr__": _delattr, "__repr__": _repr}
    shared.update({"__eq__": _eq, "__hash__": _hash})
    for name, method in shared.items():
        if name not in own:
            setattr(built, name, method)
    names = frozenset(f.name for f in fields(built))  # type: ignore[arg-type]
    type.__setattr__(built, "_record_fields", names)
    return built
