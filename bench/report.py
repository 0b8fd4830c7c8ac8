"""What a scenario hands back (a table, the goals it checked, raw data), and how it is printed and saved."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Goal:
    """One of the issue's goals: what was measured against what was asked."""

    name: str
    measured: str
    target: str
    passed: bool | None  # None: could not be judged in this run

    @property
    def verdict(self) -> str:
        return "—" if self.passed is None else ("PASS" if self.passed else "MISS")


@dataclass
class Result:
    scenario: str
    backend: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def spread(values: list[float]) -> dict[str, float]:
    """Median, min and max (rounded), as every repeated figure is reported."""
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "n": len(values),
    }


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def table(columns: list[str], rows: list[list[Any]]) -> str:
    cells = [columns, *[[fmt(value) for value in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def render(result: Result) -> str:
    parts = [f"== {result.title} [{result.backend}]", table(result.columns, result.rows)]
    if result.goals:
        parts.append(
            table(
                ["goal", "measured", "target", "verdict"],
                [[g.name, g.measured, g.target, g.verdict] for g in result.goals],
            )
        )
    parts.extend(f"note: {note}" for note in result.notes)
    return "\n".join(parts) + "\n"


def summary(results: list[Result]) -> str:
    rows = [[r.backend, g.name, g.measured, g.target, g.verdict] for r in results for g in r.goals]
    return "== Goals\n" + table(["backend", "goal", "measured", "target", "verdict"], rows) + "\n"


def save(path: Path, header: dict[str, Any], results: list[Result]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        **header,
        "results": [asdict(r) | {"goals": [asdict(g) | {"verdict": g.verdict} for g in r.goals]} for r in results],
    }
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")
