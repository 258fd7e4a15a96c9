"""Timing and reporting helpers for the benchmarks: interleaved samples, one table, the doc block.

The machine is noisy, so nothing is reported alone: each subject is sampled in the same loop as
its floor (round-robin, one call of each per iteration), and the table shows the ratio of the
medians next to the raw figures.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BEGIN = "<!-- bench:begin (written by `make bench`; edit outside this block) -->"
END = "<!-- bench:end -->"


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def interleaved(
    subjects: dict[str, Callable[[int], object]], *, iterations: int, warmup: int
) -> dict[str, list[float]]:
    """Call every subject once per iteration, in turn; return seconds per call, warm-up dropped.

    Each subject receives the iteration index (so it can use a fresh user or row each time).
    """
    samples: dict[str, list[float]] = {name: [] for name in subjects}
    clock = time.perf_counter
    for i in range(warmup + iterations):
        for name, call in subjects.items():
            started = clock()
            call(i)
            elapsed = clock() - started
            if i >= warmup:
                samples[name].append(elapsed)
    return samples


@dataclass
class Row:
    """One line of the table. Times in seconds (shown in ms); counts and sizes as given."""

    section: str
    what: str
    median: float | None = None
    p95: float | None = None
    floor: str = ""
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None
    note: str = ""
    unit: str = "ms"

    def cells(self) -> list[str]:
        return [
            self.section,
            self.what,
            _fmt(self.median, self.unit),
            _fmt(self.p95, self.unit),
            self.floor,
            f"{self.ratio:.2f}x" if self.ratio is not None else "",
            self.goal,
            {True: "yes", False: "**NO**", None: ""}[self.met],
            self.note,
        ]


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit == "ms":
        return f"{value * 1000:.2f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "%":
        return f"{value:.1f} %"
    if unit == "":
        return f"{value:g}"
    return f"{value:g} {unit}"


HEADER = ["Section", "Measure", "Median", "p95", "Floor (same run)", "Ratio", "Goal", "Met", "Note"]


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows:
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row.cells()) + " |")
    return "\n".join(lines)


def write_block(doc: Path, block: str) -> None:
    """Replace the generated block of `doc` (create the doc with just the block if missing)."""
    text = doc.read_text() if doc.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip() + f"\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    doc.write_text(f"{head}{BEGIN}\n{block.strip()}\n{END}{tail}")
