"""The study file: one SQLite database (WAL) holding a study's items, images, judges and votes.

``create_study`` reads the items CSV (and an attention-check CSV), decodes every image (EXIF
orientation applied, ICC profile converted to sRGB, transparency over white) and stores it as a
PNG blob without metadata: the server never opens a path, and neither a file format nor
metadata (a camera's EXIF, a generator's PNG text) can tell a judge which image is real.

Each judge gets a private token (``secrets.token_urlsafe(24)``) and, for each of their items, an
opaque item key that only their token can use. Their item order and each item's screen order
(left/right, 1..N) are drawn from ``random.Random(int(sha256(token)))`` and recorded in
``assignments``, so the randomisation is reproducible from the file and never depends on the
request order. When each item goes to fewer judges than there are (``per_item``), a study seed
(recorded) spreads the items so that every judge carries the same load, ±1.

A vote is one ``BEGIN IMMEDIATE … COMMIT`` transaction in WAL mode with ``synchronous=FULL``;
``UNIQUE (judge_id, item_id)`` keeps it to one vote per item per judge, so a vote acknowledged
by the server survives a killed process and a retried vote is refused, never counted twice.

Choices are stored as category indexes: the CSV's image columns (``left``, ``right``;
``image1`` … ``imageN``) whatever side of the screen they were shown on, or ``real`` /
``generated`` for g2r. What the judge pressed (``shown``) is kept beside it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import random
import re
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any
from urllib.parse import quote

from PIL import Image as PILImage

from adstage._version import __version__
from adstage.errors import InputError
from adstage.io.atomic import atomic_path
from adstage.io.hashing import sha256_bytes
from adstage.io.images import MaxPixels, read_image

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
"""The ``meta.schema`` a study file must have."""

PROTOCOLS = ("pairwise", "g2r", "best-of-n")
"""``pairwise``: pick the more realistic of two; ``g2r``: real photograph or generated;
``best-of-n``: pick the best of N."""

G2R_CATEGORIES = ("real", "generated")
"""The g2r answers, in category order; an item's ``truth`` ``real`` means a real photograph."""

QUESTIONS = {
    "pairwise": "Which image is more realistic?",
    "g2r": "Is this a real photograph, or generated?",
    "best-of-n": "Which image is the best?",
}
"""The question a judge reads, unless the study sets its own."""

MAX_N = 9
"""best-of-n: at most this many images per item (one number key each)."""

TOKEN_BYTES = 24
"""A judge's token: ``secrets.token_urlsafe(24)``, 192 random bits."""

KEY_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
"""What a token or an item key looks like; anything else is refused before the database."""

MAX_NAME = 200
"""The longest item id a CSV may give."""

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,          -- of the PNG the server sends
    media_type TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE items (
    id INTEGER PRIMARY KEY,           -- CSV order: items first, then attention checks
    name TEXT NOT NULL UNIQUE,        -- the CSV's id
    label TEXT,                       -- pairwise: kind; g2r: truth
    is_check INTEGER NOT NULL DEFAULT 0,
    answer INTEGER                    -- an attention check's correct category
);
CREATE TABLE slots (
    item_id INTEGER NOT NULL REFERENCES items(id),
    slot INTEGER NOT NULL,            -- the CSV's image column, 0-based
    blob TEXT NOT NULL REFERENCES blobs(sha256),
    source TEXT NOT NULL,             -- the file it came from (provenance; never opened again)
    source_sha256 TEXT NOT NULL,
    PRIMARY KEY (item_id, slot)
);
CREATE TABLE judges (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token TEXT NOT NULL UNIQUE
);
CREATE TABLE assignments (
    judge_id INTEGER NOT NULL REFERENCES judges(id),
    seq INTEGER NOT NULL,             -- the judge's order
    item_id INTEGER NOT NULL REFERENCES items(id),
    item_key TEXT NOT NULL UNIQUE,    -- opaque; only this judge's token can use it
    display TEXT NOT NULL,            -- JSON: the slots in screen order
    PRIMARY KEY (judge_id, seq),
    UNIQUE (judge_id, item_id)
);
CREATE TABLE votes (
    id INTEGER PRIMARY KEY,
    judge_id INTEGER NOT NULL REFERENCES judges(id),
    item_id INTEGER NOT NULL REFERENCES items(id),
    choice INTEGER NOT NULL,          -- category index (see Layout.categories)
    shown TEXT NOT NULL,              -- what the judge pressed: a screen side, position or answer
    ms INTEGER,                       -- the page's time from showing the images to the choice
    created TEXT NOT NULL,
    UNIQUE (judge_id, item_id)
);
"""


# ------------------------------------------------------------------------------------------------
# errors a judge's request can meet


class StudyError(InputError):
    """A request the study refuses; ``code`` names the reason for an API client."""

    code = "bad_request"


class UnknownToken(StudyError):
    code = "unknown_token"


class UnknownItem(StudyError):
    code = "unknown_item"


class BadChoice(StudyError):
    code = "bad_choice"


class AlreadyVoted(StudyError):
    code = "already_voted"


# ------------------------------------------------------------------------------------------------
# protocols


@dataclass(frozen=True)
class Layout:
    """A protocol's CSV columns, categories and the keys a judge presses.

    ``images``: the CSV's image columns in slot order; ``label``: its optional label column
    (pairwise ``kind``, g2r ``truth``).
    """

    protocol: str
    images: tuple[str, ...]

    @classmethod
    def of(cls, protocol: str, n: int = 2) -> Layout:
        if protocol not in PROTOCOLS:
            raise InputError(f"protocol: expected one of {', '.join(PROTOCOLS)}, got {protocol!r}")
        if protocol == "pairwise":
            return cls(protocol, ("left", "right"))
        if protocol == "g2r":
            return cls(protocol, ("image",))
        if not 2 <= n <= MAX_N:
            raise InputError(f"best-of-n: expected 2 to {MAX_N} images per item, got {n}")
        return cls(protocol, tuple(f"image{i}" for i in range(1, n + 1)))

    @property
    def label(self) -> str | None:
        return {"pairwise": "kind", "g2r": "truth"}.get(self.protocol)

    @property
    def categories(self) -> tuple[str, ...]:
        """What a vote counts for: a CSV image column, or real / generated (g2r)."""
        return G2R_CATEGORIES if self.protocol == "g2r" else self.images

    def choices(self) -> list[dict[str, str]]:
        """What the judge can press, in screen terms: value, label and keyboard key."""
        if self.protocol == "pairwise":
            return [
                {"value": "left", "label": "← Left", "key": "ArrowLeft"},
                {"value": "right", "label": "Right →", "key": "ArrowRight"},
            ]
        if self.protocol == "g2r":
            return [
                {"value": "real", "label": "Real photograph (R)", "key": "r"},
                {"value": "generated", "label": "Generated (G)", "key": "g"},
            ]
        return [
            {"value": str(i), "label": str(i), "key": str(i)}
            for i in range(1, len(self.images) + 1)
        ]

    def category(self, display: Sequence[int], shown: str) -> int:
        """The category of pressing ``shown`` on an item shown in ``display`` (slots) order."""
        values = [c["value"] for c in self.choices()]
        if shown not in values:
            raise BadChoice(f"choice: expected one of {', '.join(values)}, got {shown[:16]!r}")
        position = values.index(shown)
        return position if self.protocol == "g2r" else display[position]

    def answer(self, value: str, where: str) -> int:
        """An attention check's ``answer`` cell as a category index."""
        text = value.strip().lower()
        if self.protocol == "best-of-n" and text.isdigit():
            text = f"image{text}"
        if text not in self.categories:
            raise InputError(
                f"{where}: answer: expected one of {', '.join(self.categories)}, got {value!r}"
            )
        return self.categories.index(text)


# ------------------------------------------------------------------------------------------------
# reading the CSVs


@dataclass(frozen=True)
class CsvRow:
    where: str
    name: str
    paths: tuple[Path, ...]
    label: str | None
    answer: int | None


def _layout_of(protocol: str, header: Sequence[str], where: str, *, check: bool) -> Layout:
    if protocol == "best-of-n":
        numbers = sorted(int(m[1]) for c in header if (m := re.fullmatch(r"image(\d+)", c)))
        if numbers != list(range(1, len(numbers) + 1)):
            raise InputError(f"{where}: best-of-n: expected columns image1, image2, …, imageN")
        layout = Layout.of(protocol, len(numbers))
    else:
        layout = Layout.of(protocol)
    required = {"id", *layout.images} | ({"answer"} if check else set())
    allowed = required | ({layout.label} if layout.label else set())
    missing = sorted(required - set(header))
    unknown = sorted(set(header) - allowed)
    if missing or unknown:
        problems = [f"missing {', '.join(missing)}"] if missing else []
        problems += [f"unknown {', '.join(unknown)}"] if unknown else []
        raise InputError(
            f"{where}: {protocol} columns: {'; '.join(problems)} "
            f"(expected {', '.join(['id', *layout.images, *([layout.label] if layout.label else [])])}"
            f"{', answer' if check else ''})"
        )
    return layout


def read_items_csv(
    path: str | PathLike[str], protocol: str, *, check: bool = False
) -> tuple[Layout, list[CsvRow]]:
    """A study's items (or, with ``check``, its attention checks) from a CSV.

    Image paths are relative to the CSV's folder unless absolute; each must be a file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such CSV file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a UTF-8 CSV file") from exc
    reader = csv.reader(io.StringIO(text))
    header = [c.strip().lower() for c in next(reader, [])]
    if not header or header == [""]:
        raise InputError(f"{path}: empty CSV file (expected a header row)")
    layout = _layout_of(protocol, header, str(path), check=check)
    rows: list[CsvRow] = []
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        where = f"{path}:{line}"
        if len(cells) != len(header):
            raise InputError(f"{where}: expected {len(header)} cells, got {len(cells)}")
        row = dict(zip(header, (c.strip() for c in cells), strict=True))
        name = row["id"]
        if not name or len(name) > MAX_NAME:
            raise InputError(f"{where}: id: expected 1 to {MAX_NAME} characters, got {name!r}")
        paths = []
        for column in layout.images:
            if not row[column]:
                raise InputError(f"{where}: {column}: empty (expected an image path)")
            image = Path(row[column]).expanduser()
            image = image if image.is_absolute() else path.parent / image
            if not image.is_file():
                raise InputError(f"{where}: {column}: no such file {image}")
            paths.append(image)
        label = row.get(layout.label) if layout.label else None
        answer = layout.answer(row["answer"], where) if check else None
        rows.append(CsvRow(where, name, tuple(paths), label or None, answer))
    if not rows:
        raise InputError(f"{path}: no rows below the header")
    return layout, rows


# ------------------------------------------------------------------------------------------------
# creating a study


@dataclass(frozen=True)
class Judge:
    id: int
    name: str
    token: str

    def link(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/j/{self.token}"


@dataclass(frozen=True)
class CreatedStudy:
    """What ``create_study`` wrote: the file, the counts and the judges (with their tokens)."""

    path: Path
    protocol: str
    items: int
    attention_checks: int
    images: int
    per_item: int
    judges: tuple[Judge, ...]

    def as_dict(self, base_url: str) -> dict[str, Any]:
        return {
            "study": str(self.path),
            "protocol": self.protocol,
            "items": self.items,
            "attention_checks": self.attention_checks,
            "images": self.images,
            "judges_per_item": self.per_item,
            "judges": [
                {"name": j.name, "token": j.token, "link": j.link(base_url)} for j in self.judges
            ],
        }


def _png(rgb: Any) -> tuple[bytes, int, int]:
    buffer = io.BytesIO()
    image = PILImage.fromarray(rgb)
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue(), image.width, image.height


class _Blobs:
    """Decodes each source file once and stores its PNG once (by sha256)."""

    def __init__(self, conn: sqlite3.Connection, max_pixels: MaxPixels) -> None:
        self.conn = conn
        self.max_pixels = max_pixels
        self.seen: dict[str, str] = {}

    def add(self, path: Path) -> tuple[str, str]:
        """(PNG sha256, source sha256) of ``path``."""
        source = sha256_bytes(path.read_bytes())
        if source not in self.seen:
            data, width, height = _png(read_image(path, max_pixels=self.max_pixels))
            digest = sha256_bytes(data)
            self.conn.execute(
                "INSERT OR IGNORE INTO blobs VALUES (?, 'image/png', ?, ?, ?)",
                (digest, width, height, data),
            )
            self.seen[source] = digest
        return self.seen[source], source


def _assign(
    items: Sequence[int], judges: int, per_item: int, rng: random.Random
) -> list[list[int]]:
    """Each item to ``per_item`` distinct judges, every judge's load within one of the others'."""
    load = [0] * judges
    assigned: list[list[int]] = [[] for _ in range(judges)]
    order = list(items)
    rng.shuffle(order)
    for item in order:
        ranked = sorted(range(judges), key=lambda j: (load[j], rng.random()))
        for j in ranked[:per_item]:
            load[j] += 1
            assigned[j].append(item)
    return assigned


def judge_rng(token: str) -> random.Random:
    """The generator of a judge's item order and screen sides: seeded by sha256 of the token."""
    return random.Random(int.from_bytes(hashlib.sha256(token.encode()).digest(), "big"))


def _insert_rows(
    conn: sqlite3.Connection, rows: Iterable[CsvRow], blobs: _Blobs, *, check: bool
) -> list[int]:
    ids = []
    for row in rows:
        cursor = conn.execute(
            "INSERT INTO items (name, label, is_check, answer) VALUES (?, ?, ?, ?)",
            (row.name, row.label, int(check), row.answer),
        )
        item_id = int(cursor.lastrowid or 0)
        for slot, image in enumerate(row.paths):
            try:
                blob, source = blobs.add(image)
            except InputError as exc:
                raise InputError(f"{row.where}: {exc}") from exc
            conn.execute(
                "INSERT INTO slots VALUES (?, ?, ?, ?, ?)",
                (item_id, slot, blob, str(image.resolve()), source),
            )
        ids.append(item_id)
    return ids


def create_study(
    path: str | PathLike[str],
    *,
    protocol: str,
    items: str | PathLike[str],
    judges: int,
    per_item: int | None = None,
    attention_checks: str | PathLike[str] | None = None,
    question: str | None = None,
    max_pixels: MaxPixels = "default",
    seed: int | None = None,
) -> CreatedStudy:
    """Write a new study file at ``path`` (never over an existing one: its votes would be lost).

    Args:
        protocol: ``pairwise`` (``id,left,right[,kind]``), ``g2r`` (``id,image[,truth]``) or
            ``best-of-n`` (``id,image1,…,imageN``): the columns of the ``items`` CSV.
        judges: how many private links to make.
        per_item: how many judges see each item (default: all of them). Attention checks go to
            every judge.
        attention_checks: a CSV with the items' columns and ``answer``: the CSV image column
            (pairwise, best-of-n: ``left`` / ``image2`` / ``2``) or ``real`` / ``generated``
            (g2r) that an attentive judge picks.
        question: what the judge is asked (default :data:`QUESTIONS`).
        seed: the seed of the assignment of items to judges (default: random; recorded).

    The file is written beside ``path`` and renamed into place when complete; it is readable by
    its owner only (it holds the tokens).
    """
    out = Path(path)
    if isinstance(judges, bool) or not isinstance(judges, int) or judges < 1:
        raise InputError(f"judges: expected an integer >= 1, got {judges!r}")
    per_item = judges if per_item is None else per_item
    if isinstance(per_item, bool) or not isinstance(per_item, int) or not 1 <= per_item <= judges:
        raise InputError(f"per_item: expected an integer in [1, judges={judges}], got {per_item!r}")
    if out.exists():
        raise InputError(
            f"{out}: exists; a study file is never overwritten (its votes would be lost)"
        )
    layout, rows = read_items_csv(items, protocol)
    checks: list[CsvRow] = []
    if attention_checks is not None:
        check_layout, checks = read_items_csv(attention_checks, protocol, check=True)
        if check_layout != layout:
            raise InputError(
                f"{attention_checks}: {len(check_layout.images)} images per item, but "
                f"{items} has {len(layout.images)}"
            )
    seen: dict[str, str] = {}
    for row in [*rows, *checks]:
        if row.name in seen:
            raise InputError(f"{row.where}: id {row.name!r} is already used at {seen[row.name]}")
        seen[row.name] = row.where
    if question is not None and not 0 < len(question.strip()) <= 500:
        raise InputError(f"question: expected 1 to 500 characters, got {len(question.strip())}")
    seed = secrets.randbits(63) if seed is None else seed
    made: list[Judge] = []
    with atomic_path(out, suffix=".db") as tmp:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            conn.execute("BEGIN")
            meta = {
                "schema": str(SCHEMA_VERSION),
                "protocol": protocol,
                "images_per_item": str(len(layout.images)),
                "question": (question or QUESTIONS[protocol]).strip(),
                "judges_per_item": str(per_item),
                "assignment_seed": str(seed),
                "order": "random.Random(int(sha256(token))): shuffle the judge's items, then "
                "sample each item's screen order",
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "adstage": __version__,
                "items_csv": str(Path(items).resolve()),
                "attention_checks_csv": str(Path(attention_checks).resolve())
                if attention_checks is not None
                else "",
            }
            conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            blobs = _Blobs(conn, max_pixels)
            item_ids = _insert_rows(conn, rows, blobs, check=False)
            check_ids = _insert_rows(conn, checks, blobs, check=True)
            assigned = _assign(item_ids, judges, per_item, random.Random(seed))
            for number, mine in enumerate(assigned, start=1):
                token = secrets.token_urlsafe(TOKEN_BYTES)
                cursor = conn.execute(
                    "INSERT INTO judges (name, token) VALUES (?, ?)", (f"judge-{number}", token)
                )
                judge = Judge(int(cursor.lastrowid or 0), f"judge-{number}", token)
                made.append(judge)
                rng = judge_rng(token)
                order = sorted([*mine, *check_ids])
                rng.shuffle(order)
                n = len(layout.images)
                conn.executemany(
                    "INSERT INTO assignments VALUES (?, ?, ?, ?, ?)",
                    [
                        (
                            judge.id,
                            seq,
                            item_id,
                            secrets.token_urlsafe(12),
                            json.dumps(rng.sample(range(n), n)),
                        )
                        for seq, item_id in enumerate(order)
                    ],
                )
            conn.execute("COMMIT")
            images = conn.execute("SELECT COUNT(*) FROM blobs").fetchone()[0]
        except BaseException:
            conn.close()
            for suffix in ("-wal", "-shm"):
                with suppress(FileNotFoundError):
                    Path(f"{tmp}{suffix}").unlink()
            raise
        conn.close()  # the last connection: checkpoints the WAL and removes -wal / -shm
        tmp.chmod(0o600)
    log.info("study %s: %d items, %d checks, %d judges", out, len(rows), len(checks), judges)
    return CreatedStudy(out, protocol, len(rows), len(checks), int(images), per_item, tuple(made))


# ------------------------------------------------------------------------------------------------
# an open study


@dataclass(frozen=True)
class Progress:
    done: int
    total: int

    def as_dict(self) -> dict[str, int]:
        return {"done": self.done, "total": self.total}


@dataclass(frozen=True)
class Next:
    """A judge's next item: its opaque key and its slots in screen order."""

    key: str
    display: tuple[int, ...]


@dataclass(frozen=True)
class ItemRow:
    id: int
    name: str
    label: str | None
    is_check: bool
    answer: int | None
    sources: tuple[str, ...]


@dataclass(frozen=True)
class VoteRow:
    judge: str
    item: int
    choice: int


class Study:
    """An open study file: one SQLite connection (``synchronous=FULL``, foreign keys on).

    Use it in one thread; the server opens one per request.
    """

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such study file")
        uri = f"file:{quote(str(self.path.resolve()))}?mode=rw"
        try:
            self.conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30.0)
        except sqlite3.Error as exc:
            raise InputError(f"{self.path}: cannot open: {exc}") from exc
        try:
            self.conn.execute("PRAGMA busy_timeout = 30000")
            self.conn.execute("PRAGMA synchronous = FULL")
            self.conn.execute("PRAGMA foreign_keys = ON")
            rows = self.conn.execute("SELECT key, value FROM meta").fetchall()
            self.meta: dict[str, str] = {str(k): str(v) for k, v in rows}
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise InputError(f"{self.path}: not an adstage study file ({exc})") from exc
        if self.meta.get("schema") != str(SCHEMA_VERSION):
            self.conn.close()
            raise InputError(
                f"{self.path}: study schema {self.meta.get('schema')!r}, expected {SCHEMA_VERSION}"
            )
        self.layout = Layout.of(self.meta["protocol"], int(self.meta["images_per_item"]))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Study:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def protocol(self) -> str:
        return self.layout.protocol

    @property
    def question(self) -> str:
        return self.meta["question"]

    # a judge's view ------------------------------------------------------------------------------

    def judge(self, token: str) -> Judge:
        """The judge whose token this is; :class:`UnknownToken` otherwise."""
        row = None
        if KEY_RE.fullmatch(token):
            row = self.conn.execute(
                "SELECT id, name, token FROM judges WHERE token = ?", (token,)
            ).fetchone()
        if row is None:
            raise UnknownToken("no study link with this token")
        return Judge(int(row[0]), str(row[1]), str(row[2]))

    def progress(self, judge: Judge) -> Progress:
        done, total = self.conn.execute(
            "SELECT (SELECT COUNT(*) FROM votes WHERE judge_id = ?),"
            " (SELECT COUNT(*) FROM assignments WHERE judge_id = ?)",
            (judge.id, judge.id),
        ).fetchone()
        return Progress(int(done), int(total))

    def next_item(self, judge: Judge) -> Next | None:
        """The judge's first item without a vote (so a judge resumes where they stopped)."""
        row = self.conn.execute(
            "SELECT a.item_key, a.display FROM assignments a LEFT JOIN votes v"
            " ON v.judge_id = a.judge_id AND v.item_id = a.item_id"
            " WHERE a.judge_id = ? AND v.id IS NULL ORDER BY a.seq LIMIT 1",
            (judge.id,),
        ).fetchone()
        return None if row is None else Next(str(row[0]), tuple(json.loads(row[1])))

    def _assignment(self, judge: Judge, key: str) -> tuple[int, tuple[int, ...]]:
        row = None
        if KEY_RE.fullmatch(key):
            row = self.conn.execute(
                "SELECT item_id, display FROM assignments WHERE judge_id = ? AND item_key = ?",
                (judge.id, key),
            ).fetchone()
        if row is None:
            raise UnknownItem("no such item among this link's items")
        return int(row[0]), tuple(json.loads(row[1]))

    def image(self, judge: Judge, key: str, position: int) -> tuple[bytes, str]:
        """The image at screen ``position`` (1-based) of the judge's item ``key``."""
        item_id, display = self._assignment(judge, key)
        if not 1 <= position <= len(display):
            raise UnknownItem("no such image in this item")
        data, media_type = self.conn.execute(
            "SELECT b.data, b.media_type FROM slots s JOIN blobs b ON b.sha256 = s.blob"
            " WHERE s.item_id = ? AND s.slot = ?",
            (item_id, display[position - 1]),
        ).fetchone()
        return bytes(data), str(media_type)

    def vote(self, judge: Judge, key: str, shown: str, *, ms: int | None = None) -> Progress:
        """Record the judge's choice ``shown`` on item ``key``, in one transaction.

        Raises :class:`UnknownItem`, :class:`BadChoice` or :class:`AlreadyVoted` (a second vote
        on an item, which changes nothing).
        """
        item_id, display = self._assignment(judge, key)
        choice = self.layout.category(display, shown)
        created = datetime.now(UTC).isoformat(timespec="milliseconds")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(
                "INSERT INTO votes (judge_id, item_id, choice, shown, ms, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (judge.id, item_id, choice, shown, ms, created),
            )
            self.conn.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            self.conn.execute("ROLLBACK")
            raise AlreadyVoted("this item already has this link's vote") from exc
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        return self.progress(judge)

    # the organiser's view ------------------------------------------------------------------------

    def judges(self) -> list[Judge]:
        rows = self.conn.execute("SELECT id, name, token FROM judges ORDER BY id").fetchall()
        return [Judge(int(i), str(n), str(t)) for i, n, t in rows]

    def items(self) -> list[ItemRow]:
        sources: dict[int, list[str]] = {}
        for item_id, source in self.conn.execute(
            "SELECT item_id, source FROM slots ORDER BY item_id, slot"
        ):
            sources.setdefault(int(item_id), []).append(str(source))
        return [
            ItemRow(int(i), str(n), lab, bool(c), a, tuple(sources.get(int(i), ())))
            for i, n, lab, c, a in self.conn.execute(
                "SELECT id, name, label, is_check, answer FROM items ORDER BY id"
            )
        ]

    def votes(self) -> list[VoteRow]:
        return [
            VoteRow(str(name), int(item), int(choice))
            for name, item, choice in self.conn.execute(
                "SELECT j.name, v.item_id, v.choice FROM votes v JOIN judges j ON j.id = v.judge_id"
                " ORDER BY v.id"
            )
        ]

    def assigned_counts(self) -> dict[str, int]:
        """Each judge's number of items (attention checks included)."""
        return {
            str(name): int(count)
            for name, count in self.conn.execute(
                "SELECT j.name, COUNT(a.item_id) FROM judges j"
                " LEFT JOIN assignments a ON a.judge_id = j.id GROUP BY j.id ORDER BY j.id"
            )
        }
