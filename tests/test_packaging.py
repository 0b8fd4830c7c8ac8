"""The wheel carries what the bot needs at run time: catalogs, glossary, migrations, licence."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_ships_data_files(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("agentcoach-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("zh_Hans", "en", "zh_Hant"):
        assert f"content/locales/{folder}/LC_MESSAGES/messages.po" in names
    assert "content/locales/zh_Hant/glossary.tsv" in names
    assert "bot/migrations/script.py.mako" in names
    assert any(name.startswith("bot/migrations/versions/0001") for name in names)
    assert any(name.endswith("licenses/LICENSE") for name in names)
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "agentcoach = runtime.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
