"""CPU-time accounting from /proc shared by the benchmark scripts (Linux only): a
process's CPU seconds, and the processes below it (the driver JVM and the Python
workers it forks), so that figures taken on a loaded machine can be read as CPU."""
from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime+stime of ``pid`` (with ``children``, plus its reaped children's); 0 if gone."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    t = int(f[11]) + int(f[12]) + ((int(f[13]) + int(f[14])) if children else 0)
    return t / TICK


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children of all its threads, recursively)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                kids = [int(k) for k in Path(f"/proc/{p}/task/{t}/children").read_text().split()]
            except OSError:
                kids = []
            out += kids
            todo += kids
    return out
