"""A list of specs (quality metrics, geometric components) that code reads live.

The list itself is the declaration (`METRICS`, `COMPONENTS`); `SpecRegistry` adds the
name view every table is generated from and run-time registration for tests and
experiments, so both kinds of spec behave alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Generic, Protocol, TypeVar


class _Named(Protocol):
    name: str


T = TypeVar("T", bound=_Named)


class _Names(Sequence[str]):
    """The specs' names in list order, read live (registered ones included)."""

    def __init__(self, specs: list[Any]) -> None:
        self._specs = specs

    def __getitem__(self, i: Any) -> Any:
        return tuple(s.name for s in self._specs)[i]

    def __len__(self) -> int:
        return len(self._specs)

    def __repr__(self) -> str:
        return repr(tuple(self))


class SpecRegistry(Generic[T]):
    """`get`, `register`, `unregister`, `registered` and `names` over one spec list;
    `check(spec)` raises ValueError for a spec that cannot be added."""

    def __init__(self, specs: list[T], kind: str,
                 check: Callable[[T], None] | None = None) -> None:
        self.specs, self.kind, self._check = specs, kind, check
        self.names: Sequence[str] = _Names(specs)

    def get(self, name: str) -> T:
        for s in self.specs:
            if s.name == name:
                return s
        raise KeyError(name)

    def register(self, spec: T) -> None:
        """Add a spec at run time (the normal way is an entry in the list)."""
        if any(s.name == spec.name for s in self.specs):
            raise ValueError(f"a {self.kind} named {spec.name!r} exists already")
        if self._check is not None:
            self._check(spec)
        self.specs.append(spec)

    def unregister(self, name: str) -> None:
        self.specs.remove(self.get(name))

    def exports(self) -> tuple[Sequence[str], Callable[[str], T], Callable[[T], None],
                               Callable[[str], None], Callable[[T], Any]]:
        """`NAMES, get, register, unregister, registered` for the spec module."""
        return self.names, self.get, self.register, self.unregister, self.registered

    @contextmanager
    def registered(self, spec: T) -> Iterator[T]:
        """`register` for the duration of a `with` block (tests, experiments)."""
        self.register(spec)
        try:
            yield spec
        finally:
            self.unregister(spec.name)
