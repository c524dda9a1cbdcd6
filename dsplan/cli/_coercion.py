"""Option values without pydantic, for typer >= 0.29.

typer 0.29 coerces every parameter value through a pydantic ``TypeAdapter``: the first option a
command parses imports pydantic, about 55 ms of a 70 ms ``dsplan budget 1e24 --format json``
(``python -X importtime``: ``typer._adapters`` -> ``pydantic``; bench/startup.py measures it). Our
parameters are all plain ``str``, ``int``, ``float``, ``Path``, enums, lists of ``str`` and
``--format``'s parser, which need none of that: this module gives each such parameter a small
coercion of its own, with the error texts of typer < 0.29 (click's), so both versions behave alike.
Anything else is left to typer. It leans on typer's private ``core._TyperParameter`` (its
``get_runtime_param``, ``type_descriptor`` and ``_runtime_param``) and ``_coercion.RuntimeParam``;
if they change, nothing here applies and typer's own (slower) path runs, which
tests/test_startup.py then reports.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import typer


def _as_int(value: Any) -> int:
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        raise typer.BadParameter(f"{value!r} is not a valid int.") from None


def _as_float(value: Any) -> float:
    if isinstance(value, float):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        raise typer.BadParameter(f"{value!r} is not a valid float.") from None


def _as_str(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


_TRUE = ("1", "true", "t", "yes", "y", "on")
_FALSE = ("0", "false", "f", "no", "n", "off")


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise typer.BadParameter(f"{value!r} is not a valid boolean.")


def _as_path(value: Any) -> Path:
    return value if isinstance(value, Path) else Path(value)


def _as_enum(enum: type[Enum]) -> Callable[[Any], Any]:
    choices = ", ".join(repr(m.value) for m in enum)

    def convert(value: Any) -> Any:
        if isinstance(value, enum):
            return value
        try:
            return enum(value)
        except ValueError:
            raise typer.BadParameter(f"{value!r} is not one of {choices}.") from None

    return convert


_LEAVES: dict[Any, Callable[[Any], Any]] = {
    int: _as_int,
    float: _as_float,
    str: _as_str,
    bool: _as_bool,
    Path: _as_path,
}


def _converter(annotation: Any, parameter_info: Any) -> Callable[[Any], Any] | None:
    if any(getattr(parameter_info, k, None) is not None for k in ("min", "max")):
        return None
    parser = parameter_info.parser
    if parser is not None:
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            enum = annotation  # as typer < 0.29 does: the parser's result, then the member
            return lambda value: enum(parser(value))
        return parser  # type: ignore[no-any-return]
    if annotation is Path and any(
        getattr(parameter_info, k, False)
        for k in ("exists", "resolve_path", "allow_dash", "path_type")
    ):
        return None
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _as_enum(annotation)
    leaf = _LEAVES.get(annotation)
    if leaf is not None:
        return leaf
    if getattr(annotation, "__origin__", None) is list:
        (item,) = annotation.__args__
        each = _LEAVES.get(item)
        if each is not None:
            return lambda values: [each(v) for v in values]
    return None


def _plain_coercion_class(runtime_param: Any) -> Any:
    """A subclass of typer's ``RuntimeParam`` whose instances carry a ``convert`` function."""

    def _coerce_value(self: Any, value: Any, param: Any, ctx: Any) -> Any:
        try:
            return self.convert(value)
        except typer.BadParameter as exc:
            exc.ctx, exc.param = exc.ctx or ctx, exc.param or param
            raise

    return type("PlainRuntimeParam", (runtime_param,), {"_coerce_value": _coerce_value})


def skip_pydantic() -> None:
    """Make typer >= 0.29 coerce our parameters without pydantic (a no-op on older typer)."""
    try:  # private to typer >= 0.29, looked up at run time so that mypy checks either version
        runtime_param = importlib.import_module("typer._coercion").RuntimeParam
        parameter = importlib.import_module("typer.core")._TyperParameter
    except (ImportError, AttributeError):  # typer < 0.29: click's own types, no pydantic
        return
    if getattr(parameter, "_dsplan_plain", False):
        return
    plain = _plain_coercion_class(runtime_param)
    typers_own = parameter.get_runtime_param

    def get_runtime_param(self: Any) -> Any:
        if getattr(self, "_runtime_param", False) is None:
            descriptor = self.type_descriptor
            convert = None
            if descriptor.file_annotation is None:
                convert = _converter(descriptor.annotation, descriptor.parameter_info)
            if convert is not None:
                coercion = plain(
                    parameter_info=descriptor.parameter_info, annotation=descriptor.annotation
                )
                object.__setattr__(coercion, "convert", convert)  # a frozen dataclass
                self._runtime_param = coercion
        return typers_own(self)

    parameter.get_runtime_param = get_runtime_param
    parameter._dsplan_plain = True
