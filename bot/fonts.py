"""The chart's CJK font: small static subsets of Noto Sans CJK, built once per machine and given to matplotlib.

The face comes from the pip wheel `manimgx-fonts-cjk` (OFL-1.1; no root, no system fonts needed): one variable
collection, `NotoSansCJK-VF.otf.ttc`, whose `wght` axis defaults to 100 (hairline, unreadable in a chart). Making
a whole face static takes minutes, so only the characters the chart can draw are kept (every `chart.*` message
in every language, ASCII, digits) and that subset is made static at Regular and Bold: about 1 s per face.
The files go to the per-machine cache folder under a name that hashes the characters, the source file and the
recipe, so a changed catalog or a new wheel builds them again and nothing else does. Old files are left in
place (36 KB each), as the Traditional catalogs are: two checkouts sharing a cache folder must not delete each
other's fonts. docs/digest.md has the measurements and the alternatives.

The subsets are renamed ("Agentcoach Chart SC"), so matplotlib can never confuse them with a full Noto Sans CJK
installed on the system. Nothing here imports matplotlib except `register()`, which the renderer calls in its
own process.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import string
import tempfile
from functools import cache
from importlib.resources import files
from pathlib import Path

from bot.i18n import EN, LANGUAGES, ZH_HANS, ZH_HANT, cache_dir, catalog

log = logging.getLogger(__name__)

SOURCE_PACKAGE = "manimgx_fonts_cjk"
SOURCE_NAME = "NotoSansCJK-VF.otf.ttc"
# The collection's face per script (name ID 1 of each font in it): Simplified, Traditional (Taiwan).
SOURCE_FAMILIES = {"SC": "Noto Sans CJK SC", "TC": "Noto Sans CJK TC"}
# English is drawn in the SC face: its Latin letters and digits are the same in every face.
FACE_FOR_LANGUAGE = {ZH_HANS: "SC", ZH_HANT: "TC", EN: "SC"}
STYLES = {"Regular": 400, "Bold": 700}
CATALOG_PREFIX = "chart."
# Bump when the build below changes, so machines build their files again.
RECIPE = 1


def family(face: str) -> str:
    """The family name our static subset of `face` is registered under."""
    return f"Agentcoach Chart {face}"


def source_path() -> Path:
    return Path(str(files(SOURCE_PACKAGE).joinpath(SOURCE_NAME)))


def chart_characters() -> str:
    """Every character the chart can draw: its catalog messages in every language, printable ASCII."""
    texts = [
        template
        for language in LANGUAGES
        for key in catalog().keys(language)
        if key.startswith(CATALOG_PREFIX)
        for template in catalog().forms(language, key)
    ]
    characters = set("".join(texts)) | set(string.digits + string.ascii_letters + string.punctuation + " ")
    return "".join(sorted(c for c in characters if c.isprintable()))


def font_files() -> dict[tuple[str, str], Path]:
    """(face, style) → the static subset's file, built now if this machine does not have it yet."""
    characters = chart_characters()
    source = source_path()
    stat = source.stat()
    recipe = json.dumps([RECIPE, characters, stat.st_size, stat.st_mtime_ns, SOURCE_NAME], ensure_ascii=False)
    digest = hashlib.sha256(recipe.encode()).hexdigest()[:16]
    folder = cache_dir() / "fonts"
    wanted = {
        (face, style): folder / f"chart-{face}-{style}-{digest}.otf" for face in SOURCE_FAMILIES for style in STYLES
    }
    for face in SOURCE_FAMILIES:
        if not all(wanted[face, style].exists() for style in STYLES):
            _build(source, face, characters, {style: wanted[face, style] for style in STYLES})
    return wanted


def _build(source: Path, face: str, characters: str, outputs: dict[str, Path]) -> None:
    """Subset one face of the collection to `characters`, then pin its weight once per style."""
    from fontTools import subset  # type: ignore[import-untyped]
    from fontTools.ttLib import TTCollection, TTFont  # type: ignore[import-untyped]
    from fontTools.varLib import instancer  # type: ignore[import-untyped]

    with TTCollection(str(source), lazy=True) as collection:
        names = [font["name"].getDebugName(1) for font in collection.fonts]
    if SOURCE_FAMILIES[face] not in names:
        raise LookupError(f"{SOURCE_FAMILIES[face]!r} is not in {source}")
    with TTFont(str(source), fontNumber=names.index(SOURCE_FAMILIES[face]), lazy=True) as font:
        options = subset.Options()
        options.notdef_outline = True
        options.name_IDs = ["*"]
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=characters)
        subsetter.subset(font)  # first: pinning the weight of the whole face takes minutes, of the subset < 1 s
        small = io.BytesIO()
        font.save(small)
    for style, weight in STYLES.items():
        # From the bytes of the subset: the instancer copies its input, and a copy of a font read lazily from the
        # collection would open the 32 MB file again, and leave it open.
        with TTFont(io.BytesIO(small.getvalue())) as variable:
            static = instancer.instantiateVariableFont(variable, {"wght": weight})
            _rename(static, family(face), style)
            outputs[style].parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=outputs[style].parent, suffix=".tmp")
            os.close(handle)
            static.save(temporary)
        os.replace(temporary, outputs[style])  # whole or absent, also with two workers building at once
        log.info("built the chart font %s", outputs[style].name)


def _rename(font: object, name: str, style: str) -> None:
    """Our own family name: a modified font keeps off the original's names (OFL), and off a system install."""
    table = font["name"]  # type: ignore[index]
    for record_id in (16, 17, 21, 22, 25):  # typographic and variation names the static subset has no use for
        table.removeNames(nameID=record_id)
    postscript = f"{name}-{style}".replace(" ", "")
    for record_id, value in (
        (1, name),
        (2, style),
        (3, f"{postscript};{RECIPE}"),
        (4, f"{name} {style}"),
        (6, postscript),
    ):
        table.setName(value, record_id, 3, 1, 0x409)
        table.setName(value, record_id, 1, 0, 0)


def warm_up() -> None:
    """Build this machine's font files now (the Makefile's set-up), so no chart waits for them."""
    font_files()


@cache
def register() -> dict[str, list[str]]:
    """Give matplotlib our faces; language → the font family list its chart is drawn with."""
    from matplotlib import font_manager

    for path in font_files().values():
        font_manager.fontManager.addfont(str(path))
    # No fallback family: the subset has every character the chart draws, and one it lacks must fail the chart
    # test rather than come out in another face (a fallback list also costs matplotlib a font look-up per text).
    return {language: [family(FACE_FOR_LANGUAGE[language])] for language in LANGUAGES}
