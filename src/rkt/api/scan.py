"""Calls that arrive together share one walk of the data dir (and never get an older one).

Fifty clients listing pods at once would each walk every pod directory, on a Python process
that does one thing at a time. Instead a call waits for the next walk that *starts after it
arrived*, which one of the waiting calls performs for all of them: its answer is as fresh as
if it had walked alone, and a burst of calls costs about two walks. Nothing is kept beyond the
latest answer, which a later call never uses (it always waits for a newer walk).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["SharedScan"]

T = TypeVar("T")


class SharedScan(Generic[T]):
    def __init__(self, walk: Callable[[], T]) -> None:
        self._walk = walk
        self._changed = threading.Condition()
        self._started = 0  # walks begun
        self._finished = 0  # the walk whose answer (or error) is held
        self._running = False
        self._answer: tuple[T | None, BaseException | None] = (None, None)

    def get(self) -> T:
        with self._changed:
            wanted = self._started + 1  # the first walk to begin after this call
            while self._finished < wanted:
                if not self._running:
                    self._running = True
                    self._started += 1
                    mine = self._started
                    break
                self._changed.wait()
            else:
                return self._unpack(self._answer)
        answer: tuple[T | None, BaseException | None]
        try:
            answer = (self._walk(), None)
        except BaseException as err:
            answer = (None, err)
        with self._changed:
            self._running = False
            self._finished = mine
            self._answer = answer
            self._changed.notify_all()
        return self._unpack(answer)

    @staticmethod
    def _unpack(answer: tuple[T | None, BaseException | None]) -> T:
        value, error = answer
        if error is not None:
            raise error
        return value  # type: ignore[return-value]
