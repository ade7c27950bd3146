"""Parallax animation (Ku et al., AdKDD 2023, §5.4): frames, motion, loops, writers, CLI, page."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from adstage.animate import (
    EASINGS,
    Animation,
    AnimationOptions,
    animate,
    parse_size,
    pulse,
    swing,
    write_animation_page,
    write_video,
)
from adstage.cli import app
from adstage.datasets.synthetic import SyntheticCatalog
from adstage.errors import InputError
from adstage.io.images import write_image, write_mask
from scenes import ingest_synthetic

runner = CliRunner()

BG = (200, 180, 150)
FG = (30, 60, 200)


def flat_scene(h: int = 128, w: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """One background colour and a solid ellipse: a pixel's share of product is readable from
    its colour, so the product's centroid can be measured to a small fraction of a pixel."""
    image = np.full((h, w, 3), BG, np.uint8)
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, h // 2 + 6), (w // 7, h // 5), 0, 0, 360, 255, -1)
    image[mask > 0] = FG
    return image, mask > 0


def textured_scene(h: int = 128, w: int = 128) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(150, 30, (h, w, 3)), 0, 255).astype(np.uint8)
    image[h * 3 // 4 :] //= 2  # a darker floor
    mask = np.zeros((h, w), bool)
    mask[40:90, 50:80] = True
    image[mask] = FG
    return image, mask


def product_share(frame: np.ndarray, behind: np.ndarray) -> np.ndarray:
    """Per pixel, how much of it is product: where its blue lies between the background's
    (``behind``, the plate) and the product's."""
    under = behind[..., 2].astype(np.float64)
    return np.clip((frame[..., 2] - under) / (FG[2] - under), 0, 1)


def centroid(share: np.ndarray) -> tuple[float, float, float]:
    ys, xs = np.mgrid[: share.shape[0], : share.shape[1]]
    total = share.sum()
    return float((share * xs).sum() / total), float((share * ys).sum() / total), float(total)


# --------------------------------------------------------------------------------------------
# frames, motion, loop


@pytest.mark.parametrize(("duration", "fps"), [(1.0, 12), (0.5, 30), (0.7, 10), (0.25, 24)])
def test_frame_count_is_duration_times_fps(duration: float, fps: int) -> None:
    image, mask = flat_scene()
    anim = Animation.prepare(
        image, mask, duration=duration, fps=fps, size=(96, 64), inpainter="telea"
    )
    frames = list(anim)
    assert len(anim) == len(frames) == round(duration * fps)
    assert anim.duration == pytest.approx(len(frames) / fps)
    assert all(f.shape == (64, 96, 3) and f.dtype == np.uint8 for f in frames)


def test_waves_and_easing() -> None:
    for t in np.linspace(0, 1, 37):
        assert swing(t) == pytest.approx(math.sin(2 * math.pi * t), abs=1e-12)
        assert pulse(t) == pytest.approx((1 - math.cos(2 * math.pi * t)) / 2, abs=1e-12)
    linear = EASINGS["linear"]
    assert [swing(t, linear) for t in (0, 0.125, 0.25, 0.5, 0.75, 1)] == pytest.approx(
        [0, 0.5, 1, 0, -1, 0]
    )
    for ease in EASINGS.values():
        assert ease(0.0) == 0.0 and ease(1.0) == 1.0 and ease(0.5) == pytest.approx(0.5)


def _expected_pose(motion: str, t: float, a: float, side: float) -> tuple[float, float, float]:
    """(dx, dy, scale) written out independently of the motion classes (sine easing)."""
    s, c = math.sin(2 * math.pi * t), (1 - math.cos(2 * math.pi * t)) / 2
    return {
        "sway": (a * side * s, 0.0, 1.0),
        "rise": (0.0, -a * side * c, 1.0),
        "push-in": (0.0, 0.0, 1.0 + a * c),
        "orbit": (a * side * s, -0.3 * a * side * c, 1.0 - a * c),
    }[motion]


@pytest.mark.parametrize("motion", ["sway", "orbit", "rise", "push-in"])
def test_product_moves_as_the_motion_says(motion: str) -> None:
    image, mask = flat_scene()
    amplitude = 0.06
    anim = Animation.prepare(
        image,
        mask,
        motion=motion,
        amplitude=amplitude,
        duration=1.0,
        fps=16,
        size=None,
        parallax=0.0,
        shadow=0.0,
        inpainter="telea",
    )
    x0, y0, area0 = centroid(product_share(anim.frame(0), anim.plate.image))
    ax, ay = anim.anchor
    moved = 0.0
    for i in range(len(anim)):
        dx, dy, s = _expected_pose(motion, i / len(anim), amplitude, 128)
        ex, ey = ax + s * (x0 - ax) + dx, ay + s * (y0 - ay) + dy
        x, y, area = centroid(product_share(anim.frame(i), anim.plate.image))
        assert (x, y) == pytest.approx((ex, ey), abs=0.05), f"frame {i}"
        assert area == pytest.approx(area0 * s * s, rel=0.01), f"frame {i}"
        moved = max(moved, abs(x - x0) + abs(y - y0) + abs(area / area0 - 1) * 100)
    assert moved > 2.0  # it really moved


def test_background_is_identical_outside_the_swept_area_when_parallax_is_zero() -> None:
    image, mask = textured_scene()
    anim = Animation.prepare(
        image, mask, motion="sway", amplitude=0.05, duration=0.5, fps=20, size=None,
        parallax=0.0, shadow=0.0, inpainter="telea",
    )  # fmt: skip
    assert anim.margin == 0
    frames = np.stack(list(anim))
    # The product (x 50..80, y 40..90) sways by at most 0.05 × 128 = 6.4 px sideways.
    outside = np.ones((128, 128), bool)
    outside[40 - 3 : 90 + 3, 50 - 6 - 3 : 80 + 6 + 3] = False
    assert np.all(frames[:, outside] == anim.plate.image[outside])
    # Outside the dilated hole the plate is the input itself.
    keep = outside & ~anim.plate.hole
    assert np.all(frames[:, keep] == image[keep])
    inside = ~outside
    assert np.abs(frames[:, inside].astype(int) - frames[0, inside]).max() > 100


def test_shadow_stays_inside_the_swept_box() -> None:
    image, mask = textured_scene()
    anim = Animation.prepare(
        image, mask, motion="rise", duration=0.5, fps=20, size=None, parallax=0.0,
        shadow=0.5, inpainter="telea",
    )  # fmt: skip
    x0, y0, x1, y1 = anim.swept_box()
    assert y1 > 90  # the shadow reaches below the product's base
    outside = np.ones((128, 128), bool)
    outside[y0:y1, x0:x1] = False
    frames = np.stack(list(anim))
    assert np.all(frames[:, outside] == anim.plate.image[outside])
    # Under the product's base the floor is darker than the plate (the shadow).
    base = frames[0, 91:94, 55:75].astype(int)
    assert (base.mean() < anim.plate.image[91:94, 55:75].mean() - 3).all()


def test_parallax_moves_the_background_by_its_share_of_the_motion() -> None:
    image, mask = textured_scene()
    anim = Animation.prepare(
        image, mask, motion="sway", amplitude=0.0625, duration=1.0, fps=8, size=None,
        parallax=0.5, shadow=0.0, inpainter="telea",
    )  # fmt: skip
    quarter = 2  # t = 0.25: the product is 0.0625 × 128 = 8 px right, the background 4 px
    assert anim.pose(quarter).dx == pytest.approx(8.0)
    assert anim.background_pose(quarter).dx == pytest.approx(4.0)
    m = anim.margin
    assert m >= 5
    frame = anim.frame(quarter)
    plate = anim.plate.image
    # The top rows (far from the product) are the plate moved 4 px right.
    assert np.array_equal(frame[:30, 10:120], plate[m : m + 30, m + 10 - 4 : m + 120 - 4])
    # At rest, the frame is the still outside the product's hole.
    still = anim.still
    rest = anim.frame(0)
    hole = anim.plate.hole[m : m + 128, m : m + 128]
    assert np.array_equal(rest[~hole], still[~hole])


def test_loop_is_seamless() -> None:
    image, mask = textured_scene()
    for motion in ("sway", "orbit", "push-in", "rise"):
        anim = Animation.prepare(
            image, mask, motion=motion, duration=1.0, fps=12, size=None, inpainter="telea"
        )
        n = len(anim)
        first = anim.frame(0)
        assert np.array_equal(anim.frame(n), first), motion  # frame "last + 1" is the first
        steps = [np.abs(anim.frame(i + 1).astype(int) - anim.frame(i)).mean() for i in range(n - 1)]
        jump = np.abs(first.astype(int) - anim.frame(n - 1)).mean()
        assert jump <= 1.5 * max(steps), motion  # no bigger than a step inside the loop


def test_fits_other_aspect_ratios_and_keeps_the_product() -> None:
    image, mask = textured_scene(96, 160)
    anim = Animation.prepare(image, mask, size=(64, 112), duration=0.25, fps=8, inpainter="ns")
    frame = anim.frame(0)
    assert frame.shape == (112, 64, 3)
    blue = (frame[..., 2] > 180) & (frame[..., 0] < 60)
    assert blue.sum() > 200  # the product is in the frame


# --------------------------------------------------------------------------------------------
# bad input


def test_bad_masks_are_refused_with_clear_messages() -> None:
    image, mask = flat_scene()
    with pytest.raises(InputError, match=r"empty .*no product"):
        Animation.prepare(image, np.zeros_like(mask), size=None)
    with pytest.raises(InputError, match=r"covers the whole 128×128 image.*no background"):
        Animation.prepare(image, np.ones_like(mask), size=None)
    with pytest.raises(InputError, match=r"64×128 \(W×H\) but the image is 128×128"):
        Animation.prepare(image, mask[:, :64], size=None)
    with pytest.raises(InputError, match="empty"):
        animate(image, np.zeros((128, 128), np.uint8), "x.mp4")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"motion": "spin"}, "motion: unknown motion 'spin'; known: orbit, push-in, rise, sway"),
        ({"duration": 0}, "duration"),
        ({"duration": 61}, "duration"),
        ({"fps": 0}, "fps"),
        ({"fps": 24.5}, "fps"),
        ({"size": (8, 8)}, "size: each side"),
        ({"parallax": 1.5}, r"parallax: expected a number in \[0, 1\]"),
        ({"parallax": -0.1}, "parallax"),
        ({"amplitude": 0.5}, "amplitude"),
        ({"easing": "bounce"}, "easing: unknown easing 'bounce'; known: cubic, linear"),
        ({"shadow": 2}, "shadow"),
        ({"inpainter": "nope"}, "inpainter: unknown inpainter 'nope'"),
        ({"duration": 0.01, "fps": 30}, "fewer than 2 frames"),
    ],
)
def test_bad_options(options: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        AnimationOptions(**options)


def test_parse_size() -> None:
    assert parse_size("1080x1080") == (1080, 1080)
    assert parse_size("1080×1350") == (1080, 1350)
    assert parse_size("story") == (1080, 1920)
    assert parse_size("source") is None
    with pytest.raises(InputError, match="size: expected WIDTHxHEIGHT"):
        parse_size("big")
    with pytest.raises(InputError, match="size: each side"):
        parse_size("10x5000")


# --------------------------------------------------------------------------------------------
# writers


def test_mp4_decodes_with_the_requested_size_fps_and_frames(tmp_path: Path) -> None:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    image, mask = textured_scene()
    result = animate(
        image, mask, tmp_path / "out.mp4", duration=1.5, fps=12, size=(128, 96), inpainter="ns"
    )
    assert result.frames == 18 and result.size == (128, 96) and result.fps == 12
    assert set(result.seconds) == {"plate", "render", "encode"}
    reader = imageio_ffmpeg.read_frames(str(result.path))
    meta = next(reader)
    assert tuple(meta["size"]) == (128, 96)
    assert meta["fps"] == pytest.approx(12)
    decoded = [np.frombuffer(f, np.uint8).reshape(96, 128, 3) for f in reader]
    assert len(decoded) == 18
    rendered = Animation.prepare(
        image, mask, duration=1.5, fps=12, size=(128, 96), inpainter="ns"
    ).frame(0)

    # Lossy (and yuv420p halves the colour resolution of the noise), but the same picture.
    def coarse(frame: np.ndarray) -> np.ndarray:
        return cv2.resize(frame, (16, 12), interpolation=cv2.INTER_AREA).astype(int)

    assert np.abs(coarse(decoded[0]) - coarse(rendered)).max() < 6
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]  # no temporary file left


@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_gif_and_webp_have_every_frame_and_the_loop_duration(tmp_path: Path, fmt: str) -> None:
    image, mask = textured_scene()
    out = tmp_path / f"loop.{fmt}"
    result = animate(image, mask, out, duration=1.0, fps=15, size=(96, 96), inpainter="ns")
    assert result.frames == 15
    with Image.open(out) as im:
        assert im.n_frames == 15 and im.size == (96, 96)
        total = 0
        for i in range(im.n_frames):
            im.seek(i)
            im.load()  # WebP fills in the frame's duration on load
            total += im.info["duration"]
    assert total == pytest.approx(1000, abs=10)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    def frames():
        yield np.zeros((32, 32, 3), np.uint8)
        raise RuntimeError("renderer broke")

    for fmt in ("mp4", "gif"):
        out = tmp_path / f"broken.{fmt}"
        with pytest.raises(RuntimeError, match="renderer broke"):
            write_video(out, frames(), fps=10, size=(32, 32))
        assert not out.exists()
    with pytest.raises(InputError, match="expected a 32×32×3 uint8 array"):
        write_video(tmp_path / "x.gif", [np.zeros((16, 16, 3), np.uint8)], fps=10, size=(32, 32))
    with pytest.raises(InputError, match="even sides"):
        write_video(tmp_path / "x.mp4", [np.zeros((33, 32, 3), np.uint8)], fps=10, size=(32, 33))
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# command line, page


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    image, mask = textured_scene()
    write_image(tmp_path / "staged.png", image)
    write_mask(tmp_path / "staged.mask.png", mask)
    return tmp_path / "staged.png", tmp_path / "staged.mask.png"


def test_cli_writes_the_video_and_json(files, tmp_path: Path) -> None:
    image, mask = files
    out = tmp_path / "ad.webp"
    args = ["animate", str(image), "--mask", str(mask), "-o", str(out), "--duration", "0.5"]
    args += ["--fps", "10", "--size", "64x64", "--motion", "orbit", "--inpainter", "ns"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["path"] == str(image) and record["video"] == str(out)
    assert record["frames"] == 5 and record["fps"] == 10
    assert record["size"] == [64, 64] and set(record["seconds"]) == {"plate", "render", "encode"}
    with Image.open(out) as im:
        assert im.n_frames == 5 and im.size == (64, 64)
    gif = tmp_path / "ad.bin"
    plain = runner.invoke(
        app, [*args[:5], str(gif), *args[6:], "--container", "gif", "--no-shadow"]
    )
    assert plain.exit_code == 0, plain.stderr
    assert "5 frames" in plain.stderr and Image.open(gif).format == "GIF"


def test_cli_segments_when_no_mask_is_given(files, tmp_path: Path) -> None:
    image, _ = files
    out = tmp_path / "auto.gif"
    result = runner.invoke(
        app, ["animate", str(image), "-o", str(out), "--duration", "0.2", "--fps", "10",
              "--size", "source", "--inpainter", "ns"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "product segmented by" in result.stderr and out.exists()


def test_cli_bad_masks_and_options_exit_2(files, tmp_path: Path) -> None:
    image, _ = files
    out = tmp_path / "x.mp4"
    cases = {
        "empty.png": (np.zeros((128, 128), bool), "empty"),
        "full.png": (np.ones((128, 128), bool), "covers the whole"),
        "small.png": (np.ones((64, 64), bool), "64×64 (W×H) but the image is 128×128"),
    }
    for name, (mask, message) in cases.items():
        write_mask(tmp_path / name, mask)
        result = runner.invoke(
            app, ["animate", str(image), "-m", str(tmp_path / name), "-o", str(out)]
        )
        assert result.exit_code == 2, name
        assert name in result.stderr and message in result.stderr, result.stderr
    for option, message in [
        (["--motion", "spin"], "known: orbit, push-in, rise, sway"),
        (["--parallax", "2"], "parallax"),
        (["--size", "huge"], "size"),
        (["--fps", "0"], "fps"),
        (["--container", "avi"], "--container"),
    ]:
        result = runner.invoke(app, ["animate", str(image), "-o", str(out), *option])
        assert result.exit_code == 2 and message in result.stderr, option
    assert not out.exists()


def test_animation_page_shows_each_video_next_to_its_still(tmp_path: Path) -> None:
    (tmp_path / "media").mkdir()
    page = write_animation_page(
        tmp_path,
        [
            {"video": tmp_path / "media" / "a.mp4", "still": tmp_path / "media" / "a.png",
             "title": "chair <sway>"},
            ("b.gif", "b.png"),
        ],
    )  # fmt: skip
    text = page.read_text()
    assert page == tmp_path / "index.html"
    assert '<video src="media/a.mp4" autoplay loop muted playsinline' in text
    assert '<img src="media/a.png"' in text and "chair &lt;sway&gt;" in text
    assert '<img src="b.gif"' in text and '<img src="b.png"' in text
    assert str(tmp_path) not in text  # relative paths only
    with pytest.raises(InputError, match="'video' and 'still'"):
        write_animation_page(tmp_path, [{"video": "a.mp4"}])


def test_stage_animate_writes_a_video_per_candidate(tmp_path: Path) -> None:
    pytest.importorskip("lancedb")
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")

    syn = SyntheticCatalog(12, seed=1, size=(128, 128))
    ingest_synthetic(syn, tmp_path)
    # Plain item 5: one the default screen stages (see tests/cli/conftest.py small_catalog).
    product = [item for item in (syn[i] for i in range(len(syn))) if not item.staged][5]
    write_image(tmp_path / "products" / "p.png", product.image)
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["stage", str(tmp_path / "products"), "-c", str(tmp_path / "cat"), "-o", str(out),
         "-k", "1", "--inpainter", "ns", "--animate", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((out / "p" / "manifest.json").read_text())
    cand = manifest["candidates"][0]
    assert cand["video"] == "candidate-0.mp4"
    still = np.asarray(Image.open(out / "p" / cand["path"]))
    reader = imageio_ffmpeg.read_frames(str(out / "p" / cand["video"]))
    meta = next(reader)
    h, w = still.shape[:2]
    vw, vh = w - w % 2, h - h % 2
    assert tuple(meta["size"]) == (vw, vh) and meta["fps"] == pytest.approx(30)
    frames = [np.frombuffer(f, np.uint8).reshape(vh, vw, 3).astype(int) for f in reader]
    assert len(frames) == 90
    # It starts on the still, and what moves is the pasted product (its placement box).
    coarse = [
        cv2.resize(f.astype(np.uint8), (vw // 8, vh // 8), interpolation=cv2.INTER_AREA)
        for f in (frames[0], still[:vh, :vw])
    ]
    assert np.abs(coarse[0].astype(int) - coarse[1]).mean() < 3  # H.264 and the soft shadow
    x0, y0, x1, y1 = cand["placement"]
    change = np.abs(frames[22] - frames[0]).max(axis=2) > 40
    inside = np.zeros((vh, vw), bool)
    inside[max(0, y0 - 8) : y1 + 8, max(0, x0 - 12) : x1 + 12] = True
    # (the background moves too, by the parallax ratio: compare the share of pixels that change)
    assert change[inside].sum() > 20 and change[inside].mean() > 4 * change[~inside].mean()


def test_animate_segments_the_image_without_a_mask(tmp_path: Path) -> None:
    image, _ = textured_scene()
    result = animate(image, None, tmp_path / "a.gif", duration=0.2, fps=10, size=(64, 64),
                     inpainter="ns")  # fmt: skip
    assert result.segmenter in {"grabcut", "solid-background", "isnet"}  # what auto chose
    assert result.frames == 2 and "segment" in result.seconds
