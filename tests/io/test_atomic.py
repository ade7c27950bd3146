"""Atomic writes: the target holds the old content or the complete new one, never a part."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from adstage.io.atomic import atomic_open, atomic_path, atomic_write_bytes, atomic_write_text


def test_atomic_open_replaces_the_target_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError, match="broke"), atomic_open(target, "w") as handle:
        handle.write("half of the new")
        raise RuntimeError("broke")
    assert target.read_text() == "old"
    assert atomic_write_bytes(target, b"new") == target
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["a.txt"]
    with pytest.raises(ValueError, match="mode must be"), atomic_open(target, "a"):
        pass


def test_atomic_path_lets_another_process_write_the_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "video.mp4"
    with atomic_path(target, suffix=".tmp.mp4") as tmp:
        assert tmp.parent == target.parent and tmp.name.endswith(".tmp.mp4")
        assert tmp.exists() and tmp.stat().st_size == 0 and not target.exists()
        code = f"open({str(tmp)!r}, 'wb').write(b'frames')"
        subprocess.run([sys.executable, "-c", code], check=True)
    assert target.read_bytes() == b"frames"
    assert not tmp.exists()
    assert [p.name for p in target.parent.iterdir()] == ["video.mp4"]


def test_atomic_path_leaves_the_target_untouched_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "video.mp4"
    target.write_bytes(b"old")
    with pytest.raises(subprocess.CalledProcessError), atomic_path(target) as tmp:
        code = f"open({str(tmp)!r}, 'wb').write(b'par'); raise SystemExit(1)"
        subprocess.run([sys.executable, "-c", code], check=True)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["video.mp4"]


def test_written_files_get_the_mode_open_would_give(tmp_path):
    """Not mkstemp's private 0600: 0666 less the umask (read at import), like any file the user
    writes — a fresh process with umask 022 writes 0644."""
    code = (
        "import os, stat, sys; os.umask(0o022); "
        "from adstage.io.atomic import atomic_write_text; "
        "p = atomic_write_text(sys.argv[1], '{}'); print(oct(stat.S_IMODE(p.stat().st_mode)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "out.json")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "0o644"
