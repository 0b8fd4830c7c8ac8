"""The weekly digest's chart: per day, contacts and follow-ups done as bars and the mood as a line, as a PNG.

Drawn with matplotlib's object-oriented API on the Agg canvas (never pyplot: no global figure state), in our
static CJK subsets (`bot.fonts`), every word from the `chart` catalog. A chart takes tens of milliseconds of CPU
and matplotlib holds tens of MiB, neither of which belongs in the bot's event loop or memory: `ChartRenderer`
renders in worker processes (spawned, so the bot process never imports matplotlib; the import stays inside the
functions below, which only run in a worker or in a test).
"""

from __future__ import annotations

import asyncio
import functools
import io
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from bot.i18n import t
from bot.week import Day, Numbers

# 960 × 720 px: fills a phone's width in Telegram, text still readable when shrunk to it.
WIDTH_IN, HEIGHT_IN, DPI = 8.0, 6.0, 120
DAY_KEYS = (
    "chart.day.mon",
    "chart.day.tue",
    "chart.day.wed",
    "chart.day.thu",
    "chart.day.fri",
    "chart.day.sat",
    "chart.day.sun",
)
CONTACTS_COLOUR = "#4C78A8"
FOLLOW_UPS_COLOUR = "#F58518"
MOOD_COLOUR = "#2CA02C"
BAR_WIDTH = 0.38
# zlib level of the PNG. CPU per chart on a reused figure, 60 varied weeks, 4 runs on a busy 2-core machine:
# level 6 (Pillow's default) 46–49 ms and 49.7 KiB, 3 39–47 ms and 56.7 KiB, 1 40–48 ms and 57.9 KiB.
PNG_COMPRESSION = 3

# One drawn chart per language and variant (an agent's own, a team's) and process, whose data is replaced for each
# week (see `render_week_chart`).
_charts: dict[tuple[str, bool], _Chart] = {}


def render_week_chart(numbers: Numbers, language: str, *, reuse_figure: bool = True, team: bool = False) -> bytes:
    """The week's chart as PNG bytes, in `language`.

    `team` draws a team's week for its lead: the same bars, without the mood line (a mood is an agent's own
    answer, not a count a lead sees), under the team's title.

    `reuse_figure` keeps one drawn Figure per language in this process and only replaces its data (bar heights,
    the mood line, labels): a median chart takes about two thirds of the time of building the axes again
    (bench/charts.py). What is drawn is the same either way; the test compares the bytes after other weeks were
    drawn in between.
    """
    from matplotlib import rc_context

    from bot.fonts import register

    with rc_context({"font.family": register()[language], "axes.unicode_minus": False}):
        chart = _charts.get((language, team)) if reuse_figure else None
        if chart is None:
            chart = _Chart(language, team)
            if reuse_figure:
                _charts[(language, team)] = chart
        chart.show(numbers)
        out = io.BytesIO()
        chart.figure.savefig(out, format="png", dpi=DPI, pil_kwargs={"compress_level": PNG_COMPRESSION})
    return out.getvalue()


class _Chart:
    """The figure of one language: what never changes is drawn once, `show()` puts one week's data in."""

    def __init__(self, language: str, team: bool = False) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        self.language, self.team = language, team
        figure = self.figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, facecolor="white")
        FigureCanvasAgg(figure)
        figure.subplots_adjust(left=0.1, right=0.89, top=0.87, bottom=0.22)  # fixed: no layout engine to run
        axes = self.axes = figure.add_subplot()
        x = list(range(7))
        self.contact_bars = axes.bar(
            [n - BAR_WIDTH / 2 for n in x], [0] * 7, BAR_WIDTH, color=CONTACTS_COLOUR, zorder=2
        )
        self.follow_up_bars = axes.bar(
            [n + BAR_WIDTH / 2 for n in x], [0] * 7, BAR_WIDTH, color=FOLLOW_UPS_COLOUR, zorder=2
        )
        self.bar_labels: list[Any] = []
        axes.set_xticks(x, [""] * 7, fontsize=13)
        axes.set_xlim(-0.6, 6.6)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.tick_params(axis="y", labelsize=12)
        axes.set_ylabel(t(language, "chart.axis.count"), fontsize=13)
        axes.grid(axis="y", color="#DDDDDD", zorder=0)
        axes.spines[["top"]].set_visible(False)

        handles: list[Any] = [self.contact_bars, self.follow_up_bars]  # bars are containers
        labels = [t(language, "chart.contacts"), t(language, "chart.follow_ups")]
        self.mood_line: Any = None
        if not team:
            mood_axes = axes.twinx()
            (self.mood_line,) = mood_axes.plot(
                x, [math.nan] * 7, color=MOOD_COLOUR, linewidth=2.5, marker="o", markersize=8, zorder=3
            )
            mood_axes.set_ylim(0.5, 5.5)
            mood_axes.set_yticks([1, 2, 3, 4, 5])
            mood_axes.tick_params(axis="y", labelsize=12, colors=MOOD_COLOUR)
            mood_axes.set_ylabel(t(language, "chart.axis.mood"), fontsize=13, color=MOOD_COLOUR)
            mood_axes.spines[["top"]].set_visible(False)
            handles.append(self.mood_line)
            labels.append(t(language, "chart.mood"))

        self.title = figure.suptitle("", fontsize=18, fontweight="bold", y=0.96)
        figure.legend(
            handles,
            labels,
            loc="lower center",
            ncols=len(handles),
            frameon=False,
            fontsize=13,
            bbox_to_anchor=(0.5, 0.01),
        )
        self.empty = axes.text(
            0.5,
            0.55,
            t(language, "chart.team_empty" if team else "chart.empty"),
            transform=axes.transAxes,
            ha="center",
            fontsize=15,
            color="#777777",
        )

    def show(self, numbers: Numbers) -> None:
        language, axes = self.language, self.axes
        days = _seven(numbers)
        contacts = [day.contacts for day in days]
        follow_ups = [day.follow_ups_done for day in days]
        moods = [math.nan if day.mood is None else float(day.mood) for day in days]

        for label in self.bar_labels:
            label.remove()
        self.bar_labels = []
        for bars, values in ((self.contact_bars, contacts), (self.follow_up_bars, follow_ups)):
            for bar, value in zip(bars, values, strict=True):
                bar.set_height(value)
            self.bar_labels += axes.bar_label(
                bars, labels=[str(v) if v else "" for v in values], padding=2, fontsize=11
            )
        axes.set_xticklabels(
            [
                f"{t(language, key)}\n{t(language, 'chart.day_date', month=day.day.month, day=day.day.day)}"
                for key, day in zip(DAY_KEYS, days, strict=True)
            ]
        )
        axes.set_ylim(0, max(*contacts, *follow_ups, 4) * 1.15)
        if self.mood_line is not None:
            self.mood_line.set_ydata(moods)

        week = numbers.week
        start = t(language, "chart.date", month=week.start.month, day=week.start.day)
        end = t(language, "chart.date", month=week.end.month, day=week.end.day)
        self.title.set_text(t(language, "chart.team_title" if self.team else "chart.title", start=start, end=end))
        self.empty.set_visible(not any(contacts) and not any(follow_ups) and all(math.isnan(m) for m in moods))


def _seven(numbers: Numbers) -> list[Day]:
    """Monday … Sunday of the week; a day the numbers leave out is a day with nothing in it."""
    given = {day.day: day for day in numbers.days}
    return [given.get(day, Day(day)) for day in numbers.week.days]


def _warm_worker() -> None:
    """A new worker loads matplotlib and registers the fonts before its first chart."""
    from bot.fonts import register

    register()


class ChartRenderer:
    """Renders charts in worker processes, off the event loop and out of this process's memory.

    The pool is started on the first chart, with the spawn method (a fresh interpreter: no copy of the bot's
    memory in a worker, and nothing of matplotlib in the bot), and stopped by `close()`. Spawn does import the
    parent's main module again: under the `agentcoach` script that is `runtime.cli` and what it imports, about
    18 MiB more per worker (docs/digest.md).
    """

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError("a chart renderer needs at least one worker")
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_warm_worker,
            )
        return self._executor

    async def render(self, numbers: Numbers, language: str, *, team: bool = False) -> bytes:
        """The week's chart as PNG bytes, rendered in a worker.

        A worker that died (killed for memory, say) breaks the whole pool: the pool is replaced and the chart
        tried once more on the new one, so one lost worker does not fail every chart after it.
        """
        for attempt in range(2):
            executor = self._pool()
            try:
                draw = functools.partial(render_week_chart, numbers, language, team=team)
                return await asyncio.get_running_loop().run_in_executor(executor, draw)
            except BrokenProcessPool:
                if self._executor is executor:
                    executor.shutdown(wait=False, cancel_futures=True)
                    self._executor = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Stop the workers (waiting for charts under way); the next `render` starts new ones."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
