"""A bounded property-based run over every REST operation of the OpenAPI schema: whatever
schemathesis generates, the server answers with anything but a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from security_support import Live, live_server

# A few examples per operation keep the whole run around two minutes on 2 cores.
EXAMPLES = 4


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: Any, value: Any) -> bytes:
    """JSON Lines bodies (``/memory/import``): one JSON value per line."""
    values = value if isinstance(value, list) else [value]
    return "\n".join(json.dumps(item) for item in values).encode()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One live server for the whole run."""
    with live_server(tmp_path_factory.mktemp("schemathesis")) as server:
        yield server


def _token(live: Live) -> str:
    body = {"username": "fuzzer", "password": "pw-123456"}
    response = httpx.post(live.url("/auth/register"), json=body, timeout=60)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def _fuzz(operation: Any, live: Live, headers: dict[str, str], failures: list[str]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=live.base, headers=headers, timeout=60)
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} {case.query or ''} "
                f"{str(case.body)[:200]} -> {response.status_code}: {response.text[:200]}"
            )

    run()


def test_no_operation_answers_5xx(live: Live) -> None:
    schema = schemathesis.openapi.from_url(live.url("/openapi.json"))
    headers = {"Authorization": f"Bearer {_token(live)}"}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 40
    for operation in operations:
        _fuzz(operation, live, headers, failures)
    assert failures == [], "\n".join(failures)
