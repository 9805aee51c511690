"""Stateful SQLite-backed tool worlds."""

from .base import World
from .files import FileSystemWorld
from .retail import RetailWorld
from .travel import TravelWorld

WORLDS: dict[str, type[World]] = {"retail": RetailWorld, "travel": TravelWorld, "files": FileSystemWorld}


def make_world(name: str, seed: int = 0) -> World:
    if name not in WORLDS:
        raise KeyError(f"unknown world {name!r}; have {', '.join(WORLDS)}")
    return WORLDS[name](seed)


__all__ = ["WORLDS", "FileSystemWorld", "RetailWorld", "TravelWorld", "World", "make_world"]
