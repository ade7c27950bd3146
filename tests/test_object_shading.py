"""benchmarks/object_shading.py: the low-frequency shading of an object, and models of it."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark_module import load_benchmark


@pytest.fixture
def osh(monkeypatch):  # type: ignore[no-untyped-def]
    return load_benchmark(monkeypatch, "object_shading")


def _box(top: float, base: float, size: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """A grey box whose linear luminance falls from ``top`` to ``base`` down its height, with a
    fine checker texture over it (texture the map must not see)."""
    rows = np.linspace(top, base, size, dtype=np.float32)[:, None] * np.ones((1, size), np.float32)
    checker = 1.0 + 0.3 * ((np.indices((size, size)).sum(axis=0) // 2) % 2 - 0.5)
    linear = np.clip(rows * checker, 0, 1)
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    rgb = np.repeat((srgb * 255).round().astype(np.uint8)[..., None], 3, axis=2)
    return rgb, np.ones((size, size), bool)


def test_the_map_follows_the_light_not_the_texture(osh) -> None:
    grid = osh.shading_map(*_box(0.6, 0.2))
    assert grid is not None and grid.shape == (osh.GRID, osh.GRID)
    rows = np.nanmean(grid, axis=1)
    assert np.all(np.diff(rows) < 0)  # darker row by row towards the base
    assert rows[0] - rows[-1] == pytest.approx(np.log(0.6 / 0.2), rel=0.25)
    assert np.nanstd(np.nanmean(grid, axis=0)) < 0.02  # nothing across: the checker is gone
    assert abs(float(np.nanmean(grid))) < 1e-5  # centred
    flat = osh.shading_map(*_box(0.4, 0.4))
    assert flat is not None and float(np.nanmax(np.abs(flat))) < 0.05
    rgb, mask = _box(0.5, 0.5)
    tiny = np.zeros_like(mask)
    tiny[:30, :30] = True
    assert osh.shading_map(rgb, tiny) is None  # too few pixels to measure


def test_models_and_the_error(osh) -> None:
    ramp = osh.ramp_gains(0.4, 0.4, 1.0)
    assert ramp[0] == 0.0 and ramp[-1] == pytest.approx(-0.4, abs=0.01)
    assert np.all(np.diff(ramp) <= 0)
    base = osh.base_gains()
    assert base[0] == 0.0 and base[-1] < -1.0  # staging's: most of it in the lowest rows
    assert np.all(osh.side_gains(0.0) == 0.0) and osh.side_gains(1.0)[-1] > 0
    real = np.full((osh.GRID, osh.GRID), np.nan, np.float32)
    real[:, :6] = 0.2
    real[:, 6:] = -0.2
    assert osh.rms(real, real + 5.0) == pytest.approx(0.0, abs=1e-6)  # a level is not an error
    assert osh.rms(real, np.zeros_like(real)) == pytest.approx(0.2)
