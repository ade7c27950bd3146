"""Atomic file writes: write to a temporary file beside the target, fsync, then rename.

A reader (or a resumed batch run) therefore sees either the old file or the complete new one,
never a truncated file left by a crash. :func:`atomic_open` hands out an open file;
:func:`atomic_path` hands out the temporary file's path, for a writer that opens the file itself
(an external process such as ffmpeg, or a library that only takes a file name).
:func:`write_synced` and :func:`fsync_dir` are the pieces for a writer that assembles a whole
folder and renames it into place (the batch runner's item folders).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _umask() -> int:
    """The process's umask. Reading it means setting it and setting it straight back, which is
    not thread-safe, so it is read once, when this module is imported."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


@contextlib.contextmanager
def _replacing(target: Path, suffix: str) -> Iterator[tuple[int, str]]:
    """A new temporary file beside ``target`` (its descriptor and path): renamed over ``target``
    when the block ends, removed if it raises. The block closes the descriptor. The file gets
    the mode an ordinary ``open`` would give it (0666 less the umask), not mkstemp's 0600."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    try:
        os.chmod(tmp, _FILE_MODE)
        yield fd, tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; on success rename it over ``path``.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open: mode must be 'wb' or 'w', got {mode!r}")
    with _replacing(Path(path), ".tmp") as (fd, _), os.fdopen(fd, mode) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str = ".tmp") -> Iterator[Path]:
    """The path of an empty temporary file next to ``path``, for a writer that opens it itself;
    on success it is fsynced and renamed over ``path``.

    ``suffix`` ends the temporary name: give the target's extension (``".tmp.mp4"``) to a writer
    that picks its format from the file name. On an exception the temporary file is removed and
    ``path`` is left untouched.
    """
    with _replacing(Path(path), suffix) as (fd, tmp):
        os.close(fd)
        yield Path(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_synced(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` in place and fsync it; return the path. Not atomic by itself:
    for files inside a staging folder that is then renamed into place whole."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(path)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync the folder ``path``, so the renames and new names in it survive a power loss; a
    no-op where the file system does not let a folder be fsynced."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
