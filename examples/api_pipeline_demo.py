#!/usr/bin/env python3
"""Drive LycheeMem's modular pipeline over REST: search -> synthesize -> reason -> consolidate.

Standard library only. Start a server (`make serve` or `python main.py`), then:

    python examples/api_pipeline_demo.py                  # one turn, registered demo user
    python examples/api_pipeline_demo.py --multi-turn     # three turns, recall in a new session
    python examples/api_pipeline_demo.py --no-auth        # the anonymous namespace

Exit code 0 on success, 1 when the server is down or a call fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

DEFAULT_QUERY = (
    "Before every deploy of the billing service I run ruff and pytest; "
    "what else should go on my pre-deploy checklist?"
)
MULTI_TURN = (
    "I am building a FastAPI service backed by PostgreSQL; we deploy it with make release.",
    "It must be multi-tenant: every customer's rows have to stay isolated from the others.",
    "What are the steps to enable row-level security in PostgreSQL for that?",
)
RECALL_QUESTION = "What database does my FastAPI service use, and how are tenants isolated?"


class Demo:
    """A tiny REST client that remembers the bearer token and colours its output on a TTY."""

    def __init__(self, base_url: str, colour: bool) -> None:
        self.base_url = base_url.rstrip("/")
        self.token: str | None = None
        self.colour = colour

    def say(self, title: str, text: str = "", code: str = "36") -> None:
        """Print a step heading (coloured when stdout is a terminal) and optional text."""
        heading = f"\033[1;{code}m== {title}\033[0m" if self.colour else f"== {title}"
        print(heading)
        if text:
            print(text)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Send one request; return (status, parsed JSON body)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        """Like ``call`` but exit 1 with the server's message unless the status is 200."""
        status, payload = self.call(method, path, body)
        if status != 200:
            sys.exit(f"{method} {path} failed with {status}: {payload}")
        return payload


def sign_in(demo: Demo, username: str, password: str) -> None:
    """Register on first use; log in when the user already exists (409)."""
    body = {"username": username, "password": password}
    status, payload = demo.call("POST", "/auth/register", body)
    if status == 409:
        payload = demo.ok("POST", "/auth/login", body)
        demo.say("login", f"logged in as {username}")
    elif status == 200:
        demo.say("register", f"registered {username}")
    else:
        sys.exit(f"register failed with {status}: {payload}")
    demo.token = payload["token"]


def one_turn(demo: Demo, session_id: str, query: str, top_k: int) -> dict[str, Any]:
    """search -> synthesize -> reason (the answer is appended to the session)."""
    found = demo.ok("POST", "/memory/search", {"query": query, "top_k": top_k})
    demo.say("search", f"{found['total']} results ({found['search_mode']} plan)")
    synthesis = demo.ok(
        "POST",
        "/memory/synthesize",
        {
            "user_query": query,
            "semantic_results": found["semantic_results"],
            "skill_results": found["skill_results"],
        },
    )
    demo.say("synthesize", synthesis["background_context"] or "(no relevant memory yet)")
    answer = demo.ok(
        "POST",
        "/memory/reason",
        {
            "session_id": session_id,
            "user_query": query,
            "background_context": synthesis["background_context"],
            "skill_reuse_plan": synthesis["skill_reuse_plan"],
            "append_to_session": True,
        },
    )
    demo.say("reason", answer["final_response"], code="32")
    return found


def consolidate(demo: Demo, session_id: str, context: str, synchronous: bool) -> None:
    """Consolidate the session, wait for the job, print the records with their provenance."""
    body = {"session_id": session_id, "retrieved_context": context, "background": not synchronous}
    started = demo.ok("POST", "/memory/consolidate", body)
    demo.say("consolidate", f"job {started.get('job_id')} {started['status']}")
    job: dict[str, Any] = started
    for _ in range(600):
        job = demo.ok("GET", f"/pipeline/last-consolidation?session_id={session_id}")
        if job.get("status") in ("done", "skipped", "failed"):
            break
        time.sleep(0.5)
    reason = f" ({job['skipped_reason']})" if job.get("skipped_reason") else ""
    summary = f"{job.get('status')}: {job.get('records_added', 0)} records{reason}"
    demo.say("last consolidation", summary)
    records = demo.ok("GET", f"/memory/records?session_id={session_id}&order=created_asc")
    for item in records["items"]:
        turns = ", ".join(str(turn) for turn in item.get("source_turn_ids", []))
        where = f"session {session_id}, turns {turns}"
        print(f"  [{item['memory_type']}] {item['semantic_text']}  ({where})")


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="demo_user")
    parser.add_argument("--password", default="demo_password_123")
    parser.add_argument("--session-id", default=f"demo-{uuid.uuid4().hex[:8]}")
    parser.add_argument("--no-auth", action="store_true", help="use the anonymous namespace")
    parser.add_argument("--multi-turn", action="store_true", help="three-turn scenario")
    parser.add_argument("--query", default=DEFAULT_QUERY)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--no-consolidate", action="store_true")
    parser.add_argument("--sync-consolidate", action="store_true", help="background=false")
    args = parser.parse_args(argv)
    demo = Demo(args.base_url, colour=sys.stdout.isatty())

    try:
        health = demo.ok("GET", "/health")
    except urllib.error.URLError as error:
        print(f"LycheeMem is not reachable at {args.base_url}: {error.reason}", file=sys.stderr)
        return 1
    demo.say("health", f"{health['status']} (LycheeMem {health.get('version', '?')})")
    if not args.no_auth:
        sign_in(demo, args.username, args.password)

    questions = MULTI_TURN if args.multi_turn else (args.query,)
    context = ""
    for number, question in enumerate(questions, 1):
        demo.say(f"turn {number}", question, code="33")
        context = one_turn(demo, args.session_id, question, args.top_k)["novelty_retrieved_context"]
    if not args.no_consolidate:
        consolidate(demo, args.session_id, context, args.sync_consolidate)
    if args.multi_turn:
        new_session = f"{args.session_id}-recall"
        demo.say("new session", f"{new_session}: {RECALL_QUESTION}", code="33")
        one_turn(demo, new_session, RECALL_QUESTION, args.top_k)
    return 0


if __name__ == "__main__":
    sys.exit(main())
