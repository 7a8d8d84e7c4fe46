"""``lycheemem migrate --to postgresql://...``: move the embedded data directory into PostgreSQL.

Run it with the server stopped. Every account is copied as it is (password hash and token
version, so people log in as before); then each tenant's memory travels through the same
export and import as ``/memory/export`` and ``/memory/import`` (``services.transfer``): the
JSONL of the tenant is read from SQLite and imported into PostgreSQL, where the texts are
embedded again with the configured embedder (the same model as the data directory's, so the
vectors come out the same). Long-document banks are copied as stored (chunks, notes and, at the
same dimension, their LanceDB vectors). Import is idempotent, so a re-run adds nothing. At the
end the rows of every table are counted on both sides, per tenant.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO
from urllib.parse import urlsplit, urlunsplit

from lycheemem.clock import Clock
from lycheemem.config import Settings
from lycheemem.domain.models import User
from lycheemem.domain.ports import Embedder, TransferStore
from lycheemem.errors import ConfigError
from lycheemem.longdoc.bank_factory import build_bank
from lycheemem.longdoc.models import DocumentInfo
from lycheemem.longdoc.ports import ChunkStore
from lycheemem.services.transfer import MemoryTransfer
from lycheemem.storage.postgres.database import PgDatabase
from lycheemem.storage.postgres.meta import check_model_guard
from lycheemem.storage.postgres.semantic import PgSemanticStore
from lycheemem.storage.postgres.transfer import PgTransferStore, put_meta_once, upsert_user
from lycheemem.storage.postgres.vectors import PgVectorIndex
from lycheemem.storage.sqlite import transfer as sqlite_transfer
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.semantic import SqliteSemanticStore
from lycheemem.storage.sqlite.transfer import SqliteTransferStore

__all__ = ["MigrationReport", "Progress", "check_url", "migrate", "redact_url"]

TABLES = (
    "users",
    "records",
    "composites",
    "skills",
    "sessions",
    "turns",
    "summaries",
    "usage_logs",
    "documents",
    "chunks",
)
_DOC_PAGE = 100


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def check_url(url: str) -> None:
    """``ConfigError`` unless ``url`` is a ``postgresql://`` (or ``postgres://``) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or not (parts.hostname or parts.query):
        raise ConfigError(
            f"--to must be a PostgreSQL URL like postgresql://user:password@host:5432/db,"
            f" got {redact_url(url)!r}"
        )


class Progress:
    """A progress bar of rows moved on ``stream``: redrawn in place on a terminal, one plain
    line per tenant otherwise (logs and CI)."""

    def __init__(self, total: int, stream: TextIO, *, width: int = 30) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream
        self.width = width
        self.tty = stream.isatty()

    def advance(self, rows: int, label: str) -> None:
        """Count ``rows`` more as moved and show where the migration stands."""
        self.done = min(self.done + rows, self.total)
        share = self.done / self.total
        filled = round(share * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        text = f"[{bar}] {share:4.0%} {self.done}/{self.total} rows  {label}"
        if self.tty:
            self.stream.write("\r" + text[:120].ljust(120))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End the bar's line on a terminal."""
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


@dataclass(slots=True)
class MigrationReport:
    """Row counts per table on both sides (summed over tenants) and the tenants that differ."""

    source: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    target: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    mismatched: list[str] = field(default_factory=list)
    tenants: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every table of every tenant has as many rows in PostgreSQL."""
        return not self.mismatched

    def table(self) -> str:
        """The verification table, one line per table."""
        lines = [f"{'table':<12}{'sqlite':>10}{'postgresql':>12}"]
        for name in TABLES:
            mark = "" if self.source[name] == self.target[name] else "  MISMATCH"
            lines.append(f"{name:<12}{self.source[name]:>10}{self.target[name]:>12}{mark}")
        return "\n".join(lines)


async def _open_target(url: str) -> PgDatabase:
    target = PgDatabase(url, max_size=4)
    try:
        await target.open()
    except Exception as exc:  # psycopg raises several kinds; all mean "cannot use this URL"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"cannot use PostgreSQL at {redact_url(url)}: {first}") from exc
    return target


async def migrate(
    settings: Settings,
    url: str,
    *,
    embedder: Embedder,
    stream: TextIO = sys.stderr,
    clock: Clock | None = None,
) -> MigrationReport:
    """Copy every account and every tenant's memory of ``settings.data_dir`` into ``url``.

    Raises ``ConfigError`` for a bad URL, an unreachable server or a missing data directory,
    ``EmbeddingMismatch`` when the database already holds vectors of another model.
    """
    check_url(url)
    if not settings.db_path.is_file():
        raise ConfigError(f"no embedded database at {settings.db_path} (LYCHEEMEM_DATA_DIR)")
    clock = clock or Clock()
    started = time.monotonic()
    source = Database(settings.db_path, synchronous=settings.sqlite_synchronous)
    await source.open()
    try:
        target = await _open_target(url)
        try:
            report = await _copy(settings, source, target, embedder, stream, clock)
        finally:
            await target.close()
    finally:
        await source.close()
    report.seconds = time.monotonic() - started
    return report


async def _share_token_secret(settings: Settings, target: PgDatabase) -> None:
    """Hand the data directory's token secret to the database (unless it has one), so tokens
    the embedded server issued stay valid on every replica that takes it from there."""
    path = settings.data_dir / "jwt_secret"
    secret = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    if len(secret) >= 32:
        await put_meta_once(target, "jwt_secret", secret)


async def _tenant_counts(store: TransferStore, bank: ChunkStore, user_id: str) -> dict[str, int]:
    """The tenant's rows per exported kind plus long documents and their chunks."""
    counts = await store.export_counts(user_id)
    documents = await _documents(bank, user_id)
    counts["documents"] = len(documents)
    counts["chunks"] = 0
    for doc in documents:
        counts["chunks"] += len(await bank.stored_chunks(user_id, doc.doc_id))
    return counts


async def _documents(bank: ChunkStore, user_id: str) -> list[DocumentInfo]:
    found: list[DocumentInfo] = []
    while True:
        page, total = await bank.list_documents(user_id, offset=len(found), limit=_DOC_PAGE)
        found.extend(page)
        if not page or len(found) >= total:
            return found


async def _copy_documents(
    source: ChunkStore, target: ChunkStore, user_id: str, *, vectors: bool
) -> None:
    """Copy the tenant's long documents with chunks and notes (and vectors when ``vectors``:
    same dimension); a document the target already holds is left as it is."""
    for doc in await _documents(source, user_id):
        chunks = await source.stored_chunks(user_id, doc.doc_id)
        if not await target.copy_document(user_id, doc, chunks) or not vectors:
            continue
        matrix = await source.get_vectors(user_id, doc.doc_id, len(chunks))
        if matrix is not None:  # else rebuilt from the notes on the first question
            await target.put_vectors(user_id, doc.doc_id, matrix)


async def _copy(
    settings: Settings,
    source: Database,
    target: PgDatabase,
    embedder: Embedder,
    stream: TextIO,
    clock: Clock,
) -> MigrationReport:
    await check_model_guard(target, embedder.model_name, embedder.dim, clock.now_iso())
    vectors = PgVectorIndex(target, dim=embedder.dim)
    await vectors.open()
    semantic = PgSemanticStore(target)
    source_store = SqliteTransferStore(source)
    target_store = PgTransferStore(target, drain=semantic.drain)
    batch = settings.embedding_batch_size
    # the reader only exports: its vectors are never touched
    reader = MemoryTransfer(
        store=source_store,
        semantic=SqliteSemanticStore(source),
        vectors=vectors,
        embedder=embedder,
        clock=clock,
        embed_batch=batch,
    )
    writer = MemoryTransfer(
        store=target_store,
        semantic=semantic,
        vectors=vectors,
        embedder=embedder,
        clock=clock,
        embed_batch=batch,
    )
    meta = await source.read(sqlite_transfer.embedding_meta)
    # Long-document vectors are copied only when they have the embedder's dimension; opening
    # the LanceDB table with another one would drop it in the data directory.
    same_dim = meta.get("embedding_dim") == str(embedder.dim)
    source_bank = build_bank(source, lance_dir=settings.lance_dir, dim=embedder.dim)
    target_bank = build_bank(target, lance_dir=settings.lance_dir, dim=embedder.dim)
    if same_dim:
        await source_bank.open()
    await target_bank.open()
    try:
        users = await source.read(sqlite_transfer.all_users)
        tenants = await source.read(sqlite_transfer.tenant_ids)
        counts = {u: await _tenant_counts(source_store, source_bank, u) for u in tenants}
        report = MigrationReport(tenants=len(tenants))
        progress = Progress(len(users) + sum(sum(c.values()) for c in counts.values()), stream)
        await _share_token_secret(settings, target)
        for user in users:
            await upsert_user(target, user)
        progress.advance(len(users), f"{len(users)} accounts")
        for number, user_id in enumerate(tenants, start=1):
            lines = reader.export_lines(
                user_id=user_id, include_sessions=True, include_usage_logs=True
            )
            body = "".join([line async for line in lines]).encode()
            await writer.import_lines(user_id=user_id, lines=writer.parse(body))
            await _copy_documents(source_bank, target_bank, user_id, vectors=same_dim)
            progress.advance(sum(counts[user_id].values()), f"tenant {number}/{len(tenants)}")
        progress.finish()
        await _verify(report, users, tenants, counts, target, target_store, target_bank)
    finally:
        await source_bank.close()
        await target_bank.close()
    return report


async def _verify(
    report: MigrationReport,
    users: list[User],
    tenants: list[str],
    counts: dict[str, dict[str, int]],
    target: PgDatabase,
    store: PgTransferStore,
    bank: ChunkStore,
) -> None:
    """Count every table of every tenant in PostgreSQL against the SQLite counts."""
    async with target.system() as conn:
        cur = await conn.execute(
            "SELECT COUNT(*) AS n FROM users WHERE user_id = ANY(%s)",
            ([user.user_id for user in users],),
        )
        row = await cur.fetchone()
    report.source["users"] = len(users)
    report.target["users"] = int(row["n"]) if row else 0
    if report.target["users"] != len(users):
        report.mismatched.append("accounts")
    for user_id in tenants:
        moved = await _tenant_counts(store, bank, user_id)
        for name, value in counts[user_id].items():
            report.source[name] += value
            report.target[name] += moved.get(name, 0)
        if moved != counts[user_id]:
            report.mismatched.append(user_id or "(no account)")
