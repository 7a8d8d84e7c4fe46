"""The web demo's ``types.gen.ts`` is what openapi-typescript makes of today's OpenAPI document.

The document is built offline from the app object (``lycheemem openapi``), so a route or
response model changed without ``npm run gen:api`` fails here. Needs
``web-demo/node_modules`` (``scripts/prepare-demo-tests.sh`` runs ``npm ci``); without it the
test skips on a developer machine and fails under CI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lycheemem.app import openapi_document

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "web-demo"
GENERATED = DEMO / "src" / "api" / "types.gen.ts"
GENERATOR = DEMO / "node_modules" / ".bin" / "openapi-typescript"

sys.path.insert(0, str(ROOT / "tests" / "mcp"))
from mcp_support import skip_unless_ci  # noqa: E402


@pytest.mark.timeout(180)
def test_types_gen_matches_the_openapi_document(tmp_path: Path) -> None:
    if shutil.which("node") is None or not GENERATOR.exists():
        skip_unless_ci("node and web-demo/node_modules are required: run `npm ci` in web-demo/")
    schema = tmp_path / "openapi.json"
    schema.write_text(json.dumps(openapi_document(), indent=2), encoding="utf-8")
    fresh = tmp_path / "types.gen.ts"
    subprocess.run(
        [str(GENERATOR), str(schema), "-o", str(fresh)],
        cwd=DEMO,
        check=True,
        capture_output=True,
        timeout=150,
    )
    assert fresh.read_text(encoding="utf-8") == GENERATED.read_text(encoding="utf-8"), (
        "web-demo/src/api/types.gen.ts is stale: run `npm run gen:api` in web-demo/"
    )
