"""Reading and writing images and masks robustly.

Catalog photos come in every shape a camera, a scanner or an image editor can produce. The readers
here turn all of them into the layouts of :mod:`adstage.types` (``H×W×3`` ``uint8`` RGB images,
``float32`` ``H×W`` masks in ``[0, 1]``) and turn every way a file can be bad into one
:class:`~adstage.errors.InputError` whose one-line message names the file and the reason, so a
batch run can record the item and go on.

What the readers handle:

* EXIF orientation is applied (``ImageOps.exif_transpose``), so a portrait phone photo is portrait.
* An embedded ICC profile is converted to sRGB with ``PIL.ImageCms``. A profile that cannot be used
  (corrupt, or for another colour space than the pixels) is logged as a warning and the raw pixel
  values are kept.
* CMYK (e.g. print JPEGs), YCbCr, LAB and HSV become RGB.
* 16-bit greyscale (PNG, TIFF: modes ``I;16*``) is scaled to 8 bits (``round(v / 257)``), never
  clipped. 16-bit RGB files are already reduced to their high byte by Pillow.
* 32-bit integer images (mode ``I``) are read as 16-bit when every value lies in ``0..65535``,
  otherwise stretched from their minimum to their maximum. Float images (mode ``F``) in ``[0, 1]``
  are scaled by 255, in ``[0, 255]`` taken as is, otherwise stretched; NaN becomes 0.
* Transparency (RGBA, LA, palette or single-colour ``tRNS`` transparency) is composited over a
  background (white by default) by :func:`read_image` and kept by :func:`read_image_rgba`.
* Animated GIF, WebP and APNG files give their first frame.

What they refuse, before decoding a single pixel where possible: a missing or empty file, a file
that is not an image, a truncated or corrupt file (decoding is forced with ``load()``; Pillow's
global ``LOAD_TRUNCATED_IMAGES`` is left alone), an image whose smallest side is below
``min_side`` (default :data:`DEFAULT_MIN_SIDE`), and an image whose header declares more than
``max_pixels`` pixels (default ``$ADSTAGE_MAX_PIXELS`` or :data:`DEFAULT_MAX_PIXELS`). Pillow's own
decompression-bomb guard (``PIL.Image.MAX_IMAGE_PIXELS``) is not modified; its warning is silenced
locally (this module's limit replaces it) and its error becomes an :class:`InputError`.

Writers go through :func:`adstage.io.atomic.atomic_open`: a reader sees the old file or the complete
new one, never a partial file.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import threading
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal, cast

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from adstage.errors import InputError
from adstage.io.atomic import atomic_open
from adstage.types import RGB, as_alpha, as_rgb

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MIN_SIDE",
    "IMAGE_SUFFIXES",
    "MAX_PIXELS_ENV",
    "WRITE_FORMATS",
    "ImageInput",
    "ImageSource",
    "MaxPixels",
    "iter_image_paths",
    "load_rgb",
    "read_image",
    "read_image_reduced",
    "read_image_rgba",
    "read_mask",
    "resolve_max_pixels",
    "write_image",
    "write_mask",
]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES: tuple[str, ...] = (
    ".jpg",
    ".jpeg",
    ".png",
    ".webp",
    ".bmp",
    ".tif",
    ".tiff",
    ".gif",
)
"""Lower-case suffixes :func:`iter_image_paths` picks up when it expands a directory."""

WRITE_FORMATS: dict[str, str] = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
"""Suffix (lower case) → Pillow format for :func:`write_image`."""

DEFAULT_MAX_PIXELS = 100_000_000
"""Largest width × height the readers decode unless told otherwise (100 megapixels, ~300 MB RGB)."""

MAX_PIXELS_ENV = "ADSTAGE_MAX_PIXELS"
"""Environment variable overriding :data:`DEFAULT_MAX_PIXELS`: a positive integer, or ``none``."""

DEFAULT_MIN_SIDE = 8
"""Smallest width or height the readers accept: below it a 'photo' is an icon or a broken export."""

WHITE: tuple[int, int, int] = (255, 255, 255)

ImageSource = str | os.PathLike[str] | bytes | bytearray | memoryview
"""A path to an image file, or the encoded file's bytes (e.g. an upload)."""

ImageInput = str | os.PathLike[str] | Image.Image | NDArray[np.uint8]
"""What the public API accepts as an image: a path, a PIL image or an ``H×W×3`` uint8 array."""

MaxPixels = int | None | Literal["default"]
"""A pixel limit: a positive int, ``None`` for no limit of our own, ``"default"`` for
``$ADSTAGE_MAX_PIXELS`` or :data:`DEFAULT_MAX_PIXELS`."""

_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_ICC_SPACES = {"RGB": "RGB", "L": "GRAY", "CMYK": "CMYK"}
_UNSET_ENV_WORDS = ("none", "off", "unlimited", "0")


# --------------------------------------------------------------------------------------------
# options


def resolve_max_pixels(max_pixels: MaxPixels = "default") -> int | None:
    """Return the pixel limit a reader applies for ``max_pixels``.

    ``"default"`` reads ``$ADSTAGE_MAX_PIXELS`` (a positive integer, or ``none``/``0`` for no limit)
    and falls back to :data:`DEFAULT_MAX_PIXELS`; an int must be positive; ``None`` means no limit
    of our own (Pillow's ``MAX_IMAGE_PIXELS`` guard still applies).
    """
    if max_pixels == "default":
        raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
        if not raw:
            return DEFAULT_MAX_PIXELS
        if raw.lower() in _UNSET_ENV_WORDS:
            return None
        try:
            value = int(raw)
        except ValueError:
            value = -1
        if value <= 0:
            raise InputError(
                f"${MAX_PIXELS_ENV}: expected a positive integer or 'none', got {raw!r}"
            )
        return value
    if max_pixels is None:
        return None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels <= 0:
        raise InputError(
            f"max_pixels: expected a positive int, None or 'default', got {max_pixels!r}"
        )
    return max_pixels


def _check_min_side(min_side: int) -> int:
    if isinstance(min_side, bool) or not isinstance(min_side, int) or min_side < 1:
        raise InputError(f"min_side: expected an int >= 1, got {min_side!r}")
    return min_side


def _check_background(background: Any) -> tuple[int, int, int]:
    try:
        values = tuple(background)
    except TypeError:
        values = ()
    if len(values) != 3 or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) and 0 <= v <= 255
        for v in values
    ):
        raise InputError(f"background: expected three ints in 0..255 (R, G, B), got {background!r}")
    r, g, b = (int(v) for v in values)
    return (r, g, b)


def _check_pair(value: Any, argument: str) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        values = tuple(value)
    except TypeError:
        values = ()
    if len(values) != 2 or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 1 for v in values
    ):
        raise InputError(
            f"{argument}: expected (height, width) as two positive ints, got {value!r}"
        )
    return (int(values[0]), int(values[1]))


# --------------------------------------------------------------------------------------------
# opening and decoding


def _source_name(source: ImageSource) -> str:
    if isinstance(source, bytes | bytearray | memoryview):
        return f"<{memoryview(source).nbytes} bytes>"
    return os.fspath(source) if isinstance(source, os.PathLike) else str(source)


def _reason(exc: BaseException) -> str:
    """``exc`` as one line: its type and its (whitespace-collapsed) message."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextlib.contextmanager
def _open_stream(source: ImageSource, name: str) -> Iterator[IO[bytes]]:
    if isinstance(source, bytes | bytearray | memoryview):
        if memoryview(source).nbytes == 0:
            raise InputError(f"{name}: empty input (0 bytes), expected an image file's bytes")
        yield io.BytesIO(bytes(source))
        return
    if not isinstance(source, str | os.PathLike):
        raise InputError(
            f"image source: expected a path or bytes, got {type(source).__name__} ({source!r:.60})"
        )
    path = Path(source)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError(f"{name}: file not found") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot access the file ({_reason(exc)})") from exc
    if path.is_dir():
        raise InputError(f"{name}: is a directory, expected an image file")
    if size == 0:
        raise InputError(f"{name}: empty file (0 bytes)")
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{name}: cannot open the file ({_reason(exc)})") from exc
    with handle:
        yield handle


def _bomb_message(name: str, limit: int | None) -> str:
    pil_limit = Image.MAX_IMAGE_PIXELS
    pil_error = 2 * pil_limit if pil_limit is not None else 0
    if limit is not None and (pil_error == 0 or limit <= pil_error):
        return (
            f"{name}: image is larger than max_pixels={limit:,} pixels according to its header "
            f"(refused before decoding as a possible decompression bomb)"
        )
    return (
        f"{name}: image is larger than Pillow's decompression-bomb limit of {pil_error:,} pixels "
        f"(2 × PIL.Image.MAX_IMAGE_PIXELS) according to its header; refused before decoding"
    )


def _check_size(im: Image.Image, name: str, limit: int | None, min_side: int) -> None:
    width, height = im.size
    if limit is not None and width * height > limit:
        raise InputError(
            f"{name}: image is {width}×{height} = {width * height:,} pixels, more than "
            f"max_pixels={limit:,} (a decompression-bomb guard; raise it with max_pixels= "
            f"or ${MAX_PIXELS_ENV})"
        )
    if min(width, height) < min_side:
        raise InputError(
            f"{name}: image is {width}×{height} pixels, smaller than the minimum side of "
            f"{min_side} px (min_side)"
        )


_WARNINGS_LOCK = threading.Lock()


def _open_quietly(stream: IO[bytes]) -> Image.Image:
    """``Image.open`` without Pillow's ``DecompressionBombWarning`` (our own pixel limit replaces
    it; Pillow's error above twice its limit still raises).

    ``warnings.catch_warnings`` saves and restores the process-wide filter list, so two threads
    running it at once can leave the filters in either one's state (catalog ingest reads images on
    worker threads). The lock keeps adstage's readers from interleaving; the block is only the
    header parse, microseconds.
    """
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(stream)


@contextlib.contextmanager
def _decoded(
    source: ImageSource, *, max_pixels: MaxPixels, min_side: int, draft: int | None = None
) -> Iterator[tuple[Image.Image, str]]:
    """Open ``source``, check its header, decode its (first) frame and apply EXIF orientation.

    Yields the decoded image and the name to use in messages. The file stays open until the
    ``with`` block ends, so callers convert the image inside it. ``draft``: let a JPEG decoder
    scale down by a power of two while the longer side stays at least this many pixels (DCT
    scaling: several times faster than decoding everything and resizing). The full size, after
    EXIF orientation, is set as ``im.info["adstage_full_size"]``.
    """
    name = _source_name(source)
    limit = resolve_max_pixels(max_pixels)
    _check_min_side(min_side)
    with _open_stream(source, name) as stream:
        try:
            im: Image.Image = _open_quietly(stream)
        except Image.DecompressionBombError:
            raise InputError(_bomb_message(name, limit)) from None
        except UnidentifiedImageError:
            raise InputError(f"{name}: not an image file (no image format recognises it)") from None
        except MemoryError:
            raise
        except Exception as exc:  # a malformed header may raise almost anything inside Pillow
            raise InputError(f"{name}: cannot read the image header ({_reason(exc)})") from exc
        with im:
            _check_size(im, name, limit, min_side)
            full_size = im.size
            if draft is not None and im.format == "JPEG":
                scale = draft / max(im.size)
                if scale < 1.0:
                    wanted = (max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale)))
                    im.draft(im.mode, wanted)
            try:
                im.load()
            except Image.DecompressionBombError:
                raise InputError(_bomb_message(name, limit)) from None
            except MemoryError:
                raise
            except Exception as exc:
                raise InputError(
                    f"{name}: truncated or corrupt {im.format or 'image'} file ({_reason(exc)})"
                ) from exc
            _check_size(im, name, limit, min_side)  # a frame may be larger than the header said
            try:
                ImageOps.exif_transpose(im, in_place=True)
            except MemoryError:
                raise
            except Exception as exc:  # corrupt EXIF must not cost the picture
                logger.warning("%s: ignoring unreadable EXIF orientation (%s)", name, _reason(exc))
            transposed = (im.size[0] > im.size[1]) != (full_size[0] > full_size[1])
            im.info["adstage_full_size"] = full_size[::-1] if transposed else full_size
            yield im, name


# --------------------------------------------------------------------------------------------
# pixel conversions


def _unit_float(im: Image.Image) -> NDArray[np.float32]:
    """A single-channel image (modes 1, L, I;16*, I, F) as ``float32`` in ``[0, 1]``."""
    mode = im.mode
    arr = np.asarray(im)
    if mode == "1":
        return arr.astype(np.float32)
    if mode == "L":
        return arr.astype(np.float32) / np.float32(255.0)
    if mode.startswith("I;16"):
        return arr.astype(np.float32) / np.float32(65535.0)
    values = arr.astype(np.float64)
    if mode == "F":
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        if lo >= 0.0 and hi <= 1.0:
            return values.astype(np.float32)
        if lo >= 0.0 and hi <= 255.0:
            return (values / 255.0).astype(np.float32)
    else:  # "I": 32-bit signed integers
        lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        if lo >= 0.0 and hi <= 65535.0:
            return (values / 65535.0).astype(np.float32)
    if hi <= lo:
        return np.zeros(values.shape, np.float32)
    return ((values - lo) / (hi - lo)).astype(np.float32)


def _to_8bit(im: Image.Image) -> Image.Image:
    """Bring 1-, 16- and 32-bit single-channel images to mode ``L`` by scaling, never clipping."""
    mode = im.mode
    if mode == "1":
        return im.convert("L")
    if mode.startswith("I;16"):
        arr = np.asarray(im).astype(np.uint32)
        out = ((arr + 128) // 257).astype(np.uint8)  # round(v / 257): 65535 → 255
    elif mode in ("I", "F"):
        out = np.rint(_unit_float(im) * np.float32(255.0)).astype(np.uint8)
    else:
        return im
    converted = Image.fromarray(out)
    # Keep the ICC profile; a 16-bit tRNS value means nothing at 8 bits, so it is dropped.
    converted.info = {k: v for k, v in im.info.items() if k != "transparency"}
    return converted


def _split_alpha(im: Image.Image) -> tuple[Image.Image, NDArray[np.uint8] | None]:
    """Separate the colour from the alpha channel (None when the image is fully opaque by mode)."""
    mode = im.mode
    has_trns = "transparency" in im.info
    if mode == "P":
        im = im.convert("RGBA" if has_trns else "RGB")
    elif mode == "PA" or mode == "RGBa" or (mode == "RGB" and has_trns):
        im = im.convert("RGBA")
    elif mode == "La" or (mode == "L" and has_trns):
        im = im.convert("LA")
    if im.mode not in ("RGBA", "LA"):
        return im, None
    alpha = np.array(im.getchannel("A"), dtype=np.uint8)
    colour = im.convert("RGB" if im.mode == "RGBA" else "L")
    return colour, alpha


@functools.lru_cache(maxsize=1)
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _apply_icc(im: Image.Image, icc: bytes, name: str) -> Image.Image:
    """Convert ``im`` (mode RGB, L or CMYK) from its embedded profile to sRGB, or leave it be."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        space = str(profile.profile.xcolor_space).strip()
        if _ICC_SPACES.get(im.mode) != space:
            logger.warning(
                "%s: ignoring the embedded ICC profile: it describes %s data but the pixels are %s",
                name,
                space or "unknown",
                im.mode,
            )
            return im
        converted = ImageCms.profileToProfile(im, profile, _srgb_profile(), outputMode="RGB")
    except MemoryError:
        raise
    except Exception as exc:  # lcms rejects broken profiles in many ways
        logger.warning(
            "%s: ignoring the embedded ICC profile (%s); using the raw pixel values",
            name,
            _reason(exc),
        )
        return im
    if converted is None:  # only with inPlace=True
        return im
    return converted


def _colour_and_alpha(im: Image.Image, name: str) -> tuple[RGB, NDArray[np.uint8] | None]:
    """Decoded image → (``H×W×3`` sRGB ``uint8``, ``H×W`` ``uint8`` alpha or None)."""
    icc = im.info.get("icc_profile")
    mode = im.mode
    try:
        im = _to_8bit(im)
        im, alpha = _split_alpha(im)
        if im.mode not in ("RGB", "L", "CMYK"):
            im = im.convert("RGB")  # YCbCr, LAB, HSV, RGBX
        if icc:
            im = _apply_icc(im, bytes(icc), name)
        if im.mode != "RGB":
            im = im.convert("RGB")
        rgb = np.array(im, dtype=np.uint8)
    except InputError:
        raise
    except (ValueError, OSError) as exc:
        raise InputError(
            f"{name}: cannot convert image mode {mode} to RGB ({_reason(exc)})"
        ) from exc
    return np.ascontiguousarray(rgb), alpha


def _composite(rgb: RGB, alpha: NDArray[np.uint8], background: tuple[int, int, int]) -> RGB:
    """``rgb`` over a solid ``background`` with straight (non-premultiplied) ``alpha``."""
    a = alpha.astype(np.uint16)[:, :, None]
    bg = np.asarray(background, dtype=np.uint16)
    out = (rgb.astype(np.uint16) * a + bg * (255 - a) + 127) // 255
    return np.ascontiguousarray(out.astype(np.uint8))


# --------------------------------------------------------------------------------------------
# public readers


def read_image(
    source: ImageSource,
    *,
    background: tuple[int, int, int] = WHITE,
    max_pixels: MaxPixels = "default",
    min_side: int = DEFAULT_MIN_SIDE,
) -> RGB:
    """Read an image file (path or encoded bytes) as an ``H×W×3`` ``uint8`` sRGB array.

    EXIF orientation is applied, an embedded ICC profile converted to sRGB, any bit depth and
    colour mode brought to 8-bit RGB, transparency composited over ``background`` and animations
    reduced to their first frame (see the module docstring for the rules).

    Args:
        source: a path, or the bytes of an encoded image file.
        background: RGB colour that transparent pixels are composited over.
        max_pixels: refuse images whose header declares more than this many pixels, before
            decoding them. ``"default"``: ``$ADSTAGE_MAX_PIXELS`` or :data:`DEFAULT_MAX_PIXELS`;
            ``None``: no limit of our own (Pillow's ``MAX_IMAGE_PIXELS`` still applies).
        min_side: refuse images whose width or height is below this many pixels.

    Raises:
        InputError: one line naming the file and the reason (missing, empty, not an image,
            truncated or corrupt, too small, too large, bad option).
    """
    bg = _check_background(background)
    with _decoded(source, max_pixels=max_pixels, min_side=min_side) as (im, name):
        rgb, alpha = _colour_and_alpha(im, name)
    if alpha is None:
        return rgb
    return _composite(rgb, alpha, bg)


def load_rgb(image: ImageInput, *, name: str = "image") -> RGB:
    """``image`` as an ``H×W×3`` uint8 RGB array: a path is read with :func:`read_image`, a PIL
    image or an array is converted with :func:`~adstage.types.as_rgb` (``name`` in errors)."""
    if isinstance(image, str | os.PathLike):
        return read_image(image)
    return as_rgb(image, name=name)


def read_image_reduced(
    source: ImageSource,
    max_side: int,
    *,
    background: tuple[int, int, int] = WHITE,
    max_pixels: MaxPixels = "default",
    min_side: int = DEFAULT_MIN_SIDE,
) -> tuple[RGB, tuple[int, int]]:
    """Like :func:`read_image`, but with the longer side at most ``max_side`` pixels.

    Returns the image and the file's full ``(width, height)`` (after EXIF orientation). JPEGs are
    decoded at a reduced scale directly; the rest is resized with area averaging. For work that
    does not need every pixel (catalog ingest: triage, masks, embeddings at 224–299 px).
    """
    if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < min_side:
        raise InputError(f"max_side: expected an int of at least {min_side}, got {max_side!r}")
    bg = _check_background(background)
    with _decoded(source, max_pixels=max_pixels, min_side=min_side, draft=max_side) as (im, name):
        full = im.info["adstage_full_size"]
        rgb, alpha = _colour_and_alpha(im, name)
    if alpha is not None:
        rgb = _composite(rgb, alpha, bg)
    h, w = rgb.shape[:2]
    if max(h, w) > max_side:
        factor = max_side / max(h, w)
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        # cv2's stubs type every result as MatLike; resize keeps the uint8 RGB layout.
        rgb = cast(RGB, cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
    return rgb, (int(full[0]), int(full[1]))


def read_image_rgba(
    source: ImageSource,
    *,
    max_pixels: MaxPixels = "default",
    min_side: int = DEFAULT_MIN_SIDE,
) -> NDArray[np.uint8]:
    """Read an image as ``H×W×4`` ``uint8`` RGBA, keeping its alpha (255 where it has none).

    For cut-outs supplied with transparency. Colour handling and errors as in :func:`read_image`;
    the colour of fully transparent pixels is whatever the file stores.
    """
    with _decoded(source, max_pixels=max_pixels, min_side=min_side) as (im, name):
        rgb, alpha = _colour_and_alpha(im, name)
    if alpha is None:
        alpha = np.full(rgb.shape[:2], 255, dtype=np.uint8)
    return np.ascontiguousarray(np.dstack([rgb, alpha]))


def _resize_nearest(mask: NDArray[np.float32], size: tuple[int, int]) -> NDArray[np.float32]:
    """Nearest-neighbour resize of an ``H×W`` array to ``size`` = (height, width), pixel centres."""
    h, w = mask.shape
    out_h, out_w = size
    rows = np.minimum(((np.arange(out_h) + 0.5) * h / out_h).astype(np.intp), h - 1)
    cols = np.minimum(((np.arange(out_w) + 0.5) * w / out_w).astype(np.intp), w - 1)
    return np.ascontiguousarray(mask[rows[:, None], cols[None, :]])


def _mask_values(im: Image.Image) -> NDArray[np.float32]:
    mode = im.mode
    if mode in ("1", "L", "I", "F") or mode.startswith("I;16"):
        return _unit_float(im)
    has_alpha = mode in _ALPHA_MODES or (mode in ("P", "L", "RGB") and "transparency" in im.info)
    if has_alpha:
        colour, alpha = _split_alpha(im)
        if alpha is not None and int(alpha.min()) < 255:
            return alpha.astype(np.float32) / np.float32(255.0)
        im = colour  # an opaque alpha carries nothing: the mask is in the colour channels
    if im.mode not in ("L", "RGB"):
        im = im.convert("RGB")  # P, CMYK, YCbCr, LAB, HSV, RGBX: not all convert to L directly
    return _unit_float(im.convert("L"))


def read_mask(
    source: ImageSource,
    shape: tuple[int, int] | None = None,
    *,
    resize_to: tuple[int, int] | None = None,
    max_pixels: MaxPixels = "default",
    min_side: int = DEFAULT_MIN_SIDE,
) -> NDArray[np.float32]:
    """Read a mask file as ``float32`` ``H×W`` in ``[0, 1]`` (1 = product).

    Accepted: 1-bit, 8-bit and 16-bit greyscale (scaled by their full range), 32-bit integer and
    float images (as in :func:`read_image`), and images with transparency, whose alpha channel is
    the mask unless it is fully opaque; colour images without usable alpha give their luminance.
    EXIF orientation is applied.

    Args:
        source: a path, or the bytes of an encoded image file.
        shape: expected ``(height, width)``; a mask of another size raises :class:`InputError`.
        resize_to: ``(height, width)`` to resize to with nearest neighbour (never interpolated),
            before ``shape`` is checked. Without it the mask is never resized.
        max_pixels, min_side: as in :func:`read_image`.
    """
    expected = _check_pair(shape, "shape")
    target = _check_pair(resize_to, "resize_to")
    with _decoded(source, max_pixels=max_pixels, min_side=min_side) as (im, name):
        try:
            values = _mask_values(im)
        except (ValueError, OSError) as exc:
            raise InputError(
                f"{name}: cannot read mode {im.mode} as a mask ({_reason(exc)})"
            ) from exc
    if target is not None and values.shape != target:
        values = _resize_nearest(values, target)
    if expected is not None and values.shape != expected:
        raise InputError(
            f"{name}: mask is {values.shape[0]}×{values.shape[1]} (H×W), expected "
            f"{expected[0]}×{expected[1]}; pass resize_to= to resize it with nearest neighbour"
        )
    return as_alpha(np.clip(values, 0.0, 1.0), name=name)


# --------------------------------------------------------------------------------------------
# writers


def _write_format(path: Path, *, allowed: dict[str, str]) -> str:
    fmt = allowed.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"{path}: unknown image suffix {path.suffix!r}; expected one of {', '.join(allowed)}"
        )
    return fmt


def _image_for_writing(image: Any) -> Image.Image:
    """A PIL image (any mode) or a ``uint8`` array → PIL image in mode L, RGB or RGBA."""
    if isinstance(image, Image.Image):
        im = _to_8bit(image)
        if im.mode in ("L", "RGB", "RGBA"):
            return im
        has_alpha = im.mode in _ALPHA_MODES or "transparency" in im.info
        return im.convert("RGBA" if has_alpha else "RGB")
    if not isinstance(image, np.ndarray):
        raise InputError(
            f"image: expected a PIL image or a numpy array, got {type(image).__name__}"
        )
    if image.dtype != np.uint8:
        raise InputError(f"image: expected dtype uint8, got {image.dtype} (scale to 0..255 first)")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
        raise InputError(f"image: expected shape H×W, H×W×3 or H×W×4, got {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"image: empty image of shape {image.shape}")
    return Image.fromarray(np.ascontiguousarray(image))


def _save(path: Path, im: Image.Image, fmt: str, params: dict[str, Any]) -> Path:
    try:
        with atomic_open(path, "wb") as handle:
            im.save(handle, format=fmt, **params)
    except OSError as exc:
        raise InputError(f"{path}: cannot write the image ({_reason(exc)})") from exc
    return path


def write_image(
    path: str | os.PathLike[str],
    image: Any,
    *,
    quality: int = 95,
    background: tuple[int, int, int] = WHITE,
) -> Path:
    """Write ``image`` atomically to ``path``, in the format its suffix names.

    ``image`` is a PIL image or a ``uint8`` array (``H×W`` grey, ``H×W×3`` RGB, ``H×W×4`` RGBA).
    PNG and WebP keep alpha. JPEG has no alpha: RGBA is composited over ``background`` (white by
    default) rather than refused, so a cut-out can always be previewed as JPEG. ``quality``
    (1..100) applies to JPEG and WebP; JPEG at quality 90 or more keeps full chroma resolution
    (4:4:4). Parent directories are created. Returns the path written.

    Raises:
        InputError: unknown suffix, bad array, bad option, or the file cannot be written (the
            previous file at ``path``, if any, is then left intact).
    """
    target = Path(path)
    fmt = _write_format(target, allowed=WRITE_FORMATS)
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise InputError(f"quality: expected an int in 1..100, got {quality!r}")
    bg = _check_background(background)
    im = _image_for_writing(image)
    params: dict[str, Any] = {}
    if fmt == "JPEG":
        if im.mode == "RGBA":
            rgba = np.asarray(im)
            im = Image.fromarray(_composite(rgba[:, :, :3], rgba[:, :, 3], bg))
        params = {"quality": quality, "subsampling": 0 if quality >= 90 else 2}
    elif fmt == "WEBP":
        if im.mode == "L":
            im = im.convert("RGB")
        params = {"quality": quality}
    return _save(target, im, fmt, params)


def write_mask(path: str | os.PathLike[str], mask: Any) -> Path:
    """Write ``mask`` atomically as an 8-bit greyscale PNG, 255 = product.

    ``mask`` is ``bool``, ``uint8`` 0..255 or float in ``[0, 1]``, shape ``H×W``. The suffix must be
    ``.png`` (a lossy format would blur the mask's edges). Returns the path written.
    """
    target = Path(path)
    _write_format(target, allowed={".png": "PNG"})
    alpha = as_alpha(mask, name="mask")
    if alpha.size == 0:
        raise InputError(f"mask: empty mask of shape {alpha.shape}")
    a8 = np.clip(np.rint(alpha * np.float32(255.0)), 0, 255).astype(np.uint8)
    return _save(target, Image.fromarray(a8), "PNG", {})


# --------------------------------------------------------------------------------------------
# listing inputs


def _images_in(directory: Path, *, recursive: bool) -> list[Path]:
    found: list[Path] = []
    if recursive:
        for root, dirs, files in os.walk(directory):  # does not follow directory symlinks
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found.extend(Path(root) / f for f in files)
    else:
        found = [p for p in directory.iterdir() if p.is_file()]
    return sorted(
        p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def iter_image_paths(
    inputs: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    recursive: bool = False,
) -> list[Path]:
    """Expand ``inputs`` (files and directories) to the list of image files to process.

    A directory gives its files whose suffix is in :data:`IMAGE_SUFFIXES` (any case), sorted,
    skipping hidden files (and hidden sub-directories when ``recursive``). Anything else is kept
    as given, in order, even with an odd suffix or when it does not exist: reading it later
    raises an :class:`InputError` the caller can report for that one item before going on.
    Duplicates are dropped (first occurrence kept). A single path may be passed instead of a list.
    """
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    paths: list[Path] = []
    seen: set[Path] = set()
    for item in inputs:
        path = Path(item)
        expanded = _images_in(path, recursive=recursive) if path.is_dir() else [path]
        for p in expanded:
            if p not in seen:
                seen.add(p)
                paths.append(p)
    return paths
