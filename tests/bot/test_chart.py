"""The weekly chart renders headless in every language, in our CJK subsets, with no missing glyph; out of process."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import subprocess
import sys
import textwrap
import warnings
from concurrent.futures.process import BrokenProcessPool
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from bot.chart import ChartRenderer, render_week_chart
from bot.fonts import font_files, register
from bot.i18n import EN, LANGUAGES, ZH_HANS, ZH_HANT, catalog
from bot.week import Day, Numbers, Week

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WEEK = Week(date(2026, 11, 30))  # Monday 30 November – Sunday 6 December 2026


def busy_week(shift: int = 0) -> Numbers:
    contacts = [3, 0, 5, 12, 2, 0, 1]
    follow_ups = [1, 2, 0, 4, 6, 0, 0]
    moods = [3, 4, None, 5, 2, None, 1]
    days = tuple(
        Day(day, contacts=contacts[(n + shift) % 7], follow_ups_done=follow_ups[n], mood=moods[(n + shift) % 7])
        for n, day in enumerate(WEEK.days)
    )
    return Numbers(week=WEEK, days=days)


def rendered_strictly(numbers: Numbers, language: str, caplog: pytest.LogCaptureFixture) -> bytes:
    """Render with every warning an error, and no warning logged by matplotlib either (it logs missing glyphs
    and unknown font families as well as warning about them)."""
    caplog.clear()
    with caplog.at_level(logging.WARNING), warnings.catch_warnings():
        warnings.simplefilter("error")
        png = render_week_chart(numbers, language)
    complaints = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert complaints == []
    return png


def check_image(png: bytes) -> Image.Image:
    assert png.startswith(PNG_MAGIC)
    assert 10_000 < len(png) < 300_000
    image = Image.open(io.BytesIO(png))
    assert image.size == (960, 720)
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 10  # drawn, not one flat colour
    return image


@pytest.mark.parametrize("language", [ZH_HANS, ZH_HANT, EN])
def test_the_chart_renders_in_every_language_with_no_glyph_missing(
    language: str, caplog: pytest.LogCaptureFixture
) -> None:
    check_image(rendered_strictly(busy_week(), language, caplog))


def test_a_character_outside_the_subset_fails_the_render(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control for the tests above: a glyph missing from every font is an error, not a box."""
    monkeypatch.setitem(catalog().messages[ZH_HANS], "chart.empty", "龘")
    with caplog.at_level(logging.WARNING), warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match=r"Glyph .* missing"):
            render_week_chart(Numbers(week=WEEK), ZH_HANS, reuse_figure=False)


def test_an_empty_week_still_renders(caplog: pytest.LogCaptureFixture) -> None:
    nothing = Numbers(week=WEEK, days=tuple(Day(day) for day in WEEK.days))
    for language in LANGUAGES:
        check_image(rendered_strictly(nothing, language, caplog))
    # No days at all in the numbers: the same seven empty days.
    assert rendered_strictly(Numbers(week=WEEK), ZH_HANS, caplog) == rendered_strictly(nothing, ZH_HANS, caplog)


def test_a_reused_figure_draws_what_a_fresh_one_draws(caplog: pytest.LogCaptureFixture) -> None:
    for language in (ZH_HANS, EN):
        fresh = render_week_chart(busy_week(), language, reuse_figure=False)
        rendered_strictly(busy_week(3), language, caplog)  # other weeks first, in the reused figure
        rendered_strictly(Numbers(week=WEEK.after()), language, caplog)
        assert rendered_strictly(busy_week(), language, caplog) == fresh
        assert fresh != render_week_chart(busy_week(3), language, reuse_figure=False)


def test_chinese_is_drawn_in_our_subset_which_has_every_character_of_the_chart() -> None:
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
    from matplotlib import font_manager

    families = register()
    files = {path.name.split("-")[1] + "-" + path.name.split("-")[2]: path for path in font_files().values()}
    for language, face in ((ZH_HANS, "SC"), (ZH_HANT, "TC"), (EN, "SC")):
        for weight, style in (("normal", "Regular"), ("bold", "Bold")):
            found = font_manager.findfont(
                font_manager.FontProperties(family=families[language][0], weight=weight), fallback_to_default=False
            )
            assert Path(found) == files[f"{face}-{style}"]
            with TTFont(found) as font:
                cmap = font["cmap"].getBestCmap()
            drawn = "".join(str(text) for key, text in catalog().messages[language].items() if key.startswith("chart."))
            assert [c for c in set(drawn + "0123456789/") if c.isprintable() and ord(c) not in cmap] == []
    assert files["SC-Regular"].stat().st_size < 100_000  # a subset, not the 32 MB collection


async def test_a_renderer_whose_worker_died_carries_on_with_a_new_one() -> None:
    renderer = ChartRenderer()
    try:
        first = await renderer.render(busy_week(), EN)
        pool = renderer._pool()
        with pytest.raises(BrokenProcessPool):
            await asyncio.wrap_future(pool.submit(os._exit, 1))  # the worker dies as if killed
        assert await renderer.render(busy_week(), EN) == first
        assert renderer._pool() is not pool
    finally:
        renderer.close()


def test_the_renderer_draws_in_a_child_process_and_the_bot_never_imports_matplotlib() -> None:
    script = textwrap.dedent(
        """
        import asyncio, io, os, sys
        from datetime import date
        from bot.chart import ChartRenderer
        from bot.week import Day, Numbers, Week
        assert "matplotlib" not in sys.modules, "importing the renderer imported matplotlib"

        async def main():
            renderer = ChartRenderer()
            week = Week(date(2026, 11, 30))
            try:
                png = await renderer.render(Numbers(week=week, days=(Day(week.start, contacts=2, mood=4),)), "zh-Hant")
            finally:
                renderer.close()
            return png

        png = asyncio.run(main())
        assert "matplotlib" not in sys.modules, "rendering imported matplotlib into the parent"
        print(len(png), png[:8] == b"\\x89PNG\\r\\n\\x1a\\n")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    size, magic = done.stdout.split()
    assert magic == "True" and 10_000 < int(size) < 300_000


@pytest.mark.parametrize("language", [ZH_HANS, ZH_HANT, EN])
def test_a_teams_chart_draws_counts_only_under_the_teams_title(language: str, caplog: pytest.LogCaptureFixture) -> None:
    """A lead sees counts, never a member's mood: the team's chart has no mood axis, line or legend entry."""
    from matplotlib.text import Text

    from bot.chart import _charts
    from bot.i18n import t

    caplog.clear()
    with caplog.at_level(logging.WARNING), warnings.catch_warnings():
        warnings.simplefilter("error")
        check_image(render_week_chart(busy_week(), language, team=True))
        nothing = render_week_chart(Numbers(week=WEEK), language, team=True)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    check_image(nothing)
    drawn = {text.get_text() for text in _charts[(language, True)].figure.findobj(Text)}
    assert t(language, "chart.mood") not in drawn and t(language, "chart.axis.mood") not in drawn
    assert t(language, "chart.team_empty") in drawn and t(language, "chart.empty") not in drawn
    start, end = t(language, "chart.date", month=11, day=30), t(language, "chart.date", month=12, day=6)
    assert t(language, "chart.team_title", start=start, end=end) in drawn
    # The agent's own chart still shows the mood.
    render_week_chart(busy_week(), language)
    own = {text.get_text() for text in _charts[(language, False)].figure.findobj(Text)}
    assert t(language, "chart.mood") in own
