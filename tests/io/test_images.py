"""Tests for adstage.io.images: every odd file is generated with Pillow in tmp_path."""

from __future__ import annotations

import io
import logging
import resource
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile

from adstage.errors import InputError
from adstage.io.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    iter_image_paths,
    read_image,
    read_image_rgba,
    read_mask,
    resolve_max_pixels,
    write_image,
    write_mask,
)

RED = (255, 0, 0)
BLUE = (0, 0, 255)


# ----------------------------------------------------------------------------------------------
# helpers


def _gradient(h: int = 24, w: int = 32) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w]
    return np.dstack([xs * 255 // (w - 1), ys * 255 // (h - 1), (xs + ys) % 256]).astype(np.uint8)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG with a valid IHDR (correct CRC) claiming width×height, and no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")


def _icc(space: str, gamma: float) -> bytes:
    """A minimal ICC v4 display profile: sRGB's primaries and white point, a pure-gamma curve.

    ``space`` is "RGB" (matrix/TRC profile) or "GRAY" (kTRC profile).
    """
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    (count,) = struct.unpack(">I", srgb[128:132])
    tags = {}
    for i in range(count):
        sig, off, size = struct.unpack(">4sII", srgb[132 + 12 * i : 144 + 12 * i])
        tags[sig] = srgb[off : off + size]
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)
    if space == "RGB":
        keep = {k: tags[k] for k in (b"desc", b"wtpt", b"rXYZ", b"gXYZ", b"bXYZ")}
        keep.update({b"rTRC": curve, b"gTRC": curve, b"bTRC": curve})
    else:
        keep = {b"desc": tags[b"desc"], b"wtpt": tags[b"wtpt"], b"kTRC": curve}
    start = 128 + 4 + 12 * len(keep)
    table, data = b"", b""
    for sig, body in keep.items():
        table += struct.pack(">4sII", sig, start + len(data), len(body))
        data += body + bytes(-len(body) % 4)
    header = bytearray(srgb[:128])
    header[0:4] = struct.pack(">I", start + len(data))
    header[16:20] = b"RGB " if space == "RGB" else b"GRAY"
    header[84:100] = bytes(16)  # profile ID: not computed
    return bytes(header) + struct.pack(">I", len(keep)) + table + data


def _one_line_naming(err: pytest.ExceptionInfo[InputError], name: str) -> str:
    message = str(err.value)
    assert "\n" not in message
    assert name in message
    return message


# ----------------------------------------------------------------------------------------------
# reading: colour, depth, orientation, transparency


def test_png_round_trip_is_exact_from_path_and_bytes(tmp_path: Path) -> None:
    image = _gradient()
    path = write_image(tmp_path / "g.png", image)
    out = read_image(path)
    assert out.dtype == np.uint8 and out.shape == (24, 32, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, image)
    np.testing.assert_array_equal(read_image(path.read_bytes()), image)
    np.testing.assert_array_equal(read_image(str(path)), image)


def test_exif_orientation_6_rotates_dimensions_and_content(tmp_path: Path) -> None:
    stored = np.zeros((20, 40, 3), np.uint8)  # 40 wide, 20 high: red left half, blue right half
    stored[:, :20] = RED
    stored[:, 20:] = BLUE
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(path, quality=95, exif=exif.tobytes())
    out = read_image(path).astype(int)
    assert out.shape == (40, 20, 3)
    assert np.abs(out[5, 10] - RED).max() < 16  # the left half is now on top
    assert np.abs(out[35, 10] - BLUE).max() < 16


def test_cmyk_jpeg_becomes_rgb_with_about_the_same_colours(tmp_path: Path) -> None:
    image = np.zeros((16, 48, 3), np.uint8)
    image[:, :16] = (200, 40, 40)
    image[:, 16:32] = (30, 160, 60)
    image[:, 32:] = (240, 240, 230)
    path = tmp_path / "print.jpg"
    Image.fromarray(image).convert("CMYK").save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    out = read_image(path)
    assert out.shape == image.shape
    for x in (8, 24, 40):
        assert np.abs(out[8, x].astype(int) - image[8, x]).max() <= 8


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path: Path, suffix: str) -> None:
    values = np.array([0, 257, 1000, 32896, 40000, 65535], dtype=np.uint16)
    grid = np.tile(values, (8, 2))  # 8×12
    path = tmp_path / f"deep{suffix}"
    Image.fromarray(grid).save(path)
    assert Image.open(path).mode.startswith("I;16")
    out = read_image(path)
    expected = np.rint(grid / 257.0).astype(np.uint8)  # 0, 1, 4, 128, 156, 255
    np.testing.assert_array_equal(out[:, :, 0], expected)
    np.testing.assert_array_equal(out[:, :, 1], out[:, :, 2])


def test_32_bit_integer_and_float_tiffs(tmp_path: Path) -> None:
    ints = np.tile(np.array([0, 32896, 65535], dtype=np.int32), (8, 3))
    Image.fromarray(ints).save(tmp_path / "i.tif")
    assert Image.open(tmp_path / "i.tif").mode == "I"
    np.testing.assert_array_equal(read_image(tmp_path / "i.tif")[0, :3, 0], [0, 128, 255])

    floats = np.tile(np.array([0.0, 0.5, 1.0], dtype=np.float32), (8, 3))
    Image.fromarray(floats).save(tmp_path / "f.tif")
    assert Image.open(tmp_path / "f.tif").mode == "F"
    np.testing.assert_array_equal(read_image(tmp_path / "f.tif")[0, :3, 1], [0, 128, 255])

    wide = np.tile(np.array([-10.0, 0.0, 990.0], dtype=np.float32), (8, 3))  # stretched
    Image.fromarray(wide).save(tmp_path / "w.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "w.tif")[0, :3, 2], [0, 3, 255])


def test_palette_png_with_transparency(tmp_path: Path) -> None:
    index = np.zeros((10, 10), np.uint8)
    index[:, 5:] = 1
    im = Image.fromarray(index).convert("P")
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * (254 * 3))
    path = tmp_path / "pal.png"
    im.save(path, transparency=0)  # red entries are transparent
    assert Image.open(path).mode == "P"

    out = read_image(path)
    assert tuple(out[0, 0]) == (255, 255, 255) and tuple(out[0, 9]) == BLUE
    assert tuple(read_image(path, background=(0, 128, 0))[0, 0]) == (0, 128, 0)
    rgba = read_image_rgba(path)
    assert rgba.shape == (10, 10, 4)
    assert rgba[0, 0, 3] == 0 and tuple(rgba[0, 9]) == (*BLUE, 255)


def test_la_is_composited_over_white(tmp_path: Path) -> None:
    grey = np.zeros((8, 9), np.uint8)  # black everywhere
    alpha = np.tile(np.array([0, 128, 255], np.uint8), (8, 3))
    path = tmp_path / "la.png"
    Image.fromarray(np.dstack([grey, alpha])).convert("LA").save(path)
    out = read_image(path)
    np.testing.assert_array_equal(out[0, :3, 0], [255, 127, 0])  # 255·(1 − α/255), rounded
    np.testing.assert_array_equal(read_image_rgba(path)[0, :3, 3], [0, 128, 255])


def test_rgba_keeps_alpha_and_opaque_image_gets_255(tmp_path: Path) -> None:
    rgba = np.dstack([_gradient(), np.full((24, 32), 77, np.uint8)])
    write_image(tmp_path / "a.png", rgba)
    np.testing.assert_array_equal(read_image_rgba(tmp_path / "a.png"), rgba)
    write_image(tmp_path / "b.png", _gradient())
    assert (read_image_rgba(tmp_path / "b.png")[:, :, 3] == 255).all()


def test_greyscale_and_1_bit(tmp_path: Path) -> None:
    grey = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (8, 1))
    Image.fromarray(grey).save(tmp_path / "l.png")
    out = read_image(tmp_path / "l.png")
    assert out.shape == (8, 16, 3)
    np.testing.assert_array_equal(out[:, :, 0], grey)
    np.testing.assert_array_equal(out[:, :, 0], out[:, :, 2])

    Image.fromarray(grey > 100).save(tmp_path / "one.png")
    assert Image.open(tmp_path / "one.png").mode == "1"
    np.testing.assert_array_equal(read_image(tmp_path / "one.png")[:, :, 1], (grey > 100) * 255)


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".png"])
def test_animation_gives_its_first_frame(tmp_path: Path, suffix: str) -> None:
    frames = [Image.new("RGB", (16, 12), colour) for colour in (RED, (0, 255, 0), BLUE)]
    path = tmp_path / f"anim{suffix}"
    extra = {"lossless": True} if suffix == ".webp" else {}
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0, **extra)
    with Image.open(path) as im:
        assert getattr(im, "n_frames", 1) == 3
    out = read_image(path)
    assert out.shape == (12, 16, 3)
    assert np.abs(out.astype(int) - RED).max() <= 2


# ----------------------------------------------------------------------------------------------
# ICC profiles


def test_icc_profile_is_converted_to_srgb(tmp_path: Path) -> None:
    flat = Image.new("RGB", (8, 8), (128, 128, 128))
    flat.save(tmp_path / "linear.png", icc_profile=_icc("RGB", 1.0))
    flat.save(tmp_path / "plain.png")
    # 128 in linear light is 0.502, which sRGB encodes as 188
    assert abs(int(read_image(tmp_path / "linear.png")[4, 4, 0]) - 188) <= 1
    assert read_image(tmp_path / "plain.png")[4, 4, 0] == 128

    Image.new("L", (8, 8), 128).save(tmp_path / "grey.png", icc_profile=_icc("GRAY", 1.0))
    assert abs(int(read_image(tmp_path / "grey.png")[4, 4, 1]) - 188) <= 1


def test_srgb_profile_leaves_pixels_alone(tmp_path: Path) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = _gradient()
    Image.fromarray(image).save(tmp_path / "srgb.png", icc_profile=srgb)
    assert np.abs(read_image(tmp_path / "srgb.png").astype(int) - image).max() <= 1


def test_broken_or_mismatched_icc_profile_logs_and_keeps_raw_pixels(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    image = _gradient()
    Image.fromarray(image).save(tmp_path / "junk.png", icc_profile=b"not a profile at all" * 10)
    Image.fromarray(image[:, :, 0]).save(tmp_path / "mismatch.png", icc_profile=_icc("RGB", 1.0))
    with caplog.at_level(logging.WARNING, logger="adstage.io.images"):
        np.testing.assert_array_equal(read_image(tmp_path / "junk.png"), image)
        out = read_image(tmp_path / "mismatch.png")
    np.testing.assert_array_equal(out[:, :, 0], image[:, :, 0])
    messages = [r.getMessage() for r in caplog.records]
    assert any("junk.png" in m and "ICC" in m for m in messages)
    assert any("mismatch.png" in m and "describes RGB data" in m for m in messages)
    with pytest.raises(InputError, match="background"):
        read_image(tmp_path / "junk.png", background=(0, 0, 256))


# ----------------------------------------------------------------------------------------------
# bad files: one InputError naming the file


def test_missing_empty_directory_and_text_files(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        read_image(tmp_path / "nope.jpg")
    assert "not found" in _one_line_naming(err, "nope.jpg")

    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError) as err:
        read_image(tmp_path / "empty.png")
    assert "0 bytes" in _one_line_naming(err, "empty.png")

    with pytest.raises(InputError, match="0 bytes"):
        read_image(b"")

    with pytest.raises(InputError) as err:
        read_image(tmp_path)
    assert "directory" in _one_line_naming(err, str(tmp_path))

    (tmp_path / "notes.jpg").write_text("this is a shopping list, not a photo\n" * 20)
    with pytest.raises(InputError) as err:
        read_image(tmp_path / "notes.jpg")
    assert "not an image" in _one_line_naming(err, "notes.jpg")


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_file_is_refused_without_touching_pillow_globals(
    tmp_path: Path, suffix: str
) -> None:
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)  # incompressible: many bytes
    whole = tmp_path / f"whole{suffix}"
    Image.fromarray(noisy).save(whole)
    data = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as err:
        read_image(cut)
    assert "truncated or corrupt" in _one_line_naming(err, cut.name)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_tiny_images_are_refused_below_min_side(tmp_path: Path) -> None:
    Image.new("RGB", (1, 1), RED).save(tmp_path / "dot.png")
    with pytest.raises(InputError) as err:
        read_image(tmp_path / "dot.png")
    assert "1×1" in _one_line_naming(err, "dot.png")
    assert read_image(tmp_path / "dot.png", min_side=1).shape == (1, 1, 3)
    Image.new("RGB", (100, 7), RED).save(tmp_path / "strip.png")
    with pytest.raises(InputError, match="min_side"):
        read_image(tmp_path / "strip.png")
    with pytest.raises(InputError, match="min_side"):
        read_image(tmp_path / "dot.png", min_side=0)


def test_huge_header_fails_fast_without_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[tuple[int, int]] = []  # "fast" = refused from the header, before any decoding

    def no_decoding(self: ImageFile.ImageFile) -> None:
        decoded.append(self.size)  # recorded even if the reader swallowed the error below
        raise AssertionError("the reader started decoding a decompression bomb")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    pil_limit = Image.MAX_IMAGE_PIXELS
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_only(30000, 30000))  # 900 Mpx, 2.7 GB decoded
    big = tmp_path / "big.png"
    big.write_bytes(_png_header_only(12000, 10000))  # 120 Mpx: Pillow only warns about it

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning may escape either
        with pytest.raises(InputError) as err:
            read_image(bomb)
        assert "max_pixels" in _one_line_naming(err, "bomb.png")
        with pytest.raises(InputError) as err:
            read_mask(big)
        assert "12000×10000" in _one_line_naming(err, "big.png")
        with pytest.raises(InputError, match="max_pixels=1,000"):
            read_image(_png_header_only(40, 40), max_pixels=1000)
    assert decoded == []
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert grown_kib < 100_000
    assert pil_limit == Image.MAX_IMAGE_PIXELS


def test_max_pixels_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_image(tmp_path / "g.png", _gradient())  # 24×32 = 768 px
    assert resolve_max_pixels() == DEFAULT_MAX_PIXELS
    monkeypatch.setenv("ADSTAGE_MAX_PIXELS", "500")
    assert resolve_max_pixels() == 500
    with pytest.raises(InputError, match="ADSTAGE_MAX_PIXELS"):
        read_image(tmp_path / "g.png")
    assert read_image(tmp_path / "g.png", max_pixels=1000).shape == (24, 32, 3)  # argument wins
    monkeypatch.setenv("ADSTAGE_MAX_PIXELS", "none")
    assert resolve_max_pixels() is None
    monkeypatch.setenv("ADSTAGE_MAX_PIXELS", "lots")
    with pytest.raises(InputError, match="ADSTAGE_MAX_PIXELS"):
        read_image(tmp_path / "g.png")
    with pytest.raises(InputError, match="max_pixels"):
        read_image(tmp_path / "g.png", max_pixels=0)


# ----------------------------------------------------------------------------------------------
# writing


def test_write_formats_and_jpeg_of_rgba_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[:, :8] = (*RED, 255)  # left opaque red, right fully transparent black
    jpg = write_image(tmp_path / "out" / "cut.JPG", rgba)  # parents created, suffix any case
    out = read_image(jpg).astype(int)
    assert np.abs(out[8, 2] - RED).max() < 12 and np.abs(out[8, 13] - 255).max() < 12

    webp = write_image(tmp_path / "cut.webp", rgba, quality=90)
    assert Image.open(webp).format == "WEBP"
    assert read_image_rgba(webp)[8, 13, 3] == 0

    pil = write_image(tmp_path / "pil.png", Image.fromarray(rgba))
    np.testing.assert_array_equal(read_image_rgba(pil), rgba)
    grey = write_image(tmp_path / "grey.webp", rgba[:, :, 0])
    assert read_image(grey).shape == (16, 16, 3)


def test_write_refuses_bad_suffix_array_and_quality(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"\.gifx"):
        write_image(tmp_path / "x.gifx", _gradient())
    with pytest.raises(InputError, match="uint8"):
        write_image(tmp_path / "x.png", _gradient().astype(np.float32))
    with pytest.raises(InputError, match="quality"):
        write_image(tmp_path / "x.jpg", _gradient(), quality=0)
    with pytest.raises(InputError, match=r"\.png"):
        write_mask(tmp_path / "m.jpg", np.ones((8, 8), bool))
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_old_file_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _gradient()
    path = write_image(tmp_path / "out.png", old)
    before = path.read_bytes()

    def save_half_then_fail(self: Image.Image, fp: io.BufferedWriter, *args: object, **kw: object):
        fp.write(b"\x89PNG\r\n\x1a\n partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(Image.Image, "save", save_half_then_fail)
    with pytest.raises(InputError) as err:
        write_image(path, np.zeros((24, 32, 3), np.uint8))
    assert "No space left" in _one_line_naming(err, "out.png")
    with pytest.raises(InputError):
        write_mask(tmp_path / "mask.png", np.ones((8, 8), bool))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


# ----------------------------------------------------------------------------------------------
# masks


def test_mask_round_trip_bool_and_float(tmp_path: Path) -> None:
    binary = np.zeros((12, 10), bool)
    binary[3:9, 2:7] = True
    path = write_mask(tmp_path / "m.png", binary)
    assert Image.open(path).mode == "L"
    assert set(np.unique(np.asarray(Image.open(path)))) == {0, 255}
    out = read_mask(path, shape=(12, 10))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, binary.astype(np.float32))

    soft = np.linspace(0, 1, 120, dtype=np.float32).reshape(12, 10)
    out = read_mask(write_mask(tmp_path / "soft.png", soft))
    assert np.abs(out - soft).max() <= 0.5 / 255 + 1e-6


def test_mask_from_1_bit_16_bit_and_alpha(tmp_path: Path) -> None:
    binary = np.zeros((8, 8), bool)
    binary[:, 4:] = True
    Image.fromarray(binary).save(tmp_path / "one.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "one.png"), binary)

    deep = (binary * 65535).astype(np.uint16)
    deep[0, 0] = 32768
    Image.fromarray(deep).save(tmp_path / "deep.png")
    out = read_mask(tmp_path / "deep.png")
    assert out[0, 0] == pytest.approx(32768 / 65535) and out[0, 7] == 1.0

    rgba = np.dstack([np.zeros((8, 8, 3), np.uint8), binary * np.uint8(255)])
    Image.fromarray(rgba).save(tmp_path / "cutout.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "cutout.png"), binary)

    opaque = np.dstack(
        [np.repeat(binary[:, :, None] * np.uint8(255), 3, axis=2), np.full((8, 8), 255, np.uint8)]
    )
    Image.fromarray(opaque).save(tmp_path / "opaque.png")  # mask drawn in colour, alpha unused
    np.testing.assert_array_equal(read_mask(tmp_path / "opaque.png"), binary)


def test_mask_shape_check_and_explicit_nearest_resize(tmp_path: Path) -> None:
    binary = np.zeros((8, 8), bool)
    binary[:4, :] = True
    path = write_mask(tmp_path / "m.png", binary)
    with pytest.raises(InputError) as err:
        read_mask(path, shape=(16, 16))
    assert "resize_to" in _one_line_naming(err, "m.png")
    big = read_mask(path, shape=(16, 16), resize_to=(16, 16))
    assert big.shape == (16, 16)
    assert set(np.unique(big)) == {0.0, 1.0}  # nearest: no blur
    np.testing.assert_array_equal(big[:8], 1.0)
    np.testing.assert_array_equal(big[8:], 0.0)
    with pytest.raises(InputError, match="resize_to"):
        read_mask(path, resize_to=(0, 4))


# ----------------------------------------------------------------------------------------------
# listing inputs


def test_iter_image_paths(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    (shop / "sub").mkdir(parents=True)
    (shop / ".hidden").mkdir()
    for name in ("b.PNG", "a.jpg", "c.txt", ".d.jpg", "sub/e.webp", ".hidden/f.png"):
        (shop / name).write_bytes(b"x")
    odd = tmp_path / "photo.heic"
    odd.write_bytes(b"x")
    missing = tmp_path / "gone.jpg"

    assert iter_image_paths([shop]) == [shop / "a.jpg", shop / "b.PNG"]
    assert iter_image_paths(shop, recursive=True) == [
        shop / "a.jpg",
        shop / "b.PNG",
        shop / "sub" / "e.webp",
    ]
    listed = iter_image_paths([odd, str(shop), missing, odd])
    assert listed == [odd, shop / "a.jpg", shop / "b.PNG", missing]
    with pytest.raises(InputError, match="not found"):
        read_image(missing)
    assert set(IMAGE_SUFFIXES) >= {
        ".jpg",
        ".jpeg",
        ".png",
        ".webp",
        ".bmp",
        ".tif",
        ".tiff",
        ".gif",
    }


def test_read_image_reduced_keeps_the_full_size_and_orientation(tmp_path) -> None:
    import cv2

    from adstage.io.images import read_image_reduced

    rng = np.random.default_rng(0)
    big = rng.integers(0, 255, (600, 900, 3), dtype=np.uint8)
    big = cv2.GaussianBlur(big, (0, 0), 4)
    path = tmp_path / "big.jpg"
    Image.fromarray(big).save(path, quality=95)
    small, full = read_image_reduced(path, 300)
    assert full == (900, 600) and small.shape == (200, 300, 3)
    reference = cv2.resize(read_image(path), (300, 200), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - reference.astype(int)).mean() < 3
    # EXIF orientation 6 (rotate 90°): the full size is reported after rotation.
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(big).save(tmp_path / "rot.jpg", exif=exif)
    small, full = read_image_reduced(tmp_path / "rot.jpg", 300)
    assert full == (600, 900) and small.shape == (300, 200, 3)
    png_small, png_full = read_image_reduced(path, 1000)
    assert png_full == (900, 600) and png_small.shape == (600, 900, 3)  # never enlarged
    with pytest.raises(InputError, match="max_side"):
        read_image_reduced(path, 2)
