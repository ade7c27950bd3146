"""What an upload must be before any work starts: JPEG, PNG or WebP by its first bytes, within
the byte and pixel limits, and really decodable.

The client's file name and content type are never trusted: the format comes from the magic
bytes, Pillow is then allowed to open that format only (a file that sniffs as PNG but parses as
anything else is refused), the header's size is checked before any pixel is decoded (a PNG
claiming 100 000 × 100 000 is refused at once), and the whole image is decoded once
(:func:`adstage.io.images.read_image_rgba`: EXIF orientation, ICC to sRGB, CMYK and 16-bit to
8-bit RGB). The uploaded bytes are never served back; results are re-encoded.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from adstage.errors import InputError
from adstage.io.images import read_image_rgba

FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
"""The formats accepted (sniffed name → Pillow format)."""


class UploadError(InputError):
    """An upload refused, with the HTTP status and error code to answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Upload:
    """A decoded upload: ``rgba`` (``H×W×4`` uint8; alpha 255 where the file has none), the
    sniffed ``format`` and whether the file had an alpha channel."""

    rgba: NDArray[np.uint8]
    format: str
    has_alpha: bool

    @property
    def size(self) -> tuple[int, int]:
        return (int(self.rgba.shape[1]), int(self.rgba.shape[0]))


def sniff(data: bytes) -> str | None:
    """``jpeg``, ``png`` or ``webp`` from the first bytes of ``data``; ``None`` otherwise."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _header_size(data: bytes, fmt: str, name: str, max_pixels: int) -> tuple[int, int]:
    """The width and height the header declares, parsed by ``fmt``'s plugin only (Pillow's
    ``DecompressionBombWarning`` may be logged for a header over its own limit; ours is lower)."""
    try:
        with Image.open(io.BytesIO(data), formats=[FORMATS[fmt]]) as im:
            return int(im.size[0]), int(im.size[1])
    except Image.DecompressionBombError:
        pil_limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise UploadError(
            413,
            "too_many_pixels",
            f"{name}: its header declares more than {pil_limit:,} pixels (a decompression "
            f"bomb), more than the limit of {max_pixels:,}",
        ) from None
    except UnidentifiedImageError:
        raise UploadError(
            400, "bad_image", f"{name}: starts like {fmt.upper()} but its header is not valid"
        ) from None
    except MemoryError:
        raise
    except Exception as exc:  # a malformed header may raise almost anything inside Pillow
        raise UploadError(
            400, "bad_image", f"{name}: unreadable {fmt.upper()} header ({type(exc).__name__})"
        ) from exc


def decode_upload(
    data: bytes, *, max_bytes: int, max_pixels: int, min_side: int, name: str = "image"
) -> Upload:
    """Check and decode an uploaded image; :class:`UploadError` says what is wrong with it."""
    if not data:
        raise UploadError(400, "empty_upload", f"{name}: the upload is empty (0 bytes)")
    if len(data) > max_bytes:
        raise UploadError(
            413, "too_large", f"{name}: {len(data):,} bytes, more than the limit of {max_bytes:,}"
        )
    fmt = sniff(data)
    if fmt is None:
        raise UploadError(
            415,
            "unsupported_media_type",
            f"{name}: not a JPEG, PNG or WebP file (judged by its first bytes, not its name or "
            "content type)",
        )
    width, height = _header_size(data, fmt, name, max_pixels)
    if width * height > max_pixels:
        raise UploadError(
            413,
            "too_many_pixels",
            f"{name}: {width}×{height} = {width * height:,} pixels, more than the limit of "
            f"{max_pixels:,}",
        )
    if min(width, height) < min_side:
        raise UploadError(
            422, "too_small", f"{name}: {width}×{height} pixels; each side must be >= {min_side}"
        )
    try:
        rgba = read_image_rgba(data, max_pixels=max_pixels, min_side=min_side)
    except InputError as exc:
        message = str(exc).replace(f"<{len(data)} bytes>", name)
        raise UploadError(400, "bad_image", message) from exc
    has_alpha = bool((rgba[..., 3] < 255).any())
    return Upload(rgba=rgba, format=fmt, has_alpha=has_alpha)
