"""Where the OpenClaw plugin's tooling lives (installed by scripts/prepare-plugin-tests.sh)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PLUGIN_DIR = Path(__file__).resolve().parents[2] / "openclaw-plugin"
# The runtime the prepare script installs when the machine's node is older than 24.16.
TOOLING_NODE = PLUGIN_DIR / ".tooling" / "node_modules"
OPENCLAW_CLI = PLUGIN_DIR / "node_modules" / "openclaw" / "openclaw.mjs"


def _node_version(node: str) -> tuple[int, int]:
    try:
        out = subprocess.run(
            [node, "-p", "process.versions.node"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        major, minor = out.strip().split(".")[:2]
        return int(major), int(minor)
    except (OSError, subprocess.SubprocessError, ValueError):
        return (0, 0)


def recent_node_bin() -> Path | None:
    """The folder of a node >= 24.16 (the pinned OpenClaw host's floor), or None."""
    for package in sorted(TOOLING_NODE.glob("node-linux-*")):
        node = package / "bin" / "node"
        if node.is_file() and _node_version(str(node)) >= (24, 16):
            return node.parent
    system = shutil.which("node")
    if system and _node_version(system) >= (24, 16):
        return Path(system).parent
    return None


def node_env(**extra: str) -> dict[str, str]:
    """The environment with the recent node (when there is one) first on PATH."""
    env = {**os.environ, "NO_COLOR": "1", **extra}
    node_bin = recent_node_bin()
    if node_bin is not None:
        env["PATH"] = f"{node_bin}{os.pathsep}{env.get('PATH', '')}"
    return env


class ScriptedChatModel:
    """An OpenAI-compatible ``/v1/chat/completions`` endpoint that always answers ``reply``.

    The LLM test double of the OpenClaw host tests: OpenClaw runs its conversation hooks only
    inside an agent turn, and an agent turn needs a model. Every request body is recorded.
    """

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        model = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def do_GET(self) -> None:  # noqa: N802 - the model list some clients probe
                self._json({"object": "list", "data": [{"id": "scripted", "object": "model"}]})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                model.requests.append(body)
                if body.get("stream"):
                    self._stream()
                else:
                    message = {"role": "assistant", "content": model.reply}
                    choice = {"index": 0, "message": message, "finish_reason": "stop"}
                    self._json({**_completion("chat.completion"), "choices": [choice]})

            def _json(self, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                chunk = _completion("chat.completion.chunk")
                delta = {"role": "assistant", "content": model.reply}
                first = [{"index": 0, "delta": delta, "finish_reason": None}]
                last = [{"index": 0, "delta": {}, "finish_reason": "stop"}]
                usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
                for event in (
                    {**chunk, "choices": first},
                    {**chunk, "choices": last, "usage": usage},
                ):
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedChatModel:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def prompts(self) -> str:
        """Every message text the host sent to the model, joined."""
        texts: list[str] = []
        for request in self.requests:
            for message in request.get("messages", []):
                content = message.get("content")
                if isinstance(content, str):
                    texts.append(content)
                elif isinstance(content, list):
                    texts.extend(str(part.get("text", "")) for part in content)
        return "\n".join(texts)


def _completion(kind: str) -> dict[str, Any]:
    return {"id": "chatcmpl-scripted", "object": kind, "created": 0, "model": "scripted"}
