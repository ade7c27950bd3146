"""benchmarks/object_shading.py: the low-frequency shading of an object, and models of it."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark_module import load_benchmark


@pytest.fixture
def osh(monkeypatch):  # type: ignore[no-untyped-def]
    return load_benchmark(monkeypatch, "object_shading")


def _box(top: float, base: float, size: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """A grey box whose linear luminance falls from ``top`` to ``base`` down its height, with
    upright stripes 20 px wide over it (its planks: texture the map must not see, though a cell
    is as wide as a stripe)."""
    rows = np.linspace(top, base, size, dtype=np.float32)[:, None] * np.ones((1, size), np.float32)
    stripes = 1.0 + 0.6 * ((np.arange(size) // 20) % 2 - 0.5)[None, :]
    linear = np.clip(rows * stripes, 0, 1)
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    rgb = np.repeat((srgb * 255).round().astype(np.uint8)[..., None], 3, axis=2)
    return rgb, np.ones((size, size), bool)


def test_the_map_follows_the_light_not_the_texture(osh) -> None:
    grid = osh.shading_map(*_box(0.6, 0.2))
    assert grid is not None and grid.shape == (osh.GRID, osh.GRID)
    rows = np.nanmean(grid, axis=1)
    assert np.all(np.diff(rows) < 0)  # darker row by row towards the base
    assert rows[0] - rows[-1] == pytest.approx(np.log(0.6 / 0.2), rel=0.25)
    columns = np.nanmean(grid, axis=0)  # away from the box's sides, where a stripe leaks in
    assert np.abs(columns[2:-2]).max() < 0.02  # nothing across: the stripes are gone
    assert abs(float(np.nanmean(grid))) < 1e-5  # centred
    flat = osh.shading_map(*_box(0.4, 0.4))
    assert flat is not None and float(np.nanmax(np.abs(flat[:, 2:-2]))) < 0.02
    rgb, mask = _box(0.5, 0.5)
    tiny = np.zeros_like(mask)
    tiny[:30, :30] = True
    assert osh.shading_map(rgb, tiny) is None  # too few pixels to measure


def test_staging_s_shading_is_measured_as_the_objects_are(osh, monkeypatch) -> None:
    from adstage.composite import light

    obj = {"id": "x", "box": (100, 50, 260, 290), "width": 400, "light_x": 1.0, "mirrored": False}
    default = osh.staging_map(obj)
    rows, cols = np.nanmean(default, axis=1), np.nanmean(default, axis=0)
    assert rows[-1] < rows[0] - 0.5 and rows[0] == pytest.approx(rows[4], abs=0.02)  # the base
    assert cols[-1] > cols[0]  # the light is right of the box: its right side is the lit one
    mirrored = osh.staging_map(obj | {"mirrored": True})
    assert np.allclose(mirrored, default[:, ::-1])
    ramp = osh.staging_map(obj, (0.4, 0.4, 1.0))
    ramp_rows = np.nanmean(ramp, axis=1)
    assert ramp_rows[0] - ramp_rows[-1] < rows[0] - rows[-1]  # gentler than the default
    sides = osh.staging_map(obj, (0.0, 0.0, 1.0))
    assert np.nanstd(np.nanmean(sides, axis=1)) < 0.02  # the side gains alone: nothing down
    assert light.SHADE_RAMP is None  # put back after each call
    # it is shade_product's own shading: a stronger SHADE_BASE shows in the map
    monkeypatch.setattr(light, "SHADE_BASE", 0.95)
    assert np.nanmean(osh.staging_map(obj), axis=1)[-1] < rows[-1]


def test_the_error_ignores_the_level_and_uncounted_cells(osh) -> None:
    real = np.full((osh.GRID, osh.GRID), np.nan, np.float32)
    real[:, :5] = 0.2
    real[:, 5:10] = -0.2  # the last two columns not counted
    assert osh.rms(real, real + 5.0) == pytest.approx(0.0, abs=1e-6)  # a level is not an error
    model = np.zeros_like(real)
    model[:, 10:] = np.nan
    assert osh.rms(real, model) == pytest.approx(0.2)
