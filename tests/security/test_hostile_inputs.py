"""The hostile-input corpus: every value that once gave a 500 is now a 4xx naming its field."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from security_support import import_body

from lycheemem.testing import TEST_JWT_SECRET

BIG = 2**63


@pytest.mark.parametrize(
    "path", ["/memory/records", "/memory/skills", "/sessions", "/memory/session/s-big"]
)
def test_huge_offsets_are_422(tenants, path: str) -> None:
    client, headers = tenants.client, tenants.alice
    turn = {"session_id": "s-big", "role": "user", "content": "hello"}
    assert client.post("/memory/append-turn", json=turn, headers=headers).status_code == 200
    response = client.get(path, params={"offset": BIG}, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "offset"]


@pytest.mark.parametrize(
    "created_at",
    [
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00-14:00",
        "9999-12-31T23:59:59-14:00",
        "0999-12-31T23:59:59Z",
    ],
)
def test_turn_timestamps_outside_the_supported_range_are_422(tenants, created_at: str) -> None:
    body = {
        "session_id": "s-ts",
        "role": "user",
        "content": "Tomorrow I fly",
        "created_at": created_at,
    }
    response = tenants.client.post("/memory/append-turn", json=body, headers=tenants.alice)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "created_at"]


@pytest.mark.parametrize("path", ["/memory/search", "/memory/smart-search"])
@pytest.mark.parametrize("reference", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00"])
def test_reference_time_outside_the_supported_range_is_422(tenants, path, reference) -> None:
    body = {"query": "what did I do yesterday", "reference_time": reference}
    response = tenants.client.post(path, json=body, headers=tenants.alice)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "reference_time"]


def test_reference_time_at_the_supported_edges_works(tenants) -> None:
    for reference in ("1000-01-01T00:00:00Z", "8999-12-31T23:59:59Z"):
        body = {"query": "what did I do yesterday or tomorrow", "reference_time": reference}
        response = tenants.client.post("/memory/search", json=body, headers=tenants.alice)
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "metadata_json",
    ['{"a": NaN}', '{"a": Infinity}', '{"a": [-Infinity]}', '{"a":' * 40 + "1" + "}" * 40],
)
def test_turn_metadata_must_be_plain_json(tenants, metadata_json: str) -> None:
    raw = '{"session_id": "s-meta", "role": "user", "content": "x", "metadata": ' + metadata_json
    response = tenants.client.post(
        "/memory/append-turn",
        content=raw + "}",
        headers={**tenants.alice, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:2] == ["body", "metadata"]


def test_metadata_nested_100000_deep_is_a_4xx(tenants) -> None:
    deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    raw = '{"session_id": "s-deep", "role": "user", "content": "x", "metadata": ' + deep + "}"
    response = tenants.client.post(
        "/memory/append-turn",
        content=raw,
        headers={**tenants.alice, "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500, response.text


def _import(tenants, *lines: str | dict[str, Any]) -> dict[str, Any]:
    response = tenants.client.post(
        "/memory/import",
        content=import_body(*lines),
        headers={**tenants.bob, "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    return response.json()


DEEP_TURN = (
    '{"type": "turn", "session_id": "i-deep", "turn_index": 0, "role": "user", "content": "x",'
    ' "metadata": ' + '{"a":' * 100_000 + "1" + "}" * 100_000 + "}"
)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"type": "session", "session_id": "i1", "created_at": "10000-01-01T00:00:00Z"},
         "created_at"),
        ({"type": "session", "session_id": "i1", "created_at": "9999-12-31T23:59:59Z"},
         "created_at"),
        (
            {"type": "turn", "session_id": "i1", "turn_index": 0, "role": "user", "content": "x",
             "created_at": "0001-01-01T00:00:00+14:00"},
            "created_at",
        ),
        (
            {"type": "turn", "session_id": "i1", "turn_index": BIG, "role": "user", "content": "x"},
            "turn_index",
        ),
        ({"type": "session", "session_id": "i2", "consolidated_until": BIG}, "consolidated_until"),
        (
            {"type": "summary", "session_id": "i1", "boundary_index": BIG, "content": "x"},
            "boundary_index",
        ),
        (
            {"type": "record", "memory_type": "fact", "semantic_text": "x", "version": BIG},
            "version",
        ),
        (
            {"type": "skill", "intent": "deploy", "success_count": BIG},
            "success_count",
        ),
        (
            '{"type": "turn", "session_id": "i1", "turn_index": 1, "role": "user", "content": "x",'
            ' "metadata": {"a": NaN}}',
            "NaN",
        ),
        (DEEP_TURN, "nested too deeply"),
    ],
)  # fmt: skip
def test_hostile_import_lines_are_reported_by_field(tenants, line, field: str) -> None:
    report = _import(tenants, line)
    assert report["skipped"] == 1 and sum(report["imported"].values()) == 0, report
    assert field in report["errors"][0]["error"], report


def test_import_watermark_beyond_the_turns_is_lowered_and_reported(tenants) -> None:
    report = _import(
        tenants,
        {"type": "session", "session_id": "i-wm", "consolidated_until": 50},
        {"type": "turn", "session_id": "i-wm", "turn_index": 0, "role": "user",
         "content": "I like green tea."},
    )  # fmt: skip
    assert report["imported"]["sessions"] == 1 and report["imported"]["turns"] == 1
    assert "consolidated_until" in report["errors"][0]["error"], report
    client, headers = tenants.client, tenants.bob
    turn = {"session_id": "i-wm", "role": "user", "content": "I also like black coffee."}
    assert client.post("/memory/append-turn", json=turn, headers=headers).status_code == 200
    done = client.post(
        "/memory/consolidate", json={"session_id": "i-wm", "background": False}, headers=headers
    ).json()
    # The imported turn counts as consolidated (watermark 1); the new one is consolidated.
    assert done["status"] == "done" and done["turns_consolidated"] == 1, done


def test_export_is_standard_json(tenants) -> None:
    _import(tenants, {"type": "turn", "session_id": "i-json", "turn_index": 0, "role": "user",
                      "content": "x", "metadata": {"n": 1.5}})  # fmt: skip
    response = tenants.client.get(
        "/memory/export", params={"include_sessions": True}, headers=tenants.bob
    )
    for raw in response.text.splitlines():
        json.loads(raw, parse_constant=lambda name: pytest.fail(f"export holds {name}"))


def test_token_with_an_unrepresentable_expiry_is_401(tenants) -> None:
    me = tenants.client.get("/auth/me", headers=tenants.alice).json()
    claims = {"sub": me["user_id"], "exp": 10**12, "iat": int(time.time()), "iss": "lycheemem"}
    token = jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256")
    response = tenants.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json()["code"] == "invalid_token"
