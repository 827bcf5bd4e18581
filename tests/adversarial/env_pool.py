"""A pool of envs kept for one test module, so attacks reset a shared env instead of making their own.

Why: making an env and its first reset (a task build, a sandbox, a database copy) cost seconds,
and the attacks used to make and close one each. A reset restores the sandbox or copies the
database afresh, so nothing one attack left behind is there for the next; two episodes at once
(an attack and its neighbour) take two envs. The module's autouse fixture closes the pool.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterator
from typing import Any


class EnvPool:
    def __init__(self) -> None:
        self._free: dict[Hashable, list[Any]] = defaultdict(list)
        self._all: list[Any] = []

    @contextlib.contextmanager
    def borrow(self, key: Hashable, make: Callable[[], Any]) -> Iterator[Any]:
        """A free env under `key` (made by `make` when there is none), given back afterwards."""
        env = self._free[key].pop() if self._free[key] else None
        if env is None:
            env = make()
            self._all.append(env)
        try:
            yield env
        finally:
            self._free[key].append(env)

    def close(self) -> None:
        while self._all:
            self._all.pop().close()
        self._free.clear()
