"""Exceptions raised by adstage.

Every error a user can cause derives from :class:`AdstageError`, so a caller (the CLI, a batch
runner, a server) can catch one class, report the message and go on with the next item.
"""

from __future__ import annotations


class AdstageError(Exception):
    """Base class of every error adstage raises on purpose."""


class InputError(AdstageError, ValueError):
    """Bad input: an unreadable file, a wrong shape or range, an out-of-range option.

    The message names the argument or file, the value and what was expected.
    """


class WeightsNotFound(AdstageError, FileNotFoundError):
    """A model's weight file is not in the cache. The message carries the command that fetches it."""

    def __init__(self, name: str, searched: list[str] | None = None) -> None:
        self.name = name
        self.searched = list(searched or [])
        where = f" (looked in: {', '.join(self.searched)})" if self.searched else ""
        super().__init__(
            f"weights {name!r} are not installed{where}; fetch them with: adstage weights fetch {name}"
        )


class WeightsCorrupt(AdstageError):
    """A downloaded or cached weight file does not match the sha256 in the manifest."""


class BackendUnavailable(AdstageError):
    """A backend cannot run here: an optional dependency or its weights are missing."""


class UnknownName(AdstageError, KeyError):
    """A registry was asked for a name it does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
