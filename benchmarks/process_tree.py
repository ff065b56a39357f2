"""Run a command and sample the resident memory of its whole process tree (node children included)."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

SAMPLE_SECONDS = 0.02


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_mb: float
    returncode: int
    stderr: str


def measure(cmd: list[str], env: dict[str, str], cwd: Path) -> Sample:
    """Run ``cmd``; wall time, peak RSS of it and all its descendants (every 20 ms), exit code, stderr."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        try:
            root = psutil.Process(proc.pid)
            while not done.is_set():
                total = 0
                for p in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        total += p.memory_info().rss
                peak = max(peak, total)
                time.sleep(SAMPLE_SECONDS)
        except psutil.NoSuchProcess:
            return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    return Sample(elapsed, peak / 2**20, proc.returncode, err.decode(errors="replace"))
