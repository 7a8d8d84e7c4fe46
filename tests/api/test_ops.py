"""Health, readiness, metrics, trace ids, CORS, docs and the demo fallback."""

from __future__ import annotations

from fastapi.testclient import TestClient

from lycheemem.app import create_app
from lycheemem.testing import make_test_settings


def test_health_ready_and_root(client: TestClient, backend: str) -> None:
    assert client.get("/health").json()["status"] == "ok"
    ready = client.get("/ready")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    stores = ["postgres"] if backend == "postgres" else ["sqlite", "lancedb"]
    assert [checks[name] for name in [*stores, "embedder", "migrations"]] == ["ok"] * (
        len(stores) + 2
    )
    assert checks["llm"] == "disabled"
    assert client.get("/", follow_redirects=False).json()["docs"] == "/docs"
    assert client.get("/docs").status_code == 200
    assert "/memory/append-turn" in client.get("/openapi.json").json()["paths"]


def test_trace_id_is_echoed_or_generated(client: TestClient) -> None:
    echoed = client.get("/health", headers={"X-Trace-ID": "abc-DEF_12345"})
    assert echoed.headers["x-trace-id"] == "abc-DEF_12345"
    generated = client.get("/health", headers={"X-Trace-ID": "bad id!"})
    assert len(generated.headers["x-trace-id"]) == 16
    error = client.get("/memory/session/missing")
    assert error.json()["trace_id"] == error.headers["x-trace-id"]


def test_metrics_counts_requests(client: TestClient) -> None:
    client.get("/health")
    text = client.get("/metrics").text
    assert 'lycheemem_http_requests_total{method="GET",route="/health",status="200"}' in text
    assert "lycheemem_writer_queue_depth" in text


def test_metrics_token(tmp_path) -> None:
    with TestClient(create_app(make_test_settings(tmp_path, metrics_token="m" * 20))) as client:
        assert client.get("/metrics").status_code == 403
        ok = client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 20})
        assert ok.status_code == 200


def test_cors_allows_only_configured_origins(client: TestClient) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    allowed = client.options(
        "/memory/append-turn", headers={"Origin": "http://localhost:5173", **preflight}
    )
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
    denied = client.options(
        "/memory/append-turn", headers={"Origin": "http://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in denied.headers


def test_docs_can_be_disabled(tmp_path) -> None:
    with TestClient(create_app(make_test_settings(tmp_path, docs_enabled=False))) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/openapi.json").status_code == 404


def test_demo_not_built_page_and_spa_fallback(tmp_path) -> None:
    demo = tmp_path / "dist"
    with TestClient(create_app(make_test_settings(tmp_path, demo_dir=str(demo)))) as client:
        assert "make demo" in client.get("/demo/").text
    demo.mkdir()
    (demo / "index.html").write_text("<html>demo app</html>")
    (demo / "app.js").write_text("console.log(1)")
    with TestClient(create_app(make_test_settings(tmp_path, demo_dir=str(demo)))) as client:
        assert client.get("/demo/app.js").text == "console.log(1)"
        assert "demo app" in client.get("/demo/sessions/123").text
        assert "root:" not in client.get("/demo/..%2F..%2F..%2Fetc%2Fpasswd").text
        assert client.get("/", follow_redirects=False).status_code == 307
