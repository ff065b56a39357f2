"""What ``/proc`` says about processes: the one place the pipeline reads it (LocalStack's group, its workers)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Stat:
    """The fields of ``/proc/<pid>/stat`` the pipeline uses."""

    state: str  # "Z": a zombie
    ppid: int
    pgid: int


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode(errors="replace")
    except OSError:  # the process has gone
        return ""


def all_pids() -> list[int]:
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


def stat(pid: int) -> Stat | None:
    """The process's state, parent and group; None when it does not exist."""
    text = _read(PROC / str(pid) / "stat")
    # "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses: split after the last ')'.
    fields = text.rpartition(")")[2].split()
    return Stat(fields[0], int(fields[1]), int(fields[2])) if len(fields) > 2 else None


def alive(pid: int) -> bool:
    found = stat(pid)
    return found is not None and found.state != "Z"


def cmdline(pid: int) -> list[str]:
    return _read(PROC / str(pid) / "cmdline").split("\0")


def cwd(pid: int) -> Path | None:
    try:
        return (PROC / str(pid) / "cwd").readlink()
    except OSError:
        return None


def rss(pid: int) -> int:
    """Resident memory of one process in bytes (0 when it has gone)."""
    for line in _read(PROC / str(pid) / "status").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def group_members(pgid: int) -> list[int]:
    """Pids of the non-zombie processes in process group ``pgid``."""
    return [pid for pid in all_pids() if (found := stat(pid)) is not None and found.pgid == pgid and found.state != "Z"]


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, grandchildren...), whatever their session or group."""
    children: dict[int, list[int]] = {}
    for child in all_pids():
        if (found := stat(child)) is not None:
            children.setdefault(found.ppid, []).append(child)
    found_all, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found_all.append(child)
            todo.append(child)
    return found_all
