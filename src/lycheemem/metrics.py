"""Prometheus metrics, one registry per app instance (no tenant ids or text in labels)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from lycheemem.domain.ports import LLMUsage

__all__ = ["Metrics"]


class Metrics:
    """The metrics of API.md §9, registered on a private registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "lycheemem_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "lycheemem_http_request_duration_seconds",
            "HTTP request duration",
            ["route"],
            registry=r,
        )
        self.llm_calls = Counter(
            "lycheemem_llm_calls_total", "LLM calls", ["purpose", "outcome"], registry=r
        )
        self.llm_tokens = Counter(
            "lycheemem_llm_tokens_total", "LLM tokens", ["direction"], registry=r
        )
        self.llm_duration = Histogram(
            "lycheemem_llm_call_duration_seconds", "LLM call duration", ["purpose"], registry=r
        )
        self.embedding_texts = Counter(
            "lycheemem_embedding_texts_total", "Texts embedded", registry=r
        )
        self.embedding_batches = Counter(
            "lycheemem_embedding_batches_total", "Embedding batches", registry=r
        )
        self.embedding_cache_hits = Counter(
            "lycheemem_embedding_cache_hits_total", "Embedding cache hits", registry=r
        )
        self.search_duration = Histogram(
            "lycheemem_search_duration_seconds",
            "Search duration by stage",
            ["stage"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.jobs = Gauge("lycheemem_jobs", "Jobs by status", ["status"], registry=r)
        self.job_duration = Histogram(
            "lycheemem_job_duration_seconds", "Job duration", ["kind"], registry=r
        )
        self.sse_streams = Gauge("lycheemem_sse_streams_active", "Open SSE streams", registry=r)
        self.writer_queue = Gauge(
            "lycheemem_writer_queue_depth", "Queued fire-and-forget writes", registry=r
        )

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)

    def observe_llm(self, usage: LLMUsage, outcome: str) -> None:
        """Count one LLM call (``outcome`` ok|error) with its tokens and duration."""
        self.llm_calls.labels(usage.purpose, outcome).inc()
        if outcome == "ok":
            self.llm_tokens.labels("input").inc(usage.input_tokens)
            self.llm_tokens.labels("output").inc(usage.output_tokens)
            self.llm_duration.labels(usage.purpose).observe(usage.ms / 1000)
