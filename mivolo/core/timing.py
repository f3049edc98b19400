"""Wall time per pipeline stage, summed over a run."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict
from typing import Dict, Iterator


class StageClock:
    """Wall time per stage, summed over the run; safe to use from several threads."""

    def __init__(self):
        self.seconds: Dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self.seconds[stage] += elapsed

    def timed(self, stage: str, items: Iterator) -> Iterator:
        """`items`, with the time spent producing each one charged to `stage`."""
        iterator = iter(items)
        while True:
            with self(stage):
                item = next(iterator, StopIteration)
            if item is StopIteration:
                return
            yield item
