"""Fuzzing the upload path: over 500 malformed or unusual uploads, generated from seed 0, each
answered 4xx with a clear JSON message or — for files that are real images — 200; never 5xx,
and the server healthy afterwards.

The kinds: truncated and bit-flipped JPEG / PNG / WebP, empty and random bytes (bare and behind
a real magic number), headers claiming huge sizes (a PNG of 100 000 × 100 000, a JPEG of
65 500², a WebP canvas of 16 384²), images of 1×1 to 7×7 (refused as too small) and 8×8,
CMYK JPEG and 16-bit PNG (converted: they succeed), the wrong content type, polyglots (GIF + JS,
PNG + HTML / ZIP, SVG, PDF, BMP, TIFF), oversized uploads and broken multipart bodies.
"""

from __future__ import annotations

import random
import struct
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient
from PIL import Image
from test_service_helpers import catalog, encode, png_header, product_on_white

from adstage.serve.app.app import create_app
from adstage.serve.app.config import ServiceConfig

pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")

MAX_BYTES = 256 * 1024
OK, BAD, EITHER = "ok", "4xx", "either"
"""What a case must get: 200; 4xx; 200 or 4xx (a corrupted file some decoders still read)."""

Case = tuple[str, str, Callable[[TestClient], Any]]


def _upload(data: bytes, content_type: str = "image/png", name: str = "p.png", **extra: Any):
    def send(client: TestClient) -> Any:
        return client.post(
            "/v1/segment",
            files={"image": (name, data, content_type)},
            data={"segmenter": "auto", **extra},
        )

    return send


def _raw(body: bytes, content_type: str | None, **headers: str):
    def send(client: TestClient) -> Any:
        h = dict(headers)
        if content_type is not None:
            h["content-type"] = content_type
        return client.post("/v1/segment", content=body, headers=h)

    return send


def _sample(rng: np.random.Generator, h: int = 48, w: int = 64) -> np.ndarray:
    """A product on white with some texture, so that files have bytes worth corrupting."""
    image = product_on_white(h, w)
    box = image[h // 4 : h * 3 // 4, w // 3 : w * 2 // 3]
    box[:] = np.clip(box.astype(int) + rng.integers(-30, 30, box.shape), 0, 255)
    return image


def _jpeg_with_size(data: bytes, width: int, height: int) -> bytes:
    """``data`` (a baseline JPEG) with its SOF0 frame size replaced."""
    at = data.index(b"\xff\xc0")
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


def _webp_canvas(width: int, height: int) -> bytes:
    """A VP8X WebP header declaring a ``width × height`` canvas and nothing else."""
    vp8x = (
        b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    )
    chunk = b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def _multipart(parts: list[tuple[str, str]], body: bytes, boundary: str = "fuzzb0undary") -> bytes:
    out = b""
    for header, _ in parts:
        out += f"--{boundary}\r\n{header}\r\n\r\n".encode() + body + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def cases() -> list[Case]:
    rng = np.random.default_rng(0)
    pick = random.Random(0)
    base = _sample(rng)
    files = {
        "png": encode(base, "PNG"),
        "jpeg": encode(base, "JPEG", quality=90),
        "webp": encode(base, "WEBP", quality=80),
    }
    out: list[Case] = []

    # real images in every mode the readers convert: they succeed
    grey = Image.fromarray(base).convert("L")
    deep_rgb = cv2.imencode(".png", base[..., ::-1].astype(np.uint16) * 257)[1].tobytes()
    valid = {
        "png": files["png"],
        "jpeg": files["jpeg"],
        "webp": files["webp"],
        "webp-lossless": encode(base, "WEBP", lossless=True),
        "png-rgba": encode(np.dstack([base, np.full(base.shape[:2], 255, np.uint8)]), "PNG"),
        "png-palette": encode(Image.fromarray(base).quantize(16), "PNG"),
        "png-grey": encode(grey, "PNG"),
        "png-16bit-grey": encode(Image.fromarray(np.asarray(grey).astype(np.uint16) * 257), "PNG"),
        "png-16bit-rgb": deep_rgb,
        "jpeg-grey": encode(grey, "JPEG"),
        "jpeg-cmyk": encode(Image.fromarray(base).convert("CMYK"), "JPEG"),
        "jpeg-progressive": encode(base, "JPEG", progressive=True),
        "png-interlaced": cv2.imencode(".png", base[..., ::-1])[1].tobytes(),
        "png+html-polyglot": files["png"] + b"<html><script>alert(1)</script></html>",
        "png+zip-polyglot": files["png"]
        + b"PK\x03\x04"
        + bytes(rng.integers(0, 256, 200, np.uint8)),
        "jpeg+js-polyglot": files["jpeg"] + b"/*" + b"*/alert(1)//",
    }
    for name, data in valid.items():
        out.append((f"valid {name}", OK, _upload(data)))
    for content_type in ("text/plain", "application/octet-stream", "image/gif", "text/html", ""):
        out.append((f"png sent as {content_type!r}", OK, _upload(files["png"], content_type)))
    for name in ("../../etc/passwd", "x.exe", "a" * 300 + ".png", "ü\u202e.png", "nul\x00.png"):
        out.append((f"file name {name[:20]!r}", OK, _upload(files["png"], name=name)))

    # truncated files: early cuts are refused; cuts near the end may still decode
    for fmt, data in files.items():
        for cut in sorted(pick.sample(range(1, len(data)), 40)):
            expect = BAD if cut < 0.8 * len(data) else EITHER
            out.append((f"{fmt} truncated at {cut}/{len(data)}", expect, _upload(data[:cut])))

    # bit flips after the magic number
    for fmt, data in files.items():
        for i in range(50):
            corrupt = bytearray(data)
            for _ in range(1 + i % 8):
                at = pick.randrange(12, len(corrupt))
                corrupt[at] = pick.randrange(256)
            out.append((f"{fmt} with flipped bytes #{i}", EITHER, _upload(bytes(corrupt))))

    # nothing, zeros, random bytes, random bytes behind each magic number
    out.append(("empty upload", BAD, _upload(b"")))
    for n in (1, 2, 12, 4096):
        out.append((f"{n} zero bytes", BAD, _upload(b"\0" * n)))
    for i in range(100):
        blob = bytes(rng.integers(0, 256, int(rng.integers(1, 5000)), np.uint8))
        out.append((f"random bytes #{i}", BAD, _upload(blob)))
    magics = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff", "webp": b"RIFF\0\0\0\0WEBP"}
    for fmt, magic in magics.items():
        for i in range(20):
            blob = bytes(rng.integers(0, 256, int(rng.integers(0, 3000)), np.uint8))
            out.append((f"{fmt} magic + random #{i}", BAD, _upload(magic + blob)))

    # headers that claim huge (or impossible) sizes
    for width, height in (
        (100_000, 100_000),
        (65_535, 65_535),
        (1, 100_000_000),
        (3000, 2000),
        (2**31 - 1, 1),
        (0, 0),
        (0, 100),
        (2**32 - 1, 2**32 - 1),
    ):
        out.append((f"png header {width}x{height}", BAD, _upload(png_header(width, height))))
    for width, height in ((65_500, 65_500), (30_000, 200), (0, 0)):
        data = _jpeg_with_size(files["jpeg"], width, height)
        out.append((f"jpeg header {width}x{height}", BAD, _upload(data)))
    for width, height in ((16_384, 16_384), (3000, 3000)):
        out.append((f"webp canvas {width}x{height}", BAD, _upload(_webp_canvas(width, height))))

    # too small to be a product photo (min side 8), and just big enough
    for side in range(1, 8):
        for fmt in ("PNG", "JPEG", "WEBP"):
            tiny = encode(np.full((side, side, 3), 90, np.uint8), fmt)
            out.append((f"{side}x{side} {fmt}", BAD, _upload(tiny)))
    for fmt in ("PNG", "JPEG", "WEBP"):
        out.append((f"8x8 {fmt}", EITHER, _upload(encode(_sample(rng, 8, 8), fmt))))

    # other formats and polyglots that do not start like JPEG, PNG or WebP
    others = {
        "gif": encode(base, "GIF"),
        "bmp": encode(base, "BMP"),
        "tiff": encode(base, "TIFF"),
        "ico": encode(base, "ICO"),
        "gif+js": b"GIF89a/*\x01\x00\x01\x00*/=1;alert(document.cookie)//" + b"\0" * 20,
        "svg": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        "html": b"<!doctype html><script>fetch('http://169.254.169.254/')</script>",
        "pdf": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
        "zip+png": b"PK\x03\x04" + files["png"],
        "url": b"http://127.0.0.1:22/",
        "file-url": b"file:///etc/passwd",
        "json": b'{"image": "http://example.com/x.png"}',
        "utf16-bom": "\ufeff\x89PNG".encode("utf-16"),
        "riff-wave": b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\0" * 30,
        "png magic then jpeg": magics["png"] + files["jpeg"],
        "jpeg magic then png": b"\xff\xd8\xff" + files["png"],
        "webp magic then png": b"RIFF\0\0\0\0WEBP" + files["png"],
    }
    for name, data in others.items():
        out.append((f"polyglot / other {name}", BAD, _upload(data)))

    # oversized uploads: by the file, and by a body the middleware never reads in full
    big = magics["png"] + bytes(rng.integers(0, 256, MAX_BYTES + 10, np.uint8))
    out.append(("upload over the byte limit", BAD, _upload(big)))
    huge = magics["png"] + b"\0" * (2 * MAX_BYTES)
    out.append(("body far over the limit", BAD, _upload(huge)))
    out.append(
        (
            "content-length lies high",
            BAD,
            _raw(b"x", "multipart/form-data; boundary=b", **{"content-length": str(10**12)}),
        )
    )

    # broken multipart
    good_part = [('Content-Disposition: form-data; name="image"; filename="p.png"', "")]
    valid_body = _multipart(good_part, files["png"])
    multipart = "multipart/form-data; boundary=fuzzb0undary"
    out.append(("multipart control", OK, _raw(valid_body, multipart)))
    broken = {
        "no boundary parameter": (valid_body, "multipart/form-data"),
        "wrong boundary": (valid_body, "multipart/form-data; boundary=other"),
        "no closing boundary": (valid_body[:-20], multipart),
        "cut in the headers": (valid_body[:30], multipart),
        "empty body": (b"", multipart),
        "only the final boundary": (b"--fuzzb0undary--\r\n", multipart),
        "no content-disposition": (
            _multipart([("Content-Type: image/png", "")], files["png"]),
            multipart,
        ),
        "no field name": (
            _multipart([('Content-Disposition: form-data; filename="p.png"', "")], files["png"]),
            multipart,
        ),
        "header without colon": (
            _multipart([("garbage header line", "")], files["png"]),
            multipart,
        ),
        "field 'file' not 'image'": (
            _multipart(
                [('Content-Disposition: form-data; name="file"; filename="p.png"', "")],
                files["png"],
            ),
            multipart,
        ),
        "image as a text field": (
            _multipart([('Content-Disposition: form-data; name="image"', "")], b"not a file"),
            multipart,
        ),
        "json body": (b'{"image": "aGVsbG8="}', "application/json"),
        "urlencoded body": (
            b"image=http%3A%2F%2Fexample.com%2Fa.png",
            "application/x-www-form-urlencoded",
        ),
        "text body": (b"hello", "text/plain"),
        "no content type": (valid_body, None),
        "bare png body": (files["png"], "image/png"),
        "multipart/mixed": (valid_body, "multipart/mixed; boundary=fuzzb0undary"),
        "bad charset": (valid_body, multipart + "; charset=ebcdic-cp-be"),
        "two thousand fields": (
            b"".join(
                f'--fuzzb0undary\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nx\r\n'.encode()
                for i in range(2000)
            )
            + b"--fuzzb0undary--\r\n",
            multipart,
        ),
    }
    for name, (body, content_type) in broken.items():
        out.append((f"multipart: {name}", BAD, _raw(body, content_type)))
    # longer than RFC 2046 allows, or odd bytes in a header: the parser may still read the file
    tolerated = {
        "boundary of 200 chars": (
            _multipart(good_part, files["png"], "b" * 200),
            "multipart/form-data; boundary=" + "b" * 200,
        ),
        "nul in headers": (valid_body.replace(b"form-data", b"form\0data"), multipart),
    }
    for name, (body, content_type) in tolerated.items():
        out.append((f"multipart: {name}", EITHER, _raw(body, content_type)))
    return out


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    config = ServiceConfig(
        catalog=catalog(tmp_path_factory),
        work=tmp_path_factory.mktemp("fuzz-work"),
        max_upload_bytes=MAX_BYTES,
        max_pixels=4_000_000,
        keep_jobs=50,
        sync_wait=30,
    )
    with TestClient(create_app(config), raise_server_exceptions=False) as test_client:
        yield test_client


def test_over_500_malformed_uploads_get_4xx_never_5xx(client) -> None:
    all_cases = cases()
    assert len(all_cases) >= 500, len(all_cases)
    assert len({name for name, _, _ in all_cases}) == len(all_cases), "case names are unique"
    wrong: list[str] = []
    outcomes: Counter[str] = Counter()
    for name, expect, send in all_cases:
        response = send(client)
        status = response.status_code
        outcomes[f"{status // 100}xx"] += 1
        if status == 200:
            ok = expect in (OK, EITHER) and response.json()["state"] == "done"
        else:
            body = response.json()
            ok = (
                expect in (BAD, EITHER)
                and 400 <= status < 500
                and set(body) == {"error"}
                and len(body["error"]["message"]) > 10
                and "Traceback" not in response.text
            )
        if not ok:
            wrong.append(f"{name}: expected {expect}, got {status} {response.text[:200]}")
    assert not wrong, f"{len(wrong)} of {len(all_cases)} cases:\n" + "\n".join(wrong)
    assert outcomes["5xx"] == 0 and outcomes["2xx"] >= 20 and outcomes["4xx"] >= 400, outcomes

    # healthy afterwards: answers, segments, and no 5xx anywhere in its metrics
    assert client.get("/healthz").json()["ok"] is True
    after = client.post(
        "/v1/segment", files={"image": ("p.png", encode(product_on_white(), "PNG"), "image/png")}
    )
    assert after.status_code == 200 and after.json()["state"] == "done"
    metrics = client.get("/metrics").text
    assert 'status="5' not in metrics
    # every job ran within the wait (sync_wait 30 s), so a job's internal error would be a 500
    assert (
        'adstage_jobs{state="queued"} 0' in metrics and 'adstage_jobs{state="running"} 0' in metrics
    )


def test_the_fuzz_cases_are_the_same_every_run() -> None:
    first = [(name, expect) for name, expect, _ in cases()]
    assert first == [(name, expect) for name, expect, _ in cases()]


def test_a_png_claiming_100000_squared_is_refused_before_decoding(client) -> None:
    response = _upload(png_header(100_000, 100_000))(client)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_many_pixels"
    small = _upload(encode(np.zeros((1, 1, 3), np.uint8), "PNG"))(client)
    assert small.status_code == 422 and "each side must be >= 8" in small.json()["error"]["message"]
    cmyk = _upload(encode(Image.fromarray(product_on_white()).convert("CMYK"), "JPEG"))(client)
    assert (
        cmyk.status_code == 200
        and cmyk.json()["result"]["provenance"]["segmenter"] == "solid-background"
    )


# -- form fields ----------------------------------------------------------------------------------

MALFORMED = [
    "",
    " ",
    "²",
    "²x²",
    "٣",
    "٣x٣",
    "３",
    "١:٢",
    "⁴:⁵",
    "0",
    "-0",
    "-1",
    "-99999999999999999999",
    "1e309",
    "1e-309",
    "9" * 40,
    "nan",
    "NaN",
    "-nan",
    "inf",
    "-inf",
    "Infinity",
    "0x10",
    "1_000",
    "+3",
    " 3 ",
    "3.5",
    "true",
    "null",
    "[]",
    "{}",
    "x",
    "512x",
    "x512",
    "0x0",
    "512x512x512",
    "1080×1080",
    "16x16",
    "1:1",
    "nan:1",
    "inf:1",
    "1e308:1e-308",
    "0:1",
    "9999:1",
    "4:5:6",
    "../../etc/passwd",
    "/etc/passwd",
    "C:\\Windows\\win.ini",
    "file:///etc/passwd",
    "a" * 10_000,
    "\x00",
    "abc\x00def",
    "\u202e",
    "😀",
    "%00",
    "<script>alert(1)</script>",
    "0" * 32,
    "F" * 32,
    "g" * 32,
]
"""Values for every field: unicode digits, huge and negative numbers, NaN / inf, empty, long,
path-like, other types' spellings; some of them valid for some fields (``16x16``, ``3.5``, …)."""

ROUTES: dict[str, tuple[dict[str, str], list[str]]] = {
    "/v1/segment": ({}, ["segmenter", "wait"]),
    "/v1/stage": (
        {"k": "1", "max_side": "64"},
        ["k", "inpainter", "shadow", "ad_format", "max_side", "segmenter", "box", "wait"],
    ),
    "/v1/animate": (
        {"size": "32x32", "duration": "0.4", "fps": "5", "format": "gif"},
        ["size", "motion", "duration", "fps", "format", "source", "candidate", "segmenter", "wait"],
    ),
    "/v1/generate": (
        {"prompt": "a box", "steps": "1", "size": "64x64"},
        ["prompt", "steps", "seed", "size", "num_images", "guidance", "segmenter", "wait"],
    ),
}
"""Each POST route: cheap base values, and the fields to fuzz one at a time."""

FieldCase = tuple[str, str, str, Callable[[TestClient], Any]]


def _post(route: str, data: dict[str, Any], params: dict[str, str], files: dict[str, Any]):
    def send(client: TestClient) -> Any:
        return client.post(route, data=data, params=params, files=files)

    return send


def field_cases() -> list[FieldCase]:
    """(route, field, value shown, send): each field with all of :data:`MALFORMED`, two random
    strings (seed 0), a file where text belongs, invalid UTF-8 and a repeated field."""
    pick = random.Random(0)
    png = encode(product_on_white(32, 32), "PNG")
    out: list[FieldCase] = []
    for route, (base, fields) in ROUTES.items():
        for field in fields:
            values = list(MALFORMED)
            for _ in range(2):
                length = pick.choice([1, 3, 12, 40, 300])
                values.append("".join(chr(pick.randrange(1, 0x3000)) for _ in range(length)))
            for value in values:
                data, params = dict(base), {"wait": "0"}
                files: dict[str, Any] = {"image": ("p.png", png, "image/png")}
                if field == "wait":
                    params = {"wait": value}
                else:
                    data[field] = value
                if field == "source":
                    files = {}
                out.append((route, field, value, _post(route, data, params, files)))
            # wrong types: a file where text belongs, invalid UTF-8, a repeated field
            odd: dict[str, dict[str, Any]] = {
                "a file": {field: ("f.txt", b"3", "text/plain")},
                "invalid UTF-8": {field: (None, b"\xff\xfe\xc3(")},
            }
            for label, extra in odd.items():
                if field != "wait":
                    files = {"image": ("p.png", png, "image/png"), **extra}
                    data = {k: v for k, v in base.items() if k != field}
                    out.append((route, field, label, _post(route, data, {"wait": "0"}, files)))
            repeated = {**base, field: ["1", "2"]}
            out.append((route, field, "repeated", _post(route, repeated, {"wait": "0"}, {})))
    # animate's mask: not an image, empty, another size than the image, text
    mask_files = {
        "random bytes": ("m.png", bytes(pick.randrange(256) for _ in range(300)), "image/png"),
        "empty": ("m.png", b"", "image/png"),
        "other size": ("m.png", encode(np.full((20, 24), 255, np.uint8), "PNG"), "image/png"),
        "text": (None, b"mask"),
    }
    for label, part in mask_files.items():
        files = {"image": ("p.png", png, "image/png"), "mask": part}
        send = _post("/v1/animate", ROUTES["/v1/animate"][0], {"wait": "0"}, files)
        out.append(("/v1/animate", "mask", label, send))
    return out


@pytest.fixture(scope="module")
def field_client(tmp_path_factory):
    config = ServiceConfig(
        catalog=catalog(tmp_path_factory),
        work=tmp_path_factory.mktemp("field-fuzz-work"),
        max_upload_bytes=MAX_BYTES,
        queue_size=5000,
        keep_jobs=5000,
        job_timeout=30,
    )
    with TestClient(create_app(config), raise_server_exceptions=False) as test_client:
        yield test_client


def test_malformed_form_fields_of_every_route_get_4xx_never_5xx(field_client) -> None:
    client = field_client
    all_cases = field_cases()
    assert len(all_cases) >= 1500, len(all_cases)
    wrong: list[str] = []
    accepted: list[tuple[str, str]] = []
    outcomes: Counter[str] = Counter()
    for route, field, value, send in all_cases:
        response = send(client)
        status = response.status_code
        outcomes[str(status)] += 1
        name = f"{route} {field}={value[:30]!r}"
        if status in (200, 202):
            accepted.append((name, response.json()["url"]))
            continue
        body = response.json()
        not_configured = route == "/v1/generate" and status == 501
        if not (
            (400 <= status < 500 or not_configured)
            and set(body) == {"error"}
            and len(body["error"]["message"]) > 10
            and "Traceback" not in response.text
        ):
            wrong.append(f"{name}: got {status} {response.text[:200]}")
    # the jobs of the values that were valid: done, or failed with the library's reason (a 4xx
    # had the POST waited), never an internal error or a timeout
    deadline = time.monotonic() + 30
    for name, url in accepted:
        while (record := client.get(url).json())["state"] in ("queued", "running"):
            assert time.monotonic() < deadline, f"{name}: job stuck"
            time.sleep(0.02)
        if record["state"] != "done" and record["error"]["code"] not in ("bad_input", "failed"):
            wrong.append(f"{name}: the job ended {record['state']} {record['error']}")
    assert not wrong, f"{len(wrong)} of {len(all_cases)} cases:\n" + "\n".join(wrong)
    assert len(accepted) >= 20 and outcomes["422"] >= 1000, outcomes

    # healthy afterwards, and no 5xx but generation's 501 in the metrics
    assert client.get("/healthz").json()["ok"] is True
    after = client.post(
        "/v1/segment", files={"image": ("p.png", encode(product_on_white(), "PNG"))}
    )
    assert after.status_code == 200 and after.json()["state"] == "done"
    fives = [
        line
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("adstage_http_requests_total") and 'status="5' in line
    ]
    assert all('route="/v1/generate"' in line and 'status="501"' in line for line in fives), fives


def test_the_field_fuzz_cases_are_the_same_every_run() -> None:
    first = [(r, f, v) for r, f, v, _ in field_cases()]
    assert first == [(r, f, v) for r, f, v, _ in field_cases()]
