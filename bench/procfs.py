"""Every live process, from /proc, in one pass: what the benchmarks sample
for CPU and resident memory (Linux only, like the benchmarks)."""
from __future__ import annotations

import dataclasses
import os

PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclasses.dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    pgid: int
    state: str
    start: str      # start time in clock ticks: with pid, the process's identity
    cpu_ticks: int  # user + system
    rss_kib: int
    name: str = ""  # the command name (/proc/PID/comm, at most 15 characters)


def snapshot() -> dict[int, Proc]:
    """The processes alive now; those that end while being read are left out."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                head, tail = handle.read().rsplit(")", 1)
            with open(f"/proc/{entry}/statm") as handle:
                pages = int(handle.read().split()[1])
        except OSError:
            continue
        fields = tail.split()
        pid = int(entry)
        found[pid] = Proc(pid, int(fields[1]), int(fields[2]), fields[0], fields[19],
                          int(fields[11]) + int(fields[12]), pages * PAGE_KIB,
                          head.split("(", 1)[1] if "(" in head else "")
    return found


def tree(processes: dict[int, Proc], root: int) -> list[Proc]:
    """``root`` and all its descendants that are alive, root first."""
    children: dict[int, list[int]] = {}
    for proc in processes.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        if pid in processes:
            found.append(processes[pid])
        stack.extend(sorted(children.get(pid, []), reverse=True))
    return found


def tree_rss_kib(processes: dict[int, Proc], root: int) -> int:
    """Resident memory of ``root`` and all its descendants."""
    return sum(proc.rss_kib for proc in tree(processes, root))
