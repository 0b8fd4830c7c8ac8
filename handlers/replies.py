"""Replies that fit Telegram: a text over its 4,096 characters becomes several messages, each valid Telegram HTML.

Telegram counts the text once its HTML is parsed, in UTF-16 code units (an emoji outside the BMP counts two).
A reply is cut at a paragraph, else a line, else a space, else anywhere; tags open at a cut are closed at the end
of one part and opened again at the start of the next, so every part is valid on its own and nothing is lost.
"""

from __future__ import annotations

import html
import re

MESSAGE_LIMIT = 4096  # characters once the HTML is parsed (Telegram counts UTF-16 code units)
_ATOM = re.compile(r"<[^>]*>|&#?[A-Za-z0-9]+;|[\s\S]", re.ASCII)
_TAG_NAME = re.compile(r"</?\s*([A-Za-z-]+)")


def _width(char: str) -> int:
    """How much of Telegram's limit a visible character uses (UTF-16 code units)."""
    return len(char.encode("utf-16-le")) // 2


def split_html(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """`text` (Telegram HTML) as parts of at most `limit` visible characters, cut at a paragraph break, else a line
    break, else a space, else anywhere; a tag open at a cut is closed there and opened again in the next part."""
    if len(text) <= limit // 2 or _width(text) <= limit:
        return [text]  # nothing shows wider than its source (a tag shows nothing, an entity one character): it fits
    atoms = _ATOM.findall(text)
    visible = [
        0 if atom.startswith("<") and len(atom) > 1 else _width(html.unescape(atom) if atom.startswith("&") else atom)
        for atom in atoms
    ]
    if sum(visible) <= limit:
        return [text]
    parts: list[str] = []
    opened: list[str] = []  # the opening tags in force where the current part starts
    start = 0
    while start < len(atoms):
        end, used = start, 0
        while end < len(atoms) and used + visible[end] <= limit:
            used += visible[end]
            end += 1
        end = max(end, start + 1)  # a character wider than the whole limit still goes somewhere
        if end < len(atoms):
            end = _cut(atoms, start, end)
        chunk = atoms[start:end]
        still_open = _open_tags(opened, chunk)
        body = "".join(opened) + "".join(chunk) + "".join(_closing(tag) for tag in reversed(still_open))
        if html.unescape(re.sub(r"<[^>]*>", "", body)).strip():
            parts.append(body)
        opened, start = still_open, end
    return parts or [text]


def _cut(atoms: list[str], start: int, end: int) -> int:
    """Where to end a part that must end by `end`: after the last paragraph break, line break or space in its
    second half, or at `end` itself."""
    floor = start + max(1, (end - start) // 2)
    for separator in ("\n\n", "\n", " "):
        for index in range(end - 1, floor - 1, -1):
            if separator == "\n\n":
                if atoms[index] == "\n" and atoms[index - 1] == "\n":
                    return index + 1
            elif atoms[index] == separator:
                return index + 1
    return end


def _open_tags(opened: list[str], chunk: list[str]) -> list[str]:
    """The opening tags still unclosed at the end of `chunk`, given those open at its start."""
    stack = list(opened)
    for atom in chunk:
        if not (atom.startswith("<") and len(atom) > 1):
            continue
        if atom.startswith("</"):
            if stack:
                stack.pop()
        elif not atom.endswith("/>"):
            stack.append(atom)
    return stack


def _closing(opening: str) -> str:
    found = _TAG_NAME.match(opening)
    return f"</{found.group(1)}>" if found else ""
