#!/usr/bin/env bash
# Regenerates web-demo/src/api/types.gen.ts from the API's OpenAPI document, built offline from
# the app object (`lycheemem openapi`; no server runs). Needs web-demo/node_modules (`npm ci`).
# PYTHON picks the interpreter (default: .venv/bin/python when present, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m lycheemem openapi -o "$tmp/openapi.json"
web-demo/node_modules/.bin/openapi-typescript "$tmp/openapi.json" -o web-demo/src/api/types.gen.ts
