"""Exceptions raised by photomatch.

They subclass standard exceptions so that ``except OSError`` or
``except ValueError`` in calling code keeps working.
"""

from __future__ import annotations


class PhotomatchError(Exception):
    """Base class of every error photomatch raises on purpose."""


class UsageError(PhotomatchError, ValueError):
    """An argument is wrong: a missing folder, an empty set, a bad destination."""


class DecodeError(PhotomatchError, OSError):
    """An image file could not be read or decoded."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class AlbumIndexError(PhotomatchError, OSError):
    """The album index cannot be opened, is damaged, or is of another format."""


class ExportError(PhotomatchError, OSError):
    """A file could not be exported (disk full, permission, bad destination)."""
