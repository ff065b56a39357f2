"""Process facts the pipeline needs (LocalStack's process group, its workers, the e2e run's tree), from psutil.

psutil reads ``/proc`` on Linux; this module only names the questions the pipeline asks, so a process
that has gone is an answer (``None``, ``0``, ``[]``, ``False``), never an exception.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psutil

_GONE = (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError, PermissionError)


@dataclass(frozen=True)
class Stat:
    """A process's state, parent pid and process group id."""

    state: str  # "Z": a zombie (the letter of /proc/<pid>/stat)
    ppid: int
    pgid: int


def all_pids() -> list[int]:
    return psutil.pids()


def stat(pid: int) -> Stat | None:
    """The process's state, parent and group; None when it does not exist."""
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            zombie = process.status() == psutil.STATUS_ZOMBIE
            return Stat("Z" if zombie else "R", process.ppid(), os.getpgid(pid))
    except _GONE:
        return None


def alive(pid: int) -> bool:
    found = stat(pid)
    return found is not None and found.state != "Z"


def cmdline(pid: int) -> list[str]:
    try:
        return psutil.Process(pid).cmdline()
    except (*_GONE, psutil.ZombieProcess):
        return []


def cwd(pid: int) -> Path | None:
    try:
        return Path(psutil.Process(pid).cwd())
    except (*_GONE, psutil.ZombieProcess):
        return None


def rss(pid: int) -> int:
    """Resident memory of one process in bytes (0 when it has gone)."""
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except (*_GONE, psutil.ZombieProcess):
        return 0


def group_members(pgid: int) -> list[int]:
    """Pids of the non-zombie processes in process group ``pgid``."""
    return [
        pid for pid in psutil.pids() if (found := stat(pid)) is not None and found.pgid == pgid and found.state != "Z"
    ]


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, grandchildren...), whatever their session or group."""
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except _GONE:
        return []
