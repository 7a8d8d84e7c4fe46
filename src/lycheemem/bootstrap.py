"""Build everything from ``Settings``: the only place that picks concrete classes.

``build_context(settings)`` returns an unopened ``AppContext``; ``await
ctx.open()`` loads the embedder, opens the storage backend the settings select
(``open_storage``: embedded SQLite + LanceDB, or PostgreSQL when
``LYCHEEMEM_DATABASE_URL`` is set), wires the services and starts background
work; ``await ctx.close()`` undoes it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from lycheemem.auth.passwords import HashingPool
from lycheemem.auth.ratelimit import LoginRateLimiter
from lycheemem.auth.tokens import TokenService, load_or_create_secret
from lycheemem.auth.users import AuthService
from lycheemem.chat.graph import build_pipeline
from lycheemem.chat.state import ChatMemory
from lycheemem.clock import Clock
from lycheemem.config import Settings
from lycheemem.consolidation.consolidator import ConsolidationSettings, Consolidator
from lycheemem.consolidation.reconcile import reconcile, repair_unindexed
from lycheemem.consolidation.worker import JobWorker
from lycheemem.domain.bulk import bulk_work
from lycheemem.domain.locks import SessionLocks
from lycheemem.domain.ports import (
    LLM,
    CatalogStore,
    Embedder,
    IndexMaintenance,
    JobStore,
    SemanticStore,
    SessionStore,
    TenancyStore,
    TokenCounter,
    UsageStore,
    UserStore,
    VectorIndex,
)
from lycheemem.domain.turns import TurnFactory
from lycheemem.domain.working_memory.manager import WMConfig, WorkingMemoryManager
from lycheemem.errors import ConfigError, EmbeddingMismatch
from lycheemem.metrics import Metrics
from lycheemem.providers.embedding.base import CachedEmbedder
from lycheemem.providers.tokens import build_token_counter
from lycheemem.retrieval.feedback import FeedbackService
from lycheemem.retrieval.scoring import ScoreWeights
from lycheemem.retrieval.search import SearchConfig, SemanticSearch
from lycheemem.services.consolidation import ConsolidationService
from lycheemem.services.management import ManagementService
from lycheemem.services.operations import PipelineOperations
from lycheemem.services.sessions import MemoryService
from lycheemem.services.transfer import MemoryTransfer
from lycheemem.storage.lance.vector_index import LanceVectorIndex
from lycheemem.storage.permissions import secure_data_dir
from lycheemem.storage.postgres.catalog import PgCatalogStore
from lycheemem.storage.postgres.database import PgDatabase
from lycheemem.storage.postgres.jobs import PgJobStore
from lycheemem.storage.postgres.maintenance import PgIndexMaintenance
from lycheemem.storage.postgres.meta import check_model_guard, shared_secret
from lycheemem.storage.postgres.semantic import PgSemanticStore
from lycheemem.storage.postgres.sessions import PgSessionStore
from lycheemem.storage.postgres.tenancy import PgTenancyStore
from lycheemem.storage.postgres.transfer import PgTransferStore
from lycheemem.storage.postgres.usage import PgUsageStore
from lycheemem.storage.postgres.users import PgUserStore
from lycheemem.storage.postgres.vectors import PgVectorIndex
from lycheemem.storage.sqlite.catalog import SqliteCatalogStore
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.jobs import SqliteJobStore
from lycheemem.storage.sqlite.maintenance import SqliteIndexMaintenance
from lycheemem.storage.sqlite.semantic import SqliteSemanticStore
from lycheemem.storage.sqlite.sessions import SqliteSessionStore
from lycheemem.storage.sqlite.tenancy import SqliteTenancyStore
from lycheemem.storage.sqlite.transfer import SqliteTransferStore
from lycheemem.storage.sqlite.usage import SqliteUsageStore
from lycheemem.storage.sqlite.users import SqliteUserStore

__all__ = ["AppContext", "Storage", "build_context", "build_embedder", "build_llm", "open_storage"]

log = logging.getLogger(__name__)


def build_llm(settings: Settings) -> LLM | None:
    """The configured chat model, or None for memory-only mode."""
    if not settings.llm_enabled:
        return None
    from lycheemem.providers.llm.litellm_llm import LiteLLM

    return LiteLLM(
        settings.llm_model,
        api_key=settings.llm_api_key,
        api_base=settings.llm_api_base,
        timeout_s=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
        concurrency=settings.llm_concurrency,
        temperature=settings.llm_temperature,
        max_tokens=settings.llm_max_tokens,
    )


async def build_embedder(settings: Settings) -> Embedder:
    """The configured embedder (wordllama by default), loaded and ready."""
    if settings.embedding_model == "wordllama":
        from lycheemem.providers.embedding.wordllama import WordLlamaEmbedder

        embedder = WordLlamaEmbedder(dim=settings.embedding_dim or 256)
        await embedder.embed(["warm up"])
        return embedder
    from lycheemem.providers.embedding.litellm_embedder import LiteLLMEmbedder

    remote = LiteLLMEmbedder(
        settings.embedding_model,
        dim=settings.embedding_dim or 1,
        api_key=settings.embedding_api_key,
        api_base=settings.embedding_api_base,
        batch_size=settings.embedding_batch_size,
    )
    if not settings.embedding_dim:
        remote.dim = await remote.probe_dim()
    return remote


def _check_model_guard(conn: sqlite3.Connection, model: str, dim: int, now: str) -> None:
    rows = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    if "embedding_model" not in rows:
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [("embedding_model", model), ("embedding_dim", str(dim)), ("created_at", now)],
        )
        return
    if rows["embedding_model"] != model or rows.get("embedding_dim") != str(dim):
        raise EmbeddingMismatch(
            f"this data directory was built with embedding model {rows['embedding_model']!r} "
            f"({rows.get('embedding_dim')}-d) but {model!r} ({dim}-d) is configured; run "
            "`python main.py reindex` to rebuild the vectors, or configure the original model"
        )


ProbeFn = Callable[[], Awaitable[object]]


@dataclass
class Storage:
    """Every store of one backend, opened: what the services are wired to.

    ``backend`` is ``embedded`` (SQLite + LanceDB files in the data directory) or
    ``postgres`` (one database shared by every replica). ``probes`` are the readiness
    checks by name; ``close`` releases everything ``open_storage`` opened.
    """

    backend: str
    describe: str
    sessions: SessionStore
    semantic: SemanticStore
    vectors: VectorIndex
    jobs: JobStore
    users: UserStore
    usage: UsageStore
    catalog: CatalogStore
    tenancy: TenancyStore
    transfer: MemoryTransfer
    secret: str
    sqlite: Database | None
    probes: dict[str, ProbeFn]
    # The row side of reconciliation (every tenant).
    index_rows: IndexMaintenance
    longdoc_bank: Any  # longdoc.ports.ChunkStore (the longdoc slice is imported lazily)
    schema_version: Callable[[], int]
    queue_depth: Callable[[], int]
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def repair(self, embedder: Embedder, batch_size: int) -> int:
        """Write the vectors of rows a crash left without them; returns how many."""
        return await repair_unindexed(
            self.index_rows, self.vectors, embedder, batch_size=batch_size
        )

    async def reconcile(self, embedder: Embedder, batch_size: int) -> None:
        """Repair unindexed rows and delete vectors whose row is gone."""
        await reconcile(self.index_rows, self.vectors, embedder, batch_size=batch_size)

    async def close(self) -> None:
        """Close what was opened, last opened first; safe to call twice."""
        await _close_all(self.closers)


async def _close_all(closers: list[Callable[[], Awaitable[None]]]) -> None:
    while closers:
        closer = closers.pop()
        try:
            await closer()
        except Exception:  # closing the rest matters more than one failure
            log.exception("closing storage failed")


async def open_storage(settings: Settings, embedder: Embedder, clock: Clock) -> Storage:
    """Open the backend ``settings`` select (``LYCHEEMEM_DATABASE_URL``) with its stores."""
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        if settings.backend == "postgres":
            return await _open_postgres(settings, embedder, clock, closers)
        return await _open_embedded(settings, embedder, clock, closers)
    except BaseException:
        await _close_all(closers)
        raise


async def _open_sqlite(
    settings: Settings, embedder: Embedder, clock: Clock, closers: list[Any]
) -> Database:
    for loose in secure_data_dir(settings.data_dir, settings.db_path):
        log.warning("%s is accessible to other users; run chmod go-rwx on it", loose)
    db = Database(
        settings.db_path, synchronous=settings.sqlite_synchronous, readers=settings.sqlite_readers
    )
    await db.open()
    closers.append(db.close)
    await db.write(
        lambda conn: _check_model_guard(conn, embedder.model_name, embedder.dim, clock.now_iso())
    )
    return db


async def _open_lance(settings: Settings, embedder: Embedder, closers: list[Any]) -> Any:
    vectors = LanceVectorIndex(
        settings.lance_dir,
        dim=embedder.dim,
        strategy=settings.vector_search,
        cache_mb=settings.vector_cache_mb,
        ann_min_rows=settings.ann_min_rows,
        spill_dir=settings.data_dir / "vector-spill",
    )
    await vectors.open()
    closers.append(vectors.close)
    return vectors


def _sqlite_probe(db: Database) -> ProbeFn:
    return lambda: db.read(lambda conn: conn.execute("SELECT 1").fetchone())


async def _open_embedded(
    settings: Settings, embedder: Embedder, clock: Clock, closers: list[Any]
) -> Storage:
    """SQLite + LanceDB files in the data directory (the default)."""
    from lycheemem.longdoc.bank_factory import build_bank

    db = await _open_sqlite(settings, embedder, clock, closers)
    vectors = await _open_lance(settings, embedder, closers)
    semantic = SqliteSemanticStore(db)
    batch = settings.embedding_batch_size
    return Storage(
        backend="embedded",
        describe=f"embedded, data dir {settings.data_dir}",
        sessions=SqliteSessionStore(db),
        semantic=semantic,
        vectors=vectors,
        jobs=SqliteJobStore(db),
        users=SqliteUserStore(db),
        usage=SqliteUsageStore(db),
        catalog=SqliteCatalogStore(db),
        tenancy=SqliteTenancyStore(db),
        transfer=MemoryTransfer(
            store=SqliteTransferStore(db),
            semantic=semantic,
            vectors=vectors,
            embedder=embedder,
            clock=clock,
            embed_batch=batch,
        ),
        secret=load_or_create_secret(settings.jwt_secret, settings.data_dir),
        sqlite=db,
        probes={"sqlite": _sqlite_probe(db), "lancedb": vectors.ping},
        index_rows=SqliteIndexMaintenance(db),
        longdoc_bank=build_bank(db, lance_dir=settings.lance_dir, dim=embedder.dim),
        schema_version=lambda: db.schema_version,
        queue_depth=lambda: db.queue_depth,
        closers=closers,
    )


async def _open_postgres(
    settings: Settings, embedder: Embedder, clock: Clock, closers: list[Any]
) -> Storage:
    """Everything in one PostgreSQL database: a replica keeps no files of its own."""
    from lycheemem.longdoc.bank_factory import build_bank

    pg = PgDatabase(settings.database_url, max_size=settings.database_pool_size)
    await pg.open()
    closers.append(pg.close)
    await check_model_guard(pg, embedder.model_name, embedder.dim, clock.now_iso())
    vectors = PgVectorIndex(
        pg, dim=embedder.dim, strategy=settings.vector_search, exact_max_rows=settings.ann_min_rows
    )
    await vectors.open()
    semantic = PgSemanticStore(pg)
    closers.append(semantic.drain)
    return Storage(
        backend="postgres",
        describe=f"PostgreSQL {_redacted(settings.database_url)}",
        sessions=PgSessionStore(pg),
        semantic=semantic,
        vectors=vectors,
        jobs=PgJobStore(pg),
        users=PgUserStore(pg),
        usage=PgUsageStore(pg, settle=semantic.drain),
        catalog=PgCatalogStore(pg),
        tenancy=PgTenancyStore(pg),
        transfer=MemoryTransfer(
            store=PgTransferStore(pg, drain=semantic.drain),
            semantic=semantic,
            vectors=vectors,
            embedder=embedder,
            clock=clock,
            embed_batch=settings.embedding_batch_size,
        ),
        secret=await shared_secret(pg, settings.jwt_secret),
        sqlite=None,
        probes={"postgres": pg.ping},
        index_rows=PgIndexMaintenance(pg),
        longdoc_bank=build_bank(pg, lance_dir=settings.lance_dir, dim=embedder.dim),
        schema_version=lambda: pg.schema_version,
        queue_depth=lambda: 0,
        closers=closers,
    )


def _redacted(url: str) -> str:
    """The URL without its password, for logs."""
    head, at, tail = url.rpartition("@")
    if not at:
        return url
    scheme, _, credentials = head.partition("://")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{tail}"


@dataclass
class AppContext:
    """Everything one running app needs, built from ``Settings``."""

    settings: Settings
    clock: Clock = field(default_factory=Clock)
    metrics: Metrics = field(default_factory=Metrics)
    llm: LLM | None = None
    embedder_override: Embedder | None = None
    ready: bool = False
    storage: Storage = field(init=False)
    # The embedded SQLite database (None on PostgreSQL); tests reach into it.
    db: Database | None = field(init=False, default=None)
    tokens: TokenCounter = field(init=False)
    embedder: CachedEmbedder = field(init=False)
    vectors: VectorIndex = field(init=False)
    auth: AuthService = field(init=False)
    service: MemoryService = field(init=False)
    jobs: JobStore = field(init=False)
    worker: JobWorker = field(init=False)
    extras: dict[str, Any] = field(default_factory=dict)
    chat: Any = None
    manage: ManagementService = field(init=False)
    index_rows: IndexMaintenance = field(init=False)
    longdoc_settings: Any = None
    longdoc: Any = None
    _reconciler: asyncio.Task[None] | None = None

    @property
    def mode(self) -> str:
        """``llm`` or ``memory_only``."""
        return "llm" if self.llm is not None else "memory_only"

    async def open(self) -> None:
        """Open storage and providers and wire the services."""
        settings = self.settings
        if self.llm is not None and hasattr(self.llm, "observer"):
            self.llm.observer = self.metrics.observe_llm
        self.tokens = build_token_counter()
        inner = self.embedder_override or await build_embedder(settings)
        self.embedder = CachedEmbedder(inner, capacity=settings.embedding_cache_size)
        self.storage = await open_storage(settings, self.embedder, self.clock)
        store = self.storage
        self.db = store.sqlite
        self.vectors = store.vectors
        self.auth = AuthService(
            users=store.users,
            tokens=TokenService(store.secret, expire_hours=settings.jwt_expire_hours),
            require_auth=settings.require_auth,
            allow_registration=settings.allow_registration,
            clock=self.clock,
            limiter=LoginRateLimiter(
                address_free=settings.login_failures_per_address,
                username_free=settings.login_failures_per_username,
            ),
            hashing=HashingPool(
                concurrency=settings.password_hash_concurrency,
                queue=settings.password_hash_queue,
            ),
            cache_ttl_s=settings.user_cache_ttl_s,
        )
        sessions = store.sessions
        working_memory = WorkingMemoryManager(
            store=sessions,
            tokens=self.tokens,
            llm=self.llm,
            config=_wm_config(settings),
            clock=self.clock,
        )
        semantic = store.semantic
        jobs = store.jobs
        self.jobs = jobs
        self.worker = JobWorker(
            jobs=jobs,
            runners={},
            clock=self.clock,
            concurrency=settings.worker_concurrency,
            grace_s=settings.shutdown_grace_s,
            on_finished=self._job_finished,
            lease_s=settings.job_lease_s,
        )
        consolidator = Consolidator(
            store=semantic,
            sessions=sessions,
            vectors=self.vectors,
            embedder=self.embedder,
            llm=self.llm,
            settings=_consolidation_settings(settings),
            clock=self.clock,
            user_names=self._display_name,
        )
        consolidation = ConsolidationService(
            jobs=jobs,
            sessions=sessions,
            consolidator=consolidator,
            worker=self.worker,
            clock=self.clock,
            max_attempts=settings.job_max_attempts,
            debounce_s=settings.consolidate_debounce_s,
            sync_timeout_s=settings.sync_consolidate_timeout_s,
        )
        search = SemanticSearch(
            store=semantic,
            sessions=sessions,
            vectors=self.vectors,
            embedder=self.embedder,
            config=_search_config(settings),
            clock=self.clock,
        )
        locks = SessionLocks()
        memory = ChatMemory(
            sessions=sessions,
            working_memory=working_memory,
            turns=TurnFactory(
                tokens=self.tokens, clock=self.clock, redact_secrets=settings.redact_secrets
            ),
            searcher=search,
            consolidation=consolidation,
            locks=locks,
            clock=self.clock,
        )
        self.chat = build_pipeline(
            settings=settings,
            llm=self.llm,
            memory=memory,
            feedback=FeedbackService(usage=store.usage, clock=self.clock),
            embedder=self.embedder,
        )
        self.service = MemoryService(
            sessions=sessions,
            tenancy=store.tenancy,
            semantic=semantic,
            vectors=self.vectors,
            working_memory=working_memory,
            turns=memory.turns,
            locks=locks,
            clock=self.clock,
            search=search,
            consolidation=consolidation,
            operations=PipelineOperations(runner=self.chat),
            chat_runner=self.chat,
        )
        self.manage = ManagementService(
            catalog=store.catalog,
            semantic=semantic,
            vectors=self.vectors,
            jobs=jobs,
            working_memory=working_memory,
            transfer=store.transfer,
            max_concurrent_imports=settings.max_concurrent_imports,
        )
        # Rows a crash left without vectors are searchable again before the first request.
        repaired = await store.repair(self.embedder, settings.embedding_batch_size)
        if repaired:
            log.warning("re-embedded %d rows left without vectors by a crash", repaired)
        await self.worker.start()
        await self._open_longdoc()
        self._reconciler = asyncio.create_task(self._reconcile_loop(), name="lycheemem-reconcile")
        self.ready = True
        log.info("LycheeMem ready (%s mode, %s storage)", self.mode, store.describe)

    async def _reconcile_loop(self) -> None:
        """Full reconciliation after startup, then every ``reconcile_interval_s`` (0 = once)."""
        interval = self.settings.reconcile_interval_s
        while True:
            try:
                # Re-embedding found rows is bulk work: searches' embeddings go first.
                with bulk_work():
                    await self.storage.reconcile(self.embedder, self.settings.embedding_batch_size)
            except Exception:  # a failed pass is retried at the next interval
                log.exception("storage reconciliation failed")
            if not interval:
                return
            await asyncio.sleep(interval)

    async def _open_longdoc(self) -> None:
        from lycheemem.longdoc import LongDocService, load_longdoc_settings

        settings = self.longdoc_settings or load_longdoc_settings(env_file=None)
        self.longdoc_settings = settings
        self.longdoc = LongDocService(
            settings, self.storage.longdoc_bank, self.embedder, self.tokens
        )
        await self.longdoc.start()

    async def close(self) -> None:
        """Stop background work and close storage; safe after a failed ``open``."""
        self.ready = False
        reconciler = self._reconciler
        if reconciler is not None:
            reconciler.cancel()
            await asyncio.gather(reconciler, return_exceptions=True)
        chat = getattr(self, "chat", None)
        if chat is not None:
            await chat.drain(timeout=self.settings.shutdown_grace_s)
        if self.longdoc is not None:
            await self.longdoc.close()
        worker = getattr(self, "worker", None)
        if worker is not None:
            await worker.stop()
        service = getattr(self, "service", None)
        if service is not None:
            await service.working_memory.wait_idle()
        storage = getattr(self, "storage", None)
        if storage is not None:
            await storage.close()
        auth = getattr(self, "auth", None)
        if auth is not None:
            auth.close()
        self._close_own_embedder()

    def _close_own_embedder(self) -> None:
        # Only the embedder this context built: an override belongs to the caller.
        embedder = getattr(self, "embedder", None)
        close = getattr(getattr(embedder, "inner", None), "close", None)
        if self.embedder_override is None and close is not None:
            close()

    async def readiness_checks(self) -> dict[str, str]:
        """The ``/ready`` checks (API.md §9)."""
        checks: dict[str, str] = {}
        for name, probe in self.storage.probes.items():
            checks[name] = await _probe(probe())
        checks["migrations"] = "ok" if self.storage.schema_version() > 0 else "error: not applied"
        checks["embedder"] = await _probe(self.embedder.embed(["ready"], kind="query"))
        checks["worker"] = "ok" if self.worker.alive else "error: worker stopped"
        checks["llm"] = "configured" if self.llm is not None else "disabled"
        checks["longdoc"] = "ok" if self.longdoc_settings.backend == "heuristic" else "configured"
        return checks

    async def refresh_gauges(self) -> None:
        """Update gauges that are sampled rather than counted."""
        self.metrics.writer_queue.set(self.storage.queue_depth())
        counts = await self.jobs.counts()
        for status in ("queued", "running", "done", "failed"):
            self.metrics.jobs.labels(status).set(counts.get(status, 0))

    async def _display_name(self, user_id: str) -> str | None:
        if not user_id:
            return None
        user = await self.auth.user(user_id)
        return user.display_name if user else None

    def _job_finished(self, job: Any, result: dict[str, Any], seconds: float) -> None:
        self.metrics.job_duration.labels(job.kind).observe(seconds)


async def _probe(awaitable: Any) -> str:
    try:
        await awaitable
    except Exception as exc:  # readiness reports failures instead of raising
        return f"error: {exc}"
    return "ok"


def _consolidation_settings(settings: Settings) -> ConsolidationSettings:
    return ConsolidationSettings(
        batch_turns=settings.consolidate_batch_turns,
        batch_chars=settings.consolidate_batch_chars,
        context_turns=settings.consolidate_context_turns,
        dedup_threshold=settings.dedup_threshold,
        fusion_similarity=settings.fusion_similarity,
        fusion_max_group=settings.fusion_max_group,
        max_levels=settings.hierarchy_max_levels,
        timezone=settings.timezone,
        extra_tools=tuple(settings.extra_tool_list),
    )


def _search_config(settings: Settings) -> SearchConfig:
    return SearchConfig(
        recall_min=settings.search_recall_min,
        weights=ScoreWeights(
            alpha=settings.score_alpha,
            beta=settings.score_beta,
            kappa=settings.score_kappa,
            gamma=settings.score_gamma,
            delta=settings.score_delta,
            eta=settings.score_eta,
            lambda_=settings.score_lambda,
            lexical_weight=settings.score_lexical_weight,
            recency_half_life_days=settings.score_recency_half_life_days,
            token_cost_chars=settings.score_token_cost_chars,
        ),
        composite_bonus=settings.composite_bonus,
        parent_margin=settings.parent_margin,
        skill_top_k=settings.skill_top_k,
        skill_reuse_threshold=settings.skill_reuse_threshold,
        timezone=settings.timezone,
        extra_tools=tuple(settings.extra_tool_list),
    )


def _wm_config(settings: Settings) -> WMConfig:
    return WMConfig(
        max_tokens=settings.wm_max_tokens,
        warn_threshold=settings.wm_warn_threshold,
        block_threshold=settings.wm_block_threshold,
        keep_recent_turns=settings.wm_keep_recent_turns,
        min_recent_turns=settings.wm_min_recent_turns,
        summary_max_tokens=settings.wm_summary_max_tokens,
    )


def build_context(
    settings: Settings,
    *,
    llm: LLM | None = None,
    embedder: Embedder | None = None,
    longdoc_settings: Any = None,
) -> AppContext:
    """An unopened context; ``llm``/``embedder`` override the configured providers (tests)."""
    if settings.jwt_secret and len(settings.jwt_secret) < 32:
        raise ConfigError("LYCHEEMEM_JWT_SECRET must be at least 32 characters")
    chosen_llm = llm if llm is not None else build_llm(settings)
    return AppContext(
        settings=settings,
        llm=chosen_llm,
        embedder_override=embedder,
        longdoc_settings=longdoc_settings,
    )
