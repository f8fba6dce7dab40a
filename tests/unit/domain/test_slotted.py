"""fast_init: the same constructor as the dataclass-generated one, only cheaper."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from dataclasses import dataclass, field

import pytest

from domain.slotted import fast_init

calls: list[str] = []


def make(decorate: bool) -> type:
    @dataclass(frozen=True, slots=True)
    class Sample:
        required: int
        text: str = "default"
        items: list = field(default_factory=list)
        fixed: int = field(default=3, init=False)
        memo: dict = field(default_factory=dict, init=False, compare=False, repr=False)
        derived: int = field(init=False)
        flag: bool = field(default=False, kw_only=True)

        def __post_init__(self) -> None:
            calls.append(type(self).__name__)
            object.__setattr__(self, "derived", self.required * 2)

    return fast_init(Sample) if decorate else Sample


PLAIN, FAST = make(False), make(True)


@fast_init
@dataclass(frozen=True, slots=True)
class Pickled:
    x: int
    y: list = field(default_factory=list)


@pytest.mark.parametrize(("args", "kwargs"), [
    ((1,), {}), ((1, "x"), {}), ((1, "x", [2]), {"flag": True}), ((), {"required": 5, "items": [1]}),
])
def test_same_values_defaults_and_post_init(args, kwargs):
    plain, fast = PLAIN(*args, **kwargs), FAST(*args, **kwargs)
    assert dataclasses.astuple(plain) == dataclasses.astuple(fast)
    assert repr(plain) == repr(fast)
    assert fast.memo == {} and fast.memo is not FAST(1).memo  # a fresh factory value each time
    assert fast.items is not FAST(1).items or kwargs.get("items") or len(args) > 2


def test_same_signature_and_errors():
    assert str(inspect.signature(FAST)) == str(inspect.signature(PLAIN))
    for bad_args, bad_kwargs in [((), {}), ((1, 2, 3, 4), {}), ((1,), {"nope": 1}), ((1,), {"fixed": 2})]:
        with pytest.raises(TypeError) as plain_error:
            PLAIN(*bad_args, **bad_kwargs)
        with pytest.raises(TypeError) as fast_error:
            FAST(*bad_args, **bad_kwargs)
        assert str(fast_error.value).split("() ", 1)[1] == str(plain_error.value).split("() ", 1)[1]


def test_instances_stay_frozen_and_work_with_replace_and_pickle():
    sample = FAST(1, "x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample.required = 2  # type: ignore[misc]
    changed = dataclasses.replace(sample, required=4)
    assert (changed.required, changed.derived, changed.text) == (4, 8, "x")
    assert pickle.loads(pickle.dumps(Pickled(1, [2]))) == Pickled(1, [2])
    calls.clear()
    FAST(1)
    assert calls == ["Sample"]


def test_classes_it_cannot_reproduce_are_refused():
    @dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclass(slots=True)
    class NotFrozen:
        x: int

    @dataclass(frozen=True, slots=True)
    class WithInitVar:
        x: int
        y: dataclasses.InitVar[int] = 0

    for cls in (NoSlots, NotFrozen, WithInitVar):
        with pytest.raises(TypeError):
            fast_init(cls)
