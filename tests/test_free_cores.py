"""Threads per request follow the cores other work leaves free: one thread more than free cores makes llama.cpp's
spinning threads wait on each other (measured in docs/bench_generation.md)."""

import subprocess
import sys

from assistant.llm.cpu import FreeCores


def test_threads_follow_the_free_cores_and_stay_within_the_limit():
    cores = FreeCores(cores=2)
    cores._started = True  # no sampler thread: observations are given by the test
    cores.observe(0.2)
    assert cores.threads(2) == 2  # a light neighbour: both cores
    cores.observe(1.8)
    cores.observe(1.8)
    assert cores.others() >= 1.4 and cores.threads(2) == 1  # a busy one: one thread, never zero
    cores.observe(2.0)
    assert cores.threads(2) == 1
    many = FreeCores(cores=8)
    many._started = True
    many.observe(0.0)
    assert many.threads(4) == 4  # never more than configured


def test_a_busy_process_at_normal_priority_counts_and_a_niced_one_does_not():
    cores = FreeCores(cores=1)  # per-core share is what matters: report in units of one core
    code = "import time\nend = time.time() + 3\nwhile time.time() < end: pass\n"
    for niceness, expect_busy in ((0, True), (19, False)):
        busy = subprocess.Popen([sys.executable, "-c", f"import os; os.nice({niceness})\n{code}"])
        try:
            seen = cores._sample(1.0) * FreeCores().cores  # cores busy with others' normal-priority work
        finally:
            busy.wait()
        if expect_busy:
            assert seen >= 0.5, seen
        else:
            baseline = cores._sample(0.5) * FreeCores().cores  # whatever else runs on this machine now
            assert seen <= baseline + 0.5, (seen, baseline)
