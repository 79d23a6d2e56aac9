"""How many cores the next generation can have to itself.

llama.cpp's threads meet at a barrier after every operation of every token, and wait there spinning: with more
threads than free cores, one of them is always descheduled and the rest spin for it. Measured on this 2-core
machine beside other work (load average 7.5): 64 tokens took 194 s with 2 threads and 22 s with 1. So an engine
asks, per request, how many cores others leave free, and uses that many threads (never more than configured).

Other processes' use is read from /proc/stat minus this process's own (/proc/self/stat), sampled once a second
by a daemon thread and smoothed; work at a lower priority (`nice`, as the job workers run) does not count, since
the scheduler hands its core to us when we need it.
"""

from __future__ import annotations

import os
import threading
import time

SAMPLE_S = 1.0
SMOOTHING = 0.5  # weight of the newest sample: a busy neighbour shows up within two or three seconds


def _busy_ticks() -> tuple[int, int]:
    """(ticks all CPUs spent busy at normal priority, all ticks) since boot, from /proc/stat's first line."""
    with open("/proc/stat", encoding="ascii") as handle:
        fields = [int(v) for v in handle.readline().split()[1:9]]
    user, _nice, system, _idle, _iowait, irq, softirq, steal = fields
    return user + system + irq + softirq + steal, sum(fields)


def _own_ticks() -> int:
    """Ticks this process (all its threads) has run, from /proc/self/stat (utime + stime)."""
    with open("/proc/self/stat", encoding="ascii") as handle:
        after_name = handle.read().rsplit(")", 1)[1].split()
    return int(after_name[11]) + int(after_name[12])


class FreeCores:
    """A smoothed estimate of the cores other processes leave free; `threads(limit)` for the next request."""

    def __init__(self, cores: int | None = None) -> None:
        self.cores = cores or os.cpu_count() or 1
        self._others = 0.0  # cores busy with other processes' normal-priority work
        self._lock = threading.Lock()  # guards _others, _seen and _started
        self._seen = False
        self._started = False

    def threads(self, limit: int) -> int:
        """Threads to use now: the free cores, rounded, at least 1 and at most `limit`."""
        self._start()
        with self._lock:
            free = self.cores - self._others
        return max(1, min(limit, int(free + 0.5)))

    def others(self) -> float:
        with self._lock:
            return self._others

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        try:
            self.observe(self._sample(0.2))  # a first reading before the first request, not a guess
        except OSError:
            return  # no /proc (not Linux): every core, as configured
        threading.Thread(target=self._run, name="free-cores", daemon=True).start()

    def observe(self, others: float) -> None:
        with self._lock:
            self._others = SMOOTHING * others + (1 - SMOOTHING) * self._others if self._seen else others
            self._seen = True

    def _sample(self, seconds: float) -> float:
        busy0, total0 = _busy_ticks()
        own0 = _own_ticks()
        time.sleep(seconds)
        busy1, total1 = _busy_ticks()
        own1 = _own_ticks()
        if total1 <= total0:
            return 0.0
        others = max(0, (busy1 - busy0) - (own1 - own0))
        return others / (total1 - total0) * self.cores

    def _run(self) -> None:
        while True:
            try:
                self.observe(self._sample(SAMPLE_S))
            except OSError:
                return


FREE_CORES = FreeCores()  # one per process: every engine in it shares the machine's cores
