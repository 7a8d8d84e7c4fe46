"""Every 2xx JSON response in the OpenAPI document names its schema.

Streams and downloads are documented by their own media type (``text/event-stream``,
``application/x-ndjson``, ``text/plain``) rather than as JSON without a schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lycheemem.app import openapi_document
from lycheemem.cli import main

METHODS = ("get", "post", "put", "patch", "delete")


def _success_responses(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    found.append((f"{method.upper()} {path} {status}", response))
    return found


def _json_schema(response: dict[str, Any]) -> dict[str, Any] | None:
    return response.get("content", {}).get("application/json", {}).get("schema")


def test_every_json_success_response_has_a_named_schema() -> None:
    document = openapi_document()
    responses = _success_responses(document)
    assert len(responses) >= 40
    unnamed = [
        name
        for name, response in responses
        if (schema := _json_schema(response)) is not None and "$ref" not in schema
    ]
    assert unnamed == []
    schemas = document["components"]["schemas"]
    for name, response in responses:
        content = response.get("content", {})
        assert content or name.endswith(" 204"), f"{name} documents no body"
        if "application/json" in content:
            ref = content["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[-1] in schemas, f"{name}: {ref} is not defined"
        for media, body in content.items():
            assert body.get("schema"), f"{name}: {media} has no schema"


def test_streams_and_downloads_name_their_media_type() -> None:
    paths = openapi_document()["paths"]
    chat = paths["/chat"]["post"]["responses"]["200"]["content"]
    assert set(chat) == {"text/event-stream"}
    export = paths["/memory/export"]["get"]["responses"]["200"]["content"]
    assert set(export) == {"application/x-ndjson"}
    ask = paths["/longdoc/ask"]["post"]["responses"]["200"]["content"]
    assert set(ask) == {"application/json", "text/event-stream"}
    assert set(paths["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}


def test_openapi_command_writes_the_document_without_a_server(tmp_path: Path) -> None:
    target = tmp_path / "openapi.json"
    assert main(["openapi", "-o", str(target)]) == 0
    written = json.loads(target.read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(openapi_document()))
