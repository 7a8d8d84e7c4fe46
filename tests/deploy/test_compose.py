"""docker-compose.yml: validated against the Compose specification and checked for its promises.

Images cannot be pulled or run here, so these tests check the file itself: the Compose schema
(check-jsonschema's vendored compose-spec), the services each profile adds, ports, healthchecks,
the GPU reservation, that every referenced file exists, and that the long-document settings it
wires are accepted by LycheeMem's own settings loader.

Adding a profile (say ``scale``) means one more row in ``PROFILES`` and, where it has its own
promises, one more test; the generic checks run over every service.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from lycheemem.config import load_settings
from lycheemem.longdoc.config import load_longdoc_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"

# profile -> the services it adds (None: started by a plain `docker compose up`)
PROFILES: dict[str | None, set[str]] = {
    None: {"lycheemem"},
    "gpu": {"vllm"},
    "scale": {"postgres", "lycheemem-1", "lycheemem-2", "proxy"},
}
# service -> the host port mappings it must publish (all on loopback)
PORTS = {
    "lycheemem": ["127.0.0.1:8000:8000"],
    "vllm": ["127.0.0.1:8001:8001"],
    "proxy": ["127.0.0.1:8080:8080"],
}
REPLICAS = ("lycheemem-1", "lycheemem-2")
NGINX = ROOT / "deploy" / "nginx.conf"
SCHEMA = "vendor.compose-spec"
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The parsed compose file."""
    return yaml.safe_load(COMPOSE.read_text())


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Resolve ``${VAR}`` and ``${VAR:-default}`` the way Compose does (enough for this file)."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    return value


def _flags(command: list[str]) -> dict[str, str]:
    return dict(part.removeprefix("--").partition("=")[::2] for part in command)


def test_file_is_valid_against_the_compose_specification(tmp_path: Path) -> None:
    validator = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", SCHEMA]
    result = subprocess.run([*validator, str(COMPOSE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    # The validator really rejects a broken file (a misspelt key, a port given as a mapping).
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("healthcheck:", "healtcheck:", 1))
    result = subprocess.run([*validator, str(broken)], capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "healtcheck" in result.stdout + result.stderr


def test_docker_compose_config_when_the_plugin_exists() -> None:
    """`docker compose config` is the reference parser; the development machine has a docker
    client without the compose plugin, so there this only proves the schema check above ran."""
    docker = shutil.which("docker")
    probe = docker and subprocess.run([docker, "compose", "version"], capture_output=True)
    if not probe or probe.returncode != 0:
        return
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "--profile", "gpu", "config", "--quiet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_profiles_add_exactly_their_services(compose: dict[str, Any]) -> None:
    found: dict[str | None, set[str]] = {}
    for name, service in compose["services"].items():
        profiles = service.get("profiles") or [None]
        assert len(profiles) == 1, f"{name} belongs to several profiles"
        found.setdefault(profiles[0], set()).add(name)
    assert found == PROFILES


@pytest.mark.parametrize("name", sorted(PORTS))
def test_ports_are_published_on_loopback_only(compose: dict[str, Any], name: str) -> None:
    assert compose["services"][name]["ports"] == PORTS[name]


def test_every_service_has_a_healthcheck_and_a_restart_policy(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        test = " ".join(service["healthcheck"]["test"])
        assert any(probe in test for probe in ("urlopen", "curl", "wget", "pg_isready")), name
        assert service["restart"] == "unless-stopped", name
    assert "/ready" in " ".join(compose["services"]["lycheemem"]["healthcheck"]["test"])
    assert "8001/health" in " ".join(compose["services"]["vllm"]["healthcheck"]["test"])


def test_lycheemem_service(compose: dict[str, Any]) -> None:
    service = compose["services"]["lycheemem"]
    assert service["build"] == "."
    assert service["env_file"] == [{"path": ".env", "required": False}]
    assert service["volumes"] == ["lycheemem-data:/data"]
    assert "lycheemem-data" in compose["volumes"]
    assert service["environment"]["LYCHEEMEM_DATA_DIR"] == "/data"
    assert "lycheemem:*" in service["environment"]["LYCHEEMEM_ALLOWED_HOSTS"]
    assert service["depends_on"]["vllm"] == {"condition": "service_healthy", "required": False}
    assert "LYCHEEMEM_REQUIRE_AUTH=true" in COMPOSE.read_text()


def test_vllm_service_runs_what_the_reasoner_needs(compose: dict[str, Any]) -> None:
    service = compose["services"]["vllm"]
    image, _, tag = service["image"].partition(":")
    assert image == "vllm/vllm-openai" and re.fullmatch(r"v\d+\.\d+\.\d+", tag), service["image"]
    flags = _flags(interpolate(service["command"], {}))
    assert flags["port"] == "8001" and flags["host"] == "0.0.0.0"
    assert "enable-prefix-caching" in flags and int(flags["max-logprobs"]) >= 5
    assert int(flags["max-model-len"]) >= 4096 and flags["served-model-name"]
    assert "./models:/models:ro" in service["volumes"]
    assert any(volume.startswith("hf-cache:") for volume in service["volumes"])
    devices = service["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_gpu_profile_wiring_is_accepted_by_the_longdoc_settings(compose: dict[str, Any]) -> None:
    """With only LYCHEEMEM_LONGDOC_BACKEND=vllm in .env, the server reaches the vllm service."""
    env = {"LYCHEEMEM_LONGDOC_BACKEND": "vllm", "VLLM_MAX_MODEL_LEN": "65536"}
    resolved = interpolate(compose["services"]["lycheemem"]["environment"], env)
    longdoc = {
        key.removeprefix("LYCHEEMEM_LONGDOC_").lower(): value
        for key, value in resolved.items()
        if key.startswith("LYCHEEMEM_LONGDOC_")
    }
    settings = load_longdoc_settings(env_file=None, **longdoc)
    flags = _flags(interpolate(compose["services"]["vllm"]["command"], env))
    assert settings.backend == "vllm"
    assert settings.base_url == f"http://vllm:{flags['port']}/v1"
    assert settings.model == flags["served-model-name"]
    assert settings.context_tokens == int(flags["max-model-len"]) == 65536
    # Without the switch the server stays on the model-free backend.
    plain = interpolate(compose["services"]["lycheemem"]["environment"], {})
    assert plain["LYCHEEMEM_LONGDOC_BACKEND"] == "heuristic"


def test_every_referenced_file_exists(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "build" in service:
            assert (ROOT / service["build"] / "Dockerfile").is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source}"
            else:
                assert source in compose["volumes"], f"{name}: {source}"
    assert (ROOT / ".env.example").is_file()
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_scale_profile_shares_one_postgres_behind_a_proxy(compose: dict[str, Any]) -> None:
    """Two replicas on one pgvector database (pinned image), reached only through nginx."""
    services = compose["services"]
    postgres = services["postgres"]
    image, _, tag = postgres["image"].partition(":")
    assert image == "pgvector/pgvector" and re.fullmatch(r"0\.8\.\d+-pg1[78]", tag), image
    password = "s3cret-for-the-test"
    env = interpolate(postgres["environment"], {"POSTGRES_PASSWORD": password})
    expected = f"postgresql://{env['POSTGRES_USER']}:{password}@postgres:5432/{env['POSTGRES_DB']}"
    urls = set()
    for name in REPLICAS:
        replica = services[name]
        assert "ports" not in replica, f"{name} is reached through the proxy only"
        assert replica["depends_on"]["postgres"] == {"condition": "service_healthy"}
        assert "/ready" in " ".join(replica["healthcheck"]["test"])
        resolved = interpolate(replica["environment"], {"POSTGRES_PASSWORD": password})
        urls.add(resolved["LYCHEEMEM_DATABASE_URL"])
        overrides = {
            key.removeprefix("LYCHEEMEM_").lower(): value for key, value in resolved.items()
        }
        settings = load_settings(env_file=None, **overrides)
        assert settings.backend == "postgres" and not settings.jwt_secret
        assert "volumes" not in replica, f"{name} keeps no files of its own"
        assert replica["networks"] == postgres["networks"] == services["proxy"]["networks"]
    assert urls == {expected}
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:") and re.search(r":\d+\.\d+\.\d+", proxy["image"])
    assert proxy["volumes"] == ["./deploy/nginx.conf:/etc/nginx/nginx.conf:ro"]
    assert set(proxy["depends_on"]) == set(REPLICAS)
    subnet = compose["networks"]["scale"]["ipam"]["config"][0]["subnet"]
    assert all(
        services[name]["environment"]["LYCHEEMEM_TRUSTED_PROXIES"] == subnet for name in REPLICAS
    )


def test_nginx_config_spreads_over_both_replicas() -> None:
    """The proxy balances over every replica, forwards the client address and does not buffer
    streamed answers; no sticky routing (the MCP endpoint is stateless on PostgreSQL)."""
    text = "\n".join(
        line.split("#", 1)[0] for line in NGINX.read_text().splitlines()
    )  # directives only
    upstream = re.search(r"upstream lycheemem \{(.*?)\}", text, re.S)
    assert upstream is not None
    assert re.findall(r"server (\S+):8000", upstream.group(1)) == list(REPLICAS)
    assert "proxy_pass http://lycheemem;" in text
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in text
    assert "proxy_buffering off;" in text and "listen 8080;" in text
    assert "ip_hash" not in text and "sticky" not in text and "hash " not in text
    assert text.count("{") == text.count("}")
