#!/usr/bin/env python3
"""Long-document QA: upload a text file, watch its memory bank build, ask with SSE streaming.

    python examples/longdoc_qa.py FILE "your question" [--method lychee] [--base-url URL]

Without FILE ("-" or omitted with --demo) a generated document with a planted fact is used.
The answer arrives as server-sent events: ``gate`` (a chunk was judged), ``memory`` (the working
memory was rewritten), ``answer`` and ``done``. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEMO_QUESTION = "In which city was the Aurora contract signed?"


def demo_document(paragraphs: int = 400) -> str:
    """A long filler text with one planted fact in the middle."""
    filler = (
        "Paragraph {n}. The quarterly review covered staffing, office moves and the usual "
        "budget lines; nothing in it concerns any contract or signing ceremony."
    )
    parts = [filler.format(n=n) for n in range(paragraphs)]
    parts.insert(paragraphs // 2, "The Aurora contract was signed in Lisbon on 3 March 2021.")
    return "\n\n".join(parts)


class LongDocClient:
    """The long-document routes over HTTP."""

    def __init__(self, base_url: str, token: str | None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token

    def _request(self, method: str, path: str, body: Any = None) -> urllib.request.Request:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        return request

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """One JSON request; exits with the server's message on an error status."""
        try:
            with urllib.request.urlopen(self._request(method, path, body), timeout=300) as answer:
                return dict(json.loads(answer.read()))
        except urllib.error.HTTPError as error:
            sys.exit(f"{method} {path} failed with {error.code}: {error.read().decode()}")

    def events(self, path: str, body: Any) -> Iterator[dict[str, Any]]:
        """POST and yield each ``data:`` event of the SSE answer."""
        request = self._request("POST", path, body)
        request.add_header("Accept", "text/event-stream")
        with urllib.request.urlopen(request, timeout=600) as stream:
            for raw in stream:
                line = raw.decode().strip()
                if line.startswith("data:"):
                    yield json.loads(line[5:].strip())


def wait_until_ready(client: LongDocClient, doc_id: str) -> dict[str, Any]:
    """Poll the document and print its build progress until it is ready (or failed)."""
    while True:
        doc = client.call("GET", f"/longdoc/documents/{doc_id}")
        print(f"  {doc['status']:<12} {doc['chunks_done']}/{doc['n_chunks']} chunks", flush=True)
        if doc["status"] in ("ready", "failed"):
            return doc
        time.sleep(0.5)


def print_event(event: dict[str, Any]) -> None:
    """One line per streamed event."""
    kind = event["type"]
    if kind == "gate":
        verdict = "open" if event["opened"] else "skip"
        score = event["gate_score"]
        print(f"gate    chunk {event['chunk_index']:>4}  score {score:.2f}  {verdict}")
    elif kind == "memory":
        print(f"memory  chunk {event['chunk_index']:>4}  {event['memory'][:100]!r}")
    elif kind == "answer":
        print(f"answer  {event['answer']}")
    elif kind == "done":
        print(
            f"done    opened {event['chunks_opened']}/{event['chunks_total']} chunks, "
            f"{event['llm_calls']} model calls, {event['latency_ms']:.0f} ms"
        )
    elif kind == "error":
        sys.exit(f"error   {event['code']}: {event['detail']}")


def main(argv: list[str] | None = None) -> int:
    """Upload, wait, ask; exit 1 when the document failed to build."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default="-", help="a UTF-8 text file ('-': demo text)")
    parser.add_argument("question", nargs="?", default=DEMO_QUESTION)
    parser.add_argument("--method", default="lychee", choices=["lychee", "memagent", "rag", "full"])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", help="bearer token (default: the anonymous namespace)")
    args = parser.parse_args(argv)
    client = LongDocClient(args.base_url, args.token)

    if args.file == "-":
        title, text = "demo document", demo_document()
    else:
        title, text = Path(args.file).name, Path(args.file).read_text(encoding="utf-8")
    created = client.call("POST", "/longdoc/documents", {"title": title, "text": text})
    print(f"uploaded {title!r}: {created['n_tokens']} tokens in {created['n_chunks']} chunks")
    doc = wait_until_ready(client, created["doc_id"])
    if doc["status"] != "ready":
        print(f"build failed: {doc['error']}", file=sys.stderr)
        return 1
    print(f"question: {args.question}")
    body = {"doc_id": doc["doc_id"], "question": args.question, "method": args.method}
    body["stream"] = True
    for event in client.events("/longdoc/ask", body):
        print_event(event)
    return 0


if __name__ == "__main__":
    sys.exit(main())
