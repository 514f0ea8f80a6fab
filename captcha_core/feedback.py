"""The feedback store: the platform's verdicts on answers, with the pictures they were about.

A *report* is one verdict on one answer (``answer_id``): the text submitted (the server's answer,
or another reading a caller submitted instead), accepted or rejected. A *sample* is a picture
asked in one colour, kept once however often it was reported; it gets a *verified label* when the
platform accepted a text for it, and may get an *imported label* (a person's or a solving
service's reading, ``training.artifacts.feedback import``), kept apart and never called verified.

``open_store(spec)`` opens the engine a spec names: a path is an SQLite file (WAL, one file), a
``postgresql://`` URL a database a fleet shares (``captcha_core.feedback_postgres``). Both are
``SqlStore``: the same queries and migrations, in each engine's types. The server writes the store
and ``training`` reads it.
"""
from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY,
    picture_hash TEXT NOT NULL,
    color TEXT NOT NULL,
    picture BLOB NOT NULL,
    verified_label TEXT,
    imported_label TEXT,
    created REAL NOT NULL,
    UNIQUE (picture_hash, color)
);
CREATE TABLE IF NOT EXISTS reports (
    answer_id TEXT PRIMARY KEY,
    sample_id INTEGER NOT NULL REFERENCES samples (id),
    color TEXT NOT NULL,
    answer TEXT NOT NULL,
    confidence REAL NOT NULL,
    route TEXT NOT NULL,
    model TEXT NOT NULL,
    version INTEGER NOT NULL,
    submitted_text TEXT NOT NULL,
    ours INTEGER NOT NULL,
    accepted INTEGER NOT NULL,
    created REAL NOT NULL,
    path_confidence REAL NOT NULL,
    reads INTEGER NOT NULL,
    agreeing INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_by_version ON reports (color, model, version);
"""
#: version -> the statements that bring a store of the version before it up to it
MIGRATIONS = {
    2: ("ALTER TABLE reports ADD COLUMN path_confidence REAL NOT NULL DEFAULT 0",
        "ALTER TABLE reports ADD COLUMN reads INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE reports ADD COLUMN agreeing INTEGER NOT NULL DEFAULT 1",
        "UPDATE reports SET path_confidence = confidence"),  # version 1 stored the path's probability
}


class ReportConflict(Exception):
    """Another verdict was already stored for this answer."""


@dataclass(frozen=True)
class Report:
    answer_id: str
    picture: bytes
    color: str
    answer: str          # what the server answered
    confidence: float
    route: str
    model: str
    version: int
    submitted_text: str  # what was submitted (the answer itself when the caller sent none)
    accepted: bool
    created: float = 0.0
    path_confidence: float | None = None  # the decoded path's probability (None: ``confidence``)
    reads: int = 1
    agreeing: int = 1

    @property
    def ours(self) -> bool:
        """Whether the text submitted was the server's answer (the platform compares case-insensitively)."""
        return self.submitted_text.upper() == self.answer.upper()


@dataclass(frozen=True)
class Sample:
    id: int
    picture: bytes
    color: str
    label: str
    source: str  # "verified" or "imported"
    created: float


@dataclass(frozen=True)
class Found:
    accepted: bool
    submitted_text: str
    answer: str
    verified: bool  # the sample has a verified label


@dataclass(frozen=True)
class Verdict:
    """The platform's verdict on one of the server's own answers, with what the server knew of it."""

    path_confidence: float
    reads: int
    agreeing: int
    route: str
    accepted: bool


@dataclass(frozen=True)
class Live:
    color: str   # the colour asked
    model: str   # the model that answered (the colour's own, or another through the transform)
    version: int
    accepted: int
    rejected: int

    @property
    def accuracy(self) -> float:
        total = self.accepted + self.rejected
        return self.accepted / total if total else 0.0


class FeedbackStore(Protocol):
    def add(self, report: Report) -> tuple[bool, bool]:
        """Stores ``report`` durably before returning (stored now?, sample verified?); the same
        report again returns (False, ...); another one for the same answer_id raises ReportConflict."""

    def find(self, answer_id: str) -> "Found | None":
        """The report stored for ``answer_id``, or None."""

    def live(self) -> list[Live]: ...

    def live_of(self, color: str, model: str, version: int) -> Live: ...

    def counts(self) -> dict: ...

    def verdicts(self, color: str, version: int) -> Iterator[Verdict]: ...

    def samples(self, verified: bool = True) -> Iterator[Sample]: ...

    def unverified(self) -> Iterator[Sample]: ...

    def import_label(self, sample_id: int, label: str) -> bool: ...

    def close(self) -> None: ...


def picture_hash(picture: bytes) -> str:
    return hashlib.sha256(picture).hexdigest()


class StoreUnavailable(Exception):
    """The store's engine cannot take the call now (locked, unreachable); try again."""


class SqlStore:
    """The store on an SQL engine: the queries are the engines' common SQL; a subclass opens the
    connection (``self._db``, whose ``execute`` returns a cursor) and names its dialect."""

    SCHEMA = SCHEMA
    MIGRATIONS = MIGRATIONS
    BEGIN = "BEGIN"
    PLACEHOLDER = "?"
    UNAVAILABLE: tuple = ()
    where = "the store"

    def _has_schema(self) -> bool:
        raise NotImplementedError

    def _in_transaction(self) -> bool:
        raise NotImplementedError

    def add(self, report: Report) -> tuple[bool, bool]:
        created = report.created or time.time()
        submitted = report.submitted_text.upper()
        digest = picture_hash(report.picture)
        with self._lock:
            self._q(self.BEGIN)
            try:
                known = self._q("SELECT accepted, submitted_text, sample_id FROM reports WHERE answer_id = ?",
                                         (report.answer_id,)).fetchone()
                if known is not None:
                    self._q("ROLLBACK")
                    if (bool(known[0]), known[1]) != (report.accepted, submitted):
                        raise ReportConflict(f"answer {report.answer_id} was reported "
                                             f"{'accepted' if known[0] else 'rejected'} with text {known[1]!r}")
                    return False, self._verified(known[2])
                self._q("INSERT INTO samples (picture_hash, color, picture, created) VALUES (?, ?, ?, ?) "
                                 "ON CONFLICT DO NOTHING", (digest, report.color, report.picture, created))
                sample_id = self._q("SELECT id FROM samples WHERE picture_hash = ? AND color = ?",
                                             (digest, report.color)).fetchone()[0]
                if report.accepted:  # the first accepted text stays the label
                    self._q("UPDATE samples SET verified_label = ? WHERE id = ? AND verified_label IS NULL",
                                     (submitted, sample_id))
                self._q(
                    "INSERT INTO reports (answer_id, sample_id, color, answer, confidence, route, model, version, "
                    "submitted_text, ours, accepted, created, path_confidence, reads, agreeing) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (report.answer_id, sample_id, report.color, report.answer, report.confidence, report.route,
                     report.model, report.version, submitted, int(report.ours), int(report.accepted), created,
                     report.confidence if report.path_confidence is None else report.path_confidence,
                     report.reads, report.agreeing))
                self._q("COMMIT")
            except BaseException:
                if self._in_transaction():
                    self._q("ROLLBACK")
                raise
            return True, self._verified(sample_id)

    def _verified(self, sample_id: int) -> bool:
        row = self._q("SELECT verified_label FROM samples WHERE id = ?", (sample_id,)).fetchone()
        return bool(row and row[0] is not None)

    def find(self, answer_id: str) -> Found | None:
        with self._lock:
            row = self._q("SELECT r.accepted, r.submitted_text, r.answer, s.verified_label IS NOT NULL "
                                   "FROM reports r JOIN samples s ON s.id = r.sample_id WHERE r.answer_id = ?",
                                   (answer_id,)).fetchone()
        return None if row is None else Found(bool(row[0]), row[1], row[2], bool(row[3]))

    def live(self) -> list[Live]:
        """Of the server's own answers that were submitted: accepted and rejected per colour asked,
        model and version."""
        with self._lock:
            rows = self._q("SELECT color, model, version, SUM(accepted), SUM(1 - accepted) FROM reports "
                                    "WHERE ours = 1 GROUP BY color, model, version "
                                    "ORDER BY color, model, version").fetchall()
        return [Live(c, m, int(v), int(a), int(r)) for c, m, v, a, r in rows]

    def live_of(self, color: str, model: str, version: int) -> Live:
        with self._lock:
            a, r = self._q("SELECT COALESCE(SUM(accepted), 0), COALESCE(SUM(1 - accepted), 0) FROM reports "
                                    "WHERE ours = 1 AND color = ? AND model = ? AND version = ?",
                                    (color, model, version)).fetchone()
        return Live(color, model, version, int(a), int(r))

    def counts(self) -> dict:
        with self._lock:
            q = self._q
            per_color = dict(q("SELECT color, COUNT(*) FROM reports GROUP BY color").fetchall())
            return {"accepted": q("SELECT COUNT(*) FROM reports WHERE accepted = 1").fetchone()[0],
                    "rejected": q("SELECT COUNT(*) FROM reports WHERE accepted = 0").fetchone()[0],
                    "reports_per_color": per_color,
                    "samples": q("SELECT COUNT(*) FROM samples").fetchone()[0],
                    "verified": q("SELECT COUNT(*) FROM samples WHERE verified_label IS NOT NULL").fetchone()[0],
                    "imported": q("SELECT COUNT(*) FROM samples WHERE verified_label IS NULL "
                                  "AND imported_label IS NOT NULL").fetchone()[0]}

    def verdicts(self, color: str, version: int) -> Iterator[Verdict]:
        """Verdicts on the server's own answers for ``color``, given by its model's ``version``
        directly or after a second look (where another model's reading may have won)."""
        with self._lock:
            rows = self._q("SELECT path_confidence, reads, agreeing, route, accepted FROM reports "
                                    "WHERE ours = 1 AND color = ? AND ((model = ? AND version = ?) OR reads > 1) "
                                    "ORDER BY created", (color, color, version)).fetchall()
        for p, reads, agreeing, route, accepted in rows:
            yield Verdict(float(p), int(reads), int(agreeing), route, bool(accepted))

    def samples(self, verified: bool = True) -> Iterator[Sample]:
        """Samples with a verified label (``verified``) or, otherwise, with an imported one only."""
        where = "verified_label IS NOT NULL" if verified else "verified_label IS NULL AND imported_label IS NOT NULL"
        column, source = ("verified_label", "verified") if verified else ("imported_label", "imported")
        with self._lock:
            rows = self._q(f"SELECT id, picture, color, {column}, created FROM samples WHERE {where} "
                                    "ORDER BY created, id").fetchall()
        for sample_id, picture, color, label, created in rows:
            yield Sample(sample_id, picture, color, label, source, created)

    def unverified(self) -> Iterator[Sample]:
        """Pictures with a rejected report and no verified label: for a person to label."""
        with self._lock:
            rows = self._q("SELECT id, picture, color, COALESCE(imported_label, ''), created FROM samples "
                                    "WHERE verified_label IS NULL ORDER BY created, id").fetchall()
        for sample_id, picture, color, label, created in rows:
            yield Sample(sample_id, picture, color, label, "unverified", created)

    def import_label(self, sample_id: int, label: str) -> bool:
        with self._lock:
            cur = self._q("UPDATE samples SET imported_label = ? WHERE id = ? AND verified_label IS NULL",
                                   (label.upper(), sample_id))
        return cur.rowcount == 1

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- the engine's part ------------------------------------------------------------------
    def _q(self, sql: str, args=()):
        """Runs ``sql`` (``?`` placeholders) on the engine; an engine that cannot take it now
        (locked, unreachable) raises StoreUnavailable."""
        try:
            return self._db.execute(sql if self.PLACEHOLDER == "?" else sql.replace("?", self.PLACEHOLDER), args)
        except self.UNAVAILABLE as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def _migrate(self, create: bool = True) -> None:
        """Creates the schema, or brings an older store's up to ``SCHEMA_VERSION``, in one
        transaction. A reader (``create`` False) changes nothing: it only checks the version."""
        q = self._q
        if not create:
            found = q("SELECT MAX(version) FROM schema_version").fetchone()[0] if self._has_schema() else None
            if found != SCHEMA_VERSION:
                raise RuntimeError(f"{self.where} holds no feedback store of schema version {SCHEMA_VERSION} "
                                   f"(found {found}); a server started on it creates or migrates it")
            return
        q(self.BEGIN)
        try:
            found = q("SELECT MAX(version) FROM schema_version").fetchone()[0] if self._has_schema() else None
            if found is None:
                for statement in filter(str.strip, self.SCHEMA.split(";")):
                    q(statement)
                q("DELETE FROM schema_version")
                q("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            elif found > SCHEMA_VERSION:
                raise RuntimeError(f"{self.where} has schema version {found}, newer than this code's {SCHEMA_VERSION}")
            else:
                for version in range(found + 1, SCHEMA_VERSION + 1):
                    for statement in self.MIGRATIONS[version]:
                        q(statement)
                    q("UPDATE schema_version SET version = ?", (version,))
            q("COMMIT")
        except BaseException:
            if self._in_transaction():
                q("ROLLBACK")
            raise




class SQLiteStore(SqlStore):
    """One file, WAL, every commit on disk before it returns (``synchronous=FULL``)."""

    BEGIN = "BEGIN IMMEDIATE"
    UNAVAILABLE = (sqlite3.OperationalError,)

    def __init__(self, path: Path, create: bool = True):
        """``create``: make the file when it is missing (the server); readers pass False."""
        self.path = Path(path)
        self.where = str(self.path)
        if not create and not self.path.is_file():
            raise FileNotFoundError(f"no feedback store at {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        self._lock = threading.Lock()
        with self._lock:
            if create:
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a report acknowledged is on disk
            self._migrate(create)

    def _has_schema(self) -> bool:
        return self._q("SELECT 1 FROM sqlite_master WHERE name = 'schema_version'").fetchone() is not None

    def _in_transaction(self) -> bool:
        return self._db.in_transaction


def open_store(spec: str | Path, create: bool = True) -> FeedbackStore:
    """The store a spec names: ``postgresql://...`` (a PostgreSQL database, shared by a fleet:
    ``captcha_core.feedback_postgres``) or a file path (SQLite). ``create``: make the store (the
    file, the schema) or migrate it when needed, as the server does; readers pass False and
    change nothing."""
    text = str(spec)
    if text.startswith(("postgresql://", "postgres://")):
        from .feedback_postgres import PostgresStore
        return PostgresStore(text, create)
    if "://" in text:
        raise ValueError(f"{text.split('://')[0]}:// stores are not supported; give postgresql://... or a file path "
                         "(SQLite)")
    return SQLiteStore(Path(text), create)
