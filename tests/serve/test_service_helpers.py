"""Shared inputs of the staging-service tests (imported by the other ``test_service_*`` modules),
and the unit tests of the parts below the app: upload sniffing and decoding, the config's rules,
the metrics text.

- :func:`catalog`: a classical-embedder catalog of 12 synthetic 128² items, built once per session;
  its plain cabinet photo (:func:`product_png`) stages into it;
- :func:`encode`: an array as PNG / JPEG / WebP bytes;
- :func:`running_service`: ``adstage serve`` in a subprocess on a free loopback port.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from study_helpers import served

from adstage.errors import InputError
from adstage.serve.app.config import ServiceConfig, is_loopback
from adstage.serve.app.metrics import Metrics
from adstage.serve.app.uploads import UploadError, decode_upload, sniff

_CATALOG: dict[str, Path] = {}
PRODUCT_INDEX = 9
"""The synthetic item (a plain cabinet on white) whose retrieved slots pass staging's screen."""


def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test catalog folder (``cat``), built on first use in this session."""
    if "root" not in _CATALOG:
        pytest.importorskip("lancedb")
        from adstage.datasets.synthetic import SyntheticCatalog, write_catalog
        from adstage.retrieve.ingest import ingest, open_or_create, sources_from_csv

        root = tmp_path_factory.mktemp("service-catalog")
        syn = SyntheticCatalog(12, seed=1, size=(128, 128))
        write_catalog(syn, root / "syn")
        ingest(
            open_or_create(root / "cat", embedders=["classical"]),
            sources_from_csv(root / "syn" / "labels.csv")[0],
        )
        item = syn[PRODUCT_INDEX]
        assert not item.staged
        (root / "product.png").write_bytes(encode(item.image, "PNG"))
        _CATALOG["root"] = root
    return _CATALOG["root"] / "cat"


def product_png(catalog_dir: Path) -> bytes:
    return (catalog_dir.parent / "product.png").read_bytes()


def product_on_white(h: int = 48, w: int = 64) -> np.ndarray:
    """A small dark box on pure white: the fast segmentation path (solid-background)."""
    image = np.full((h, w, 3), 255, np.uint8)
    image[h // 4 : h * 3 // 4, w // 3 : w * 2 // 3] = (40, 90, 160)
    return image


def encode(image: Any, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    picture = image if isinstance(image, Image.Image) else Image.fromarray(image)
    picture.save(buffer, fmt, **params)
    return buffer.getvalue()


@contextlib.contextmanager
def running_service(
    catalog_dir: Path, log: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``adstage serve --catalog catalog_dir ARGS`` on a free loopback port, up when this yields;
    SIGKILLed when the block ends if it is still running."""
    command = [sys.executable, "-m", "adstage.cli", "serve", "--catalog", str(catalog_dir)]
    with served([*command, *args], log, env, timeout=60) as up:
        yield up


# ------------------------------------------------------------------------------------------------
# uploads


LIMITS = {"max_bytes": 1 << 20, "max_pixels": 4_000_000, "min_side": 8}


def _refused(data: bytes, status: int, code: str) -> str:
    with pytest.raises(UploadError) as caught:
        decode_upload(data, **LIMITS)
    assert (caught.value.status, caught.value.code) == (status, code), str(caught.value)
    return str(caught.value)


def test_sniff_reads_the_first_bytes_only() -> None:
    rgb = product_on_white()
    assert sniff(encode(rgb, "PNG")) == "png"
    assert sniff(encode(rgb, "JPEG")) == "jpeg"
    assert sniff(encode(rgb, "WEBP")) == "webp"
    for other in ("GIF", "BMP", "TIFF"):
        assert sniff(encode(rgb, other)) is None
    assert sniff(b"") is None and sniff(b"RIFF\0\0\0\0WAVE") is None


def test_valid_uploads_decode_to_rgba() -> None:
    rgb = product_on_white()
    for fmt in ("PNG", "WEBP"):
        upload = decode_upload(
            encode(rgb, fmt, **({"lossless": True} if fmt == "WEBP" else {})), **LIMITS
        )
        assert upload.size == (64, 48) and np.array_equal(upload.rgba[..., :3], rgb)
        assert not upload.has_alpha
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])
    assert decode_upload(encode(rgba, "PNG"), **LIMITS).has_alpha
    cmyk = Image.fromarray(rgb).convert("CMYK")
    assert decode_upload(encode(cmyk, "JPEG"), **LIMITS).rgba.shape == (48, 64, 4)
    deep = Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)  # 16-bit grey
    assert deep.mode.startswith("I;16")
    upload = decode_upload(encode(deep, "PNG"), **LIMITS)
    assert upload.rgba.dtype == np.uint8 and upload.rgba.shape == (48, 64, 4)


def test_bad_uploads_are_refused_with_a_reason() -> None:
    png = encode(product_on_white(), "PNG")
    assert "empty" in _refused(b"", 400, "empty_upload")
    assert "JPEG, PNG or WebP" in _refused(b"GIF89a" + png, 415, "unsupported_media_type")
    _refused(png[:40], 400, "bad_image")
    assert "each side" in _refused(encode(np.zeros((1, 1, 3), np.uint8), "PNG"), 422, "too_small")
    with pytest.raises(UploadError) as caught:
        decode_upload(png, max_bytes=len(png) - 1, max_pixels=10**6, min_side=8)
    assert caught.value.code == "too_large"
    assert "more than the limit" in _refused(png_header(100_000, 100_000), 413, "too_many_pixels")
    assert "3000×2000" in _refused(png_header(3000, 2000), 413, "too_many_pixels")


def png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR (valid CRC) claims ``width × height``, followed by a tiny IDAT."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# ------------------------------------------------------------------------------------------------
# config and metrics


def test_a_public_host_needs_a_key(tmp_path: Path) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
    with pytest.raises(InputError, match="ADSTAGE_API_KEY"):
        ServiceConfig(catalog=tmp_path, host="0.0.0.0")
    with pytest.raises(InputError, match="at least 16"):
        ServiceConfig(catalog=tmp_path, host="0.0.0.0", api_key="short")
    assert ServiceConfig(catalog=tmp_path, host="0.0.0.0", api_key="k" * 32).api_key
    with pytest.raises(InputError, match="refadgen"):
        ServiceConfig(catalog=tmp_path, refadgen=tmp_path)
    with pytest.raises(InputError, match="queue_size"):
        ServiceConfig(catalog=tmp_path, queue_size=0)


def test_metrics_text_is_prometheus_exposition() -> None:
    metrics = Metrics()
    for seconds in (0.001, 0.02, 0.02, 7.0):
        metrics.observe("/v1/segment", "POST", 200, seconds)
    metrics.observe('/odd"route', "GET", 404, 0.3)
    text = metrics.render(
        queue_depth=3, jobs={"queued": 3, "done": 1}, finished={("segment", "done"): 1}
    )
    lines = text.splitlines()
    assert 'adstage_http_requests_total{route="/v1/segment",method="POST",status="200"} 4' in lines
    assert 'adstage_http_requests_total{route="/odd\\"route",method="GET",status="404"} 1' in lines
    bucket = 'adstage_http_request_duration_seconds_bucket{route="/v1/segment",le="%s"} %d'
    assert bucket % ("0.005", 1) in lines and bucket % ("0.025", 3) in lines
    assert (
        bucket % ("5", 3) in lines and bucket % ("10", 4) in lines and bucket % ("+Inf", 4) in lines
    )
    assert 'adstage_http_request_duration_seconds_count{route="/v1/segment"} 4' in lines
    assert "adstage_queue_depth 3" in lines and 'adstage_jobs{state="queued"} 3' in lines
    assert 'adstage_jobs_finished_total{kind="segment",state="done"} 1' in lines
    # every sample line is NAME{LABELS} VALUE or NAME VALUE; every family has HELP and TYPE
    families = {line.split()[2] for line in lines if line.startswith("# TYPE")}
    for line in lines:
        if not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            assert any(name.startswith(f) for f in families), line
            float(line.rsplit(" ", 1)[1])


def test_a_job_s_error_never_tells_where_the_server_keeps_its_files() -> None:
    from adstage.errors import AdstageError, InputError, WeightsNotFound
    from adstage.serve.app.jobs import error_of, hide_paths

    for exc, code in (
        (AdstageError("catalog /srv/private/cat: no staged slots"), "failed"),
        (InputError("scene: cannot read '/srv/private/scenes/room 1.jpg'"), "bad_input"),
        (WeightsNotFound("u2net: not in /srv/private/weights; adstage weights fetch"), "weights_missing"),
    ):  # fmt: skip
        answer = error_of(exc)
        assert answer["code"] == code and "/srv" not in answer["message"], answer
        assert "…/" in answer["message"]
    kept = "see http://host:8000/v1/jobs/3f, a ratio 4/5, a relative a/b and ~/.cache"
    assert hide_paths(kept) == kept
    assert (
        hide_paths("[Errno 2] No such file: '/tmp/a/b.png'") == "[Errno 2] No such file: '…/b.png'"
    )
