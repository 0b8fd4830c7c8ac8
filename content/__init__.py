"""Data the bot speaks with: message catalogs, tips and prompt texts. No logic lives here."""

from importlib.resources import files
from importlib.resources.abc import Traversable


def content_path(*parts: str) -> Traversable:
    """A file or folder shipped inside the package (works from a wheel and from a checkout)."""
    node: Traversable = files(__name__)
    for part in parts:
        node = node / part
    return node
