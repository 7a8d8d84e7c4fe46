#!/usr/bin/env bash
# Prepares the OpenClaw plugin test suite (called by `make test`); never fails the build.
# With node >= 20 and npm: `npm ci` in openclaw-plugin/ unless node_modules already matches
# package-lock.json. Without them: says why and exits 0 (tests/e2e then skips the plugin suite).
set -uo pipefail

plugin_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/openclaw-plugin"
say() { echo "prepare-plugin-tests: $*"; }

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  say "node or npm not found; the OpenClaw plugin tests will be skipped"
  exit 0
fi
major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "${major}" -lt 20 ] 2>/dev/null || [ -z "${major}" ]; then
  say "node $(node --version 2>/dev/null) is older than 20; the OpenClaw plugin tests will be skipped"
  exit 0
fi

# npm writes node_modules/.package-lock.json on every install; when it is newer than the lock
# file and package.json, node_modules is up to date.
stamp="${plugin_dir}/node_modules/.package-lock.json"
if [ -f "${stamp}" ] && [ "${stamp}" -nt "${plugin_dir}/package-lock.json" ] \
  && [ "${stamp}" -nt "${plugin_dir}/package.json" ]; then
  exit 0
fi

if ! log="$(cd "${plugin_dir}" && npm ci --no-audit --no-fund --loglevel=error 2>&1)"; then
  say "npm ci failed; the OpenClaw plugin tests will be skipped"
  echo "${log}" | tail -n 20
  rm -rf "${plugin_dir}/node_modules"
fi
exit 0
