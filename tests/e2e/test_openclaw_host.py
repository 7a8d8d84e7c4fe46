"""The plugin inside the real OpenClaw host, installed as INSTALL_OPENCLAW.md says.

Uses the pinned ``openclaw`` package (a dev dependency of openclaw-plugin/, installed with
Node >= 24.16 by ``scripts/prepare-plugin-tests.sh``) with an isolated ``HOME``, a live
LycheeMem server (uvicorn on 127.0.0.1, memory-only mode) and, as the only test double, a
scripted OpenAI-compatible model (OpenClaw runs conversation hooks only inside an agent turn):

1. ``npm pack`` builds the package (``dist/`` through ``prepack``), then
   ``openclaw plugins install npm-pack:<tgz> --force --accept-capabilities``;
2. configured without the conversation-access grant, ``openclaw gateway run`` logs the
   plugin's warning about the blocked ``before_prompt_build`` hook;
3. with ``hooks.allowConversationAccess`` (hot-reloaded), ``plugins inspect --runtime`` shows
   the plugin loaded with 5 tools, 7 typed hooks, the command hook and no diagnostics, and
   ``plugins doctor`` passes;
4. the tools round-trip through ``POST /tools/invoke`` (append -> consolidate -> smart_search;
   failures come back as failures);
5. ``openclaw agent`` runs a turn: the model sees the memory guidance and session line, the user
   and assistant turns land in one memory session, and ``/new`` consolidates it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.append(str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parents[1] / "mcp"))
from mcp_support import run_server, skip_unless_ci  # noqa: E402
from openclaw_support import (  # noqa: E402
    OPENCLAW_CLI,
    PLUGIN_DIR,
    ScriptedChatModel,
    node_env,
    recent_node_bin,
)

OPENCLAW_VERSION = "2026.9.6"  # the devDependency pin in openclaw-plugin/package.json
PLUGIN_ID = "lycheemem-tools"
TOOLS = [
    "lychee_memory_smart_search",
    "lychee_memory_search",
    "lychee_memory_append_turn",
    "lychee_memory_synthesize",
    "lychee_memory_consolidate",
]
HOOKS = [
    "after_tool_call",
    "before_message_write",
    "before_prompt_build",
    "before_reset",
    "message_received",
    "session_end",
    "session_start",
]
GATEWAY_TOKEN = "e2e-gateway-secret"
CLI_TIMEOUT = 360  # a CLI call took up to 175 s on the loaded 2-core dev machine


def _missing_tooling() -> str | None:
    if recent_node_bin() is None:
        return "no node >= 24.16; run scripts/prepare-plugin-tests.sh"
    if not OPENCLAW_CLI.is_file():
        return "openclaw-plugin/node_modules/openclaw is missing; run the prepare script"
    pinned = json.loads((PLUGIN_DIR / "package.json").read_text())["devDependencies"]["openclaw"]
    installed = json.loads(OPENCLAW_CLI.with_name("package.json").read_text())["version"]
    if pinned != OPENCLAW_VERSION or installed != OPENCLAW_VERSION:
        return f"openclaw {installed} installed, {pinned} pinned; expected {OPENCLAW_VERSION}"
    return None


class Host:
    """The OpenClaw CLI with an isolated HOME."""

    def __init__(self, home: Path) -> None:
        self.home = home
        tmp = home / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        self.env = node_env(HOME=str(home), TMPDIR=str(tmp), OPENCLAW_DISABLE_UPDATE_CHECK="1")
        for name in list(self.env):  # a developer's own OpenClaw settings must not leak in
            if name.startswith("OPENCLAW_") and name != "OPENCLAW_DISABLE_UPDATE_CHECK":
                del self.env[name]

    @property
    def config_path(self) -> Path:
        return self.home / ".openclaw" / "openclaw.json"

    def cli(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``openclaw <args>``; the result whatever the exit status."""
        return subprocess.run(
            ["node", str(OPENCLAW_CLI), *args],
            cwd=cwd or self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start ``openclaw <args>`` in the background (collect it with ``communicate``)."""
        return subprocess.Popen(
            ["node", str(OPENCLAW_CLI), *args],
            cwd=self.home,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def ok(self, *args: str, cwd: Path | None = None) -> str:
        """Run ``openclaw <args>``, assert exit 0, return stdout."""
        done = self.cli(*args, cwd=cwd)
        assert done.returncode == 0, f"openclaw {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def inspect(self) -> tuple[dict[str, Any], str]:
        """``plugins inspect <id> --runtime --json``: the report and everything printed."""
        done = self.cli("plugins", "inspect", PLUGIN_ID, "--runtime", "--json")
        assert done.returncode == 0, f"inspect failed:\n{done.stdout}\n{done.stderr}"
        start = done.stdout.index("{")
        return json.loads(done.stdout[start:]), done.stdout + done.stderr

    def configure(self, update: dict[str, Any]) -> None:
        """Merge ``update`` into openclaw.json, as step 4 of INSTALL_OPENCLAW.md edits it."""
        config = json.loads(self.config_path.read_text())
        _merge(config, update)
        self.config_path.write_text(json.dumps(config, indent=2))


def _merge(target: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _gateway(host: Host, port: int) -> Iterator[str]:
    """``openclaw gateway run`` in the foreground until the block exits; yields its URL."""
    log = (host.home / "gateway.log").open("w")
    process = subprocess.Popen(
        ["node", str(OPENCLAW_CLI), "gateway", "run"],
        cwd=host.home,
        env=host.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 150
        while True:
            assert process.poll() is None, (host.home / "gateway.log").read_text()
            try:
                probe = _invoke(base, "lychee_memory_search", {"query": "warm-up"}, timeout=30)
                if probe.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (host.home / "gateway.log").read_text()
            time.sleep(1)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        log.close()


def _invoke(base: str, tool: str, args: dict[str, Any], timeout: float = 120) -> httpx.Response:
    return httpx.post(
        f"{base}/tools/invoke",
        headers={"Authorization": f"Bearer {GATEWAY_TOKEN}"},
        json={"tool": tool, "args": args},
        timeout=timeout,
    )


def _result(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True, body
    return body["result"]


def _wait_for(predicate: Any, what: str, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, (
            f"timed out waiting for {what}:\n{log.read_text()[-6000:]}"
        )
        time.sleep(1)


def _memory_sessions(live: Any, token: str, prefix: str) -> list[str]:
    listed = live.rest("GET", "/sessions", token)["sessions"]
    return [item["session_id"] for item in listed if item["session_id"].startswith(prefix)]


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_plugin_in_the_real_openclaw_host(tmp_path: Path) -> None:
    """Install, configure, inspect, doctor, tools and an agent turn, as the install guide says."""
    reason = _missing_tooling()
    if reason:
        skip_unless_ci(reason)
    host = Host(tmp_path / "home")
    started = time.monotonic()

    def phase(name: str) -> None:  # shown with -s: where the minutes go
        print(f"[openclaw e2e] {time.monotonic() - started:6.1f}s {name}", flush=True)

    # step 3 of the guide: build the package and install it
    packed = subprocess.run(
        ["npm", "pack", "--silent", "--pack-destination", str(tmp_path)],
        cwd=PLUGIN_DIR,
        env=node_env(),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert packed.returncode == 0, packed.stdout + packed.stderr
    tarball = tmp_path / packed.stdout.strip().splitlines()[-1]
    assert tarball.is_file(), packed.stdout
    phase("packed")
    installed = host.ok(
        "plugins", "install", f"npm-pack:{tarball}", "--force", "--accept-capabilities"
    )
    assert f"Installed plugin: {PLUGIN_ID}" in installed, installed
    config = json.loads(host.config_path.read_text())
    assert config["plugins"]["entries"][PLUGIN_ID]["enabled"] is True
    assert config["plugins"]["slots"]["memory"] == PLUGIN_ID
    phase("installed")

    with run_server(tmp_path / "server") as live, ScriptedChatModel(REPLY) as model:
        token = live.register("openclaw-e2e")
        port = _free_port()
        # step 4 of the guide without the hooks grant, a loopback gateway and the scripted model
        host.configure(
            {
                "plugins": {
                    "entries": {
                        PLUGIN_ID: {"config": {"baseUrl": live.base, "apiToken": token}},
                        "memory-core": {"enabled": False},
                    }
                },
                "gateway": {
                    "mode": "local",
                    "bind": "loopback",
                    "port": port,
                    "auth": {"mode": "token", "token": GATEWAY_TOKEN},
                },
                "models": {"mode": "merge", "providers": {"scripted": _scripted_provider(model)}},
                "agents": {"defaults": {"model": {"primary": "scripted/scripted"}}},
            }
        )
        with _gateway(host, port) as base:
            phase("gateway ready")
            log = host.home / "gateway.log"
            assert "lycheemem: OpenClaw blocks the before_prompt_build hook" in log.read_text()

            # the grant of step 4; the gateway hot-reloads plugin entries
            host.configure({"plugins": {"entries": {PLUGIN_ID: {"hooks": GRANT}}}})
            _wait_for(
                lambda: "config hot reload applied (plugins.entries" in log.read_text(),
                "the hot reload",
                log,
            )

            phase("reloaded")
            # step 5 of the guide: verify
            doctor = host.start("plugins", "doctor")  # both only read: run them side by side
            report, _ = host.inspect()
            plugin = report["plugin"]
            assert plugin["status"] == "loaded", plugin
            assert plugin["packageName"].endswith(f"/{PLUGIN_ID}")
            assert plugin["source"].endswith("/dist/index.js"), plugin["source"]
            assert plugin["toolNames"] == TOOLS
            assert sorted(hook["name"] for hook in report["typedHooks"]) == HOOKS
            assert [hook["name"] for hook in report["customHooks"]] == ["lycheemem-lifecycle"]
            assert report["diagnostics"] == [], report["diagnostics"]
            out, err = doctor.communicate(timeout=CLI_TIMEOUT)
            assert doctor.returncode == 0, out + err
            phase("inspect + doctor")

            _round_trip_tools(base, live, token)
            phase("tools")
            _agent_turn(host, model, live, token)
            phase("agent turns")


REPLY = "Noted: you deploy on Fridays after 4 pm."
GRANT = {"allowConversationAccess": True}


def _scripted_provider(model: ScriptedChatModel) -> dict[str, Any]:
    return {
        "baseUrl": model.base,
        "apiKey": "sk-scripted",
        "api": "openai-completions",
        "models": [
            {
                "id": "scripted",
                "name": "Scripted",
                "reasoning": False,
                "input": ["text"],
                "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                "contextWindow": 64000,
                "maxTokens": 1024,
            }
        ],
    }


def _round_trip_tools(base: str, live: Any, token: str) -> None:
    session = "openclaw-e2e-tools"
    for role, content in (
        ("user", "Our staging database is called orchid."),
        ("assistant", "Noted: staging is orchid."),
    ):
        appended = _result(
            _invoke(
                base,
                "lychee_memory_append_turn",
                {"session_id": session, "role": role, "content": content},
            )
        )
        assert appended["details"]["status"] == "appended", appended
    done = _result(
        _invoke(base, "lychee_memory_consolidate", {"session_id": session, "background": False})
    )
    assert done["details"]["status"] == "done", done
    found = _result(
        _invoke(
            base,
            "lychee_memory_smart_search",
            {"query": "What is the staging database called?", "session_id": session},
        )
    )
    background = found["details"]["background_context"]
    assert "orchid" in background, found
    # compact mode: the model reads the background text, the structure stays in details
    assert found["content"] == [{"type": "text", "text": background.strip()}]
    assert "provenance" in found["details"]

    failed = _invoke(base, "lychee_memory_consolidate", {"session_id": "no-such-memory-session"})
    assert failed.status_code >= 400 and failed.json()["ok"] is False, failed.text
    empty = _invoke(base, "lychee_memory_smart_search", {"query": ""})
    assert empty.status_code >= 400 and empty.json()["ok"] is False, empty.text
    stored = live.rest("GET", f"/memory/session/{session}", token)
    assert [turn["role"] for turn in stored["turns"]] == ["user", "assistant"]


def _agent_turn(host: Host, model: ScriptedChatModel, live: Any, token: str) -> None:
    said = "I always deploy on Fridays after 4 pm."
    host.ok("agent", "--session-key", "agent:main:e2e", "--message", said, "--json")
    prompts = model.prompts()
    assert "LycheeMem long-term memory is available." in prompts  # before_prompt_build ran
    prefix = "openclaw:agent:main:e2e:"
    assert f"LycheeMem session: {prefix}" in prompts
    (memory_id,) = _memory_sessions(live, token, prefix)
    log = host.home / "gateway.log"

    def mirrored() -> list[list[str]]:
        turns = live.rest("GET", f"/memory/session/{memory_id}", token)["turns"]
        return [[turn["role"], turn["content"]] for turn in turns]

    _wait_for(lambda: len(mirrored()) >= 2, "the mirrored turns", log, timeout=60)
    assert mirrored() == [["user", said], ["assistant", REPLY]]

    host.ok("agent", "--session-key", "agent:main:e2e", "--message", "/new", "--json")
    path = f"/pipeline/last-consolidation?session_id={memory_id}"
    _wait_for(
        lambda: live.rest("GET", path, token)["status"] in ("done", "skipped"),
        "the consolidation started by /new",
        log,
        timeout=60,
    )
