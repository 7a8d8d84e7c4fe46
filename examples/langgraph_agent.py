#!/usr/bin/env python3
"""A small LangGraph agent that uses LycheeMem as its long-term memory over the REST API.

Each turn runs the graph ``recall -> model -> remember``: recall asks ``/memory/smart-search``
for background before the model call, the model answers, and remember mirrors both the user and
the assistant message with ``/memory/append-turn``. At the end of a conversation the agent calls
``/memory/consolidate``, so a later conversation (a new session) recalls what was said.

With ``--llm-model`` (any litellm model name, e.g. ``openai/gpt-4o-mini``; the provider key comes
from the usual environment variable) the model is real; without it a scripted stand-in answers
from the recalled memory, so the demo runs offline against a memory-only server:

    python examples/langgraph_agent.py [--base-url http://127.0.0.1:8000] [--llm-model NAME]
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

FIRST_CONVERSATION = (
    "Hi! I maintain the billing service. The billing service is deployed on Fly.io.",
    "Our on-call rotation changes every Monday at 09:00 Berlin time.",
)
LATER_QUESTION = "Where is the billing service deployed, and when does on-call change?"

Model = Callable[[str, str], str]


class TurnState(TypedDict, total=False):
    """What one pass through the graph reads and writes."""

    session_id: str
    question: str
    memory: str
    answer: str


class MemoryClient:
    """The three LycheeMem calls the agent needs (standard library HTTP)."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST JSON and return the JSON answer (raises on a non-2xx status)."""
        request = urllib.request.Request(
            f"{self.base_url}{path}", data=json.dumps(body).encode(), method="POST"
        )
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=300) as response:
            return dict(json.loads(response.read()))

    def recall(self, query: str, session_id: str) -> str:
        """Background context for ``query`` (empty when nothing relevant is stored)."""
        found = self.post("/memory/smart-search", {"query": query, "session_id": session_id})
        return str(found.get("background_context") or "")

    def mirror(self, session_id: str, role: str, content: str) -> None:
        """Append one message to the session's working memory."""
        turn = {"session_id": session_id, "role": role, "content": content}
        self.post("/memory/append-turn", turn)

    def consolidate(self, session_id: str) -> dict[str, Any]:
        """Turn the session's new messages into long-term memory and wait for it."""
        return self.post("/memory/consolidate", {"session_id": session_id, "background": False})


def scripted_model(question: str, memory: str) -> str:
    """Offline stand-in for an LLM: acknowledges statements, answers questions from memory."""
    if not question.rstrip().endswith("?"):
        return "Got it, I will remember that."
    if not memory:
        return "I do not know yet."
    return f"From what you told me earlier:\n{memory}"


def litellm_model(name: str) -> Model:
    """A real model through litellm (installed with LycheeMem)."""
    import litellm

    def answer(question: str, memory: str) -> str:
        system = "You are a helpful assistant. Use the memory below when it is relevant.\n"
        messages = [
            {"role": "system", "content": f"{system}Memory:\n{memory or '(none)'}"},
            {"role": "user", "content": question},
        ]
        reply = litellm.completion(model=name, messages=messages)
        return str(reply.choices[0].message.content)

    return answer


def build_agent(memory: MemoryClient, model: Model) -> Any:
    """The compiled graph: recall -> model -> remember."""

    def recall(state: TurnState) -> TurnState:
        return {"memory": memory.recall(state["question"], state["session_id"])}

    def call_model(state: TurnState) -> TurnState:
        return {"answer": model(state["question"], state.get("memory", ""))}

    def remember(state: TurnState) -> TurnState:
        memory.mirror(state["session_id"], "user", state["question"])
        memory.mirror(state["session_id"], "assistant", state["answer"])
        return {}

    graph = StateGraph(TurnState)
    graph.add_node("recall", recall)
    graph.add_node("model", call_model)
    graph.add_node("remember", remember)
    graph.add_edge(START, "recall")
    graph.add_edge("recall", "model")
    graph.add_edge("model", "remember")
    graph.add_edge("remember", END)
    return graph.compile()


def converse(agent: Any, session_id: str, messages: tuple[str, ...]) -> None:
    """Run the agent over ``messages`` in one session and print the exchange."""
    for message in messages:
        result = agent.invoke({"session_id": session_id, "question": message})
        print(f"user> {message}\nagent> {result['answer']}\n")


def main(argv: list[str] | None = None) -> int:
    """Two conversations: facts first, consolidation, then a question in a new session."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", help="bearer token (default: the anonymous namespace)")
    parser.add_argument("--llm-model", help="litellm model name (default: scripted stand-in)")
    args = parser.parse_args(argv)
    memory = MemoryClient(args.base_url, args.token)
    agent = build_agent(memory, litellm_model(args.llm_model) if args.llm_model else scripted_model)
    run = uuid.uuid4().hex[:8]

    first = f"agent-{run}-1"
    converse(agent, first, FIRST_CONVERSATION)
    job = memory.consolidate(first)
    print(f"consolidated {first}: {job['status']}, {job['records_added']} records added\n")
    converse(agent, f"agent-{run}-2", (LATER_QUESTION,))
    return 0


if __name__ == "__main__":
    sys.exit(main())
