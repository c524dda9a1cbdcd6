"""``@record`` behaves as ``@dataclass(frozen=True)``: repr, equality, hash, fields, replace."""

from __future__ import annotations

import dataclasses

import pytest

from dsplan.model.flops import Shape
from dsplan.records import record


@record
class Point:
    x: float
    y: float = 0.0
    label: str = dataclasses.field(default="", compare=False)
    secret: str = dataclasses.field(default="", repr=False)


@dataclasses.dataclass(frozen=True)
class Twin:
    x: float
    y: float = 0.0
    label: str = dataclasses.field(default="", compare=False)
    secret: str = dataclasses.field(default="", repr=False)


# No NaN field: dataclasses themselves compare it differently by Python version (3.13 compares
# field by field, so an instance holding NaN is unequal to itself; earlier versions compare tuples).
@pytest.mark.parametrize("args", [(1.0,), (1.0, 2.0, "a", "s"), (-0.0, 0.0, "b")])
def test_a_record_is_a_frozen_dataclass(args: tuple[object, ...]) -> None:
    p, t = Point(*args), Twin(*args)  # type: ignore[arg-type]
    assert repr(p) == repr(t).replace("Twin(", "Point(")
    assert (p == Point(*args)) == (t == Twin(*args))  # type: ignore[arg-type]
    assert hash(p) == hash(t)
    assert [f.name for f in dataclasses.fields(p)] == [f.name for f in dataclasses.fields(t)]
    assert dataclasses.asdict(p) == dataclasses.asdict(t)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 3.0  # type: ignore[misc]


def test_equality_ignores_compare_false_and_other_classes() -> None:
    assert Point(1.0, label="a") == Point(1.0, label="b")
    assert Point(1.0) != Point(2.0)
    assert Point(1.0) != Twin(1.0)
    assert dataclasses.replace(Point(1.0), y=5.0) == Point(1.0, 5.0)


def test_result_types_read_and_compare() -> None:
    s = Shape.build(30, 4096)
    assert repr(s).startswith("Shape(n_layers=30, d_model=4096, ")
    assert s == Shape.build(30, 4096) and hash(s) == hash(Shape.build(30, 4096))
    assert len({s, Shape.build(30, 4096), Shape.build(32, 4096)}) == 2


def test_fields_are_set_once_and_nothing_is_added_or_deleted() -> None:
    p = Point(1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.other = 1  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del p.x
    assert p.x == 1.0


def test_a_method_the_class_writes_is_kept() -> None:
    @record
    class Named:
        name: str

        def __repr__(self) -> str:
            return f"<{self.name}>"

    assert repr(Named("a")) == "<a>"
    assert Named("a") == Named("a")
