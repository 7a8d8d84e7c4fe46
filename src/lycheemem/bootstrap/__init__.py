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
from dataclasses import dataclass, field
from typing import Any

from lycheemem.auth.passwords import HashingPool
from lycheemem.auth.ratelimit import LoginRateLimiter
from lycheemem.auth.tokens import TokenService
from lycheemem.auth.users import AuthService
from lycheemem.bootstrap.storage import Storage, open_storage
from lycheemem.chat.graph import build_pipeline
from lycheemem.chat.state import ChatMemory
from lycheemem.clock import Clock
from lycheemem.config import Settings
from lycheemem.consolidation.consolidator import ConsolidationSettings, Consolidator
from lycheemem.consolidation.worker import JobWorker
from lycheemem.domain.bulk import bulk_work
from lycheemem.domain.locks import SessionLocks
from lycheemem.domain.ports import (
    LLM,
    Embedder,
    IndexMaintenance,
    JobStore,
    TokenCounter,
    VectorIndex,
)
from lycheemem.domain.turns import TurnFactory
from lycheemem.domain.working_memory.manager import WMConfig, WorkingMemoryManager
from lycheemem.errors import ConfigError
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
from lycheemem.storage.sqlite.database import Database

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
