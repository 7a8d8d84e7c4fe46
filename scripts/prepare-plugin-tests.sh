#!/usr/bin/env bash
# Prepares the OpenClaw plugin tests (called by `make test` and `make lint`):
#  1. a Node.js runtime the pinned OpenClaw host accepts (>= 24.16). When the machine's node is
#     older, the `node-linux-<arch>` package of the npm registry is installed into
#     openclaw-plugin/.tooling/ (the system node is left alone);
#  2. `npm ci` in openclaw-plugin/ with that runtime first on PATH: the plugin's dev tools and the
#     pinned `openclaw` host (a dev dependency: its SDK types for the typecheck, its CLI for
#     tests/e2e/test_openclaw_host.py).
# Only the npm registry is used. On a developer machine a missing piece is reported and the
# script exits 0 (the tests then skip); under CI (CI set) it exits 1, so CI never skips them.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
plugin_dir="${root}/openclaw-plugin"
tooling="${plugin_dir}/.tooling"
node_version="24.22.3" # keep in step with NODE_VERSION in tests/e2e/test_openclaw_host.py
say() { echo "prepare-plugin-tests: $*"; }

on_ci() {
  case "$(echo "${CI:-}" | tr '[:upper:]' '[:lower:]')" in
    "" | 0 | false | no) return 1 ;;
    *) return 0 ;;
  esac
}

give_up() {
  if on_ci; then
    say "$* (required on CI)"
    exit 1
  fi
  say "$*; the OpenClaw plugin tests will be skipped"
  exit 0
}

# Prints the version of `$1` (a node binary) as "major minor", or nothing.
node_version_of() {
  "$1" -p 'process.versions.node.split(".").slice(0, 2).join(" ")' 2>/dev/null
}

node_is_recent() { # node binary -> status 0 when >= 24.16
  local major minor
  read -r major minor <<<"$(node_version_of "$1")"
  [ -n "${major:-}" ] || return 1
  [ "${major}" -gt 24 ] || { [ "${major}" -eq 24 ] && [ "${minor}" -ge 16 ]; }
}

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || give_up "node or npm not found"

# 1. the runtime
node_bin=""
if node_is_recent "$(command -v node)"; then
  node_bin="$(dirname "$(command -v node)")"
else
  case "$(uname -m)" in
    x86_64 | amd64) arch="x64" ;;
    aarch64 | arm64) arch="arm64" ;;
    *) give_up "no node-linux package for $(uname -m)" ;;
  esac
  [ "$(uname -s)" = "Linux" ] || give_up "node $(node --version) is older than 24.16 (install Node.js 24)"
  package="node-linux-${arch}"
  node_bin="${tooling}/node_modules/${package}/bin"
  if [ "$("${node_bin}/node" --version 2>/dev/null)" != "v${node_version}" ]; then
    say "installing ${package}@${node_version} from the npm registry into openclaw-plugin/.tooling"
    mkdir -p "${tooling}"
    if ! log="$(npm install --prefix "${tooling}" --no-save --no-package-lock --no-audit --no-fund \
      --loglevel=error "${package}@${node_version}" 2>&1)"; then
      echo "${log}" | tail -n 20
      give_up "could not install ${package}@${node_version}"
    fi
  fi
  node_is_recent "${node_bin}/node" || give_up "${node_bin}/node does not run"
fi
export PATH="${node_bin}:${PATH}"

# 2. the plugin's dev dependencies, the OpenClaw host included. npm writes
# node_modules/.package-lock.json on every install; when it is newer than the lock file and
# package.json and the install ran on this runtime, node_modules is up to date.
stamp="${plugin_dir}/node_modules/.package-lock.json"
runtime_stamp="${plugin_dir}/node_modules/.installed-with-node"
if [ -f "${stamp}" ] && [ "${stamp}" -nt "${plugin_dir}/package-lock.json" ] \
  && [ "${stamp}" -nt "${plugin_dir}/package.json" ] \
  && [ "$(cat "${runtime_stamp}" 2>/dev/null)" = "$(node --version)" ]; then
  exit 0
fi

say "npm ci in openclaw-plugin/ with node $(node --version) (installs the pinned openclaw host)"
if ! log="$(cd "${plugin_dir}" && npm ci --no-audit --no-fund --loglevel=error 2>&1)"; then
  echo "${log}" | tail -n 20
  rm -rf "${plugin_dir}/node_modules"
  give_up "npm ci failed"
fi
node --version >"${runtime_stamp}"
exit 0
