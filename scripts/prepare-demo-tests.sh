#!/usr/bin/env bash
# Prepares the browser test suite of the web demo (called by `make test`); never fails the build.
# 1. finds a Chromium (CHROMIUM_PATH or the usual system paths); as root (or with passwordless
#    sudo) on Debian/Ubuntu it installs the `chromium` package when none is found;
# 2. with node >= 20 and npm, runs `npm ci` in web-demo/ when node_modules is out of date and
#    `npm run build` when web-demo/dist is missing or older than the sources.
# Whatever is impossible is reported: tests/e2e/test_web_demo.py then skips with a reason (fails under CI=true).
set -u
cd "$(dirname "$0")/.." || exit 0
DEMO=web-demo
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

note() { echo "prepare-demo-tests: $*"; }

find_chromium() {
  local candidate
  for candidate in "${CHROMIUM_PATH:-}" /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
  done
  return 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif sudo -n true 2>/dev/null; then sudo -n "$@"; else return 1; fi
}

install_chromium() {
  command -v apt-get >/dev/null || { note "no Chromium and no apt-get: browser suite will skip"; return 1; }
  if [ "$(id -u)" -ne 0 ] && ! sudo -n true 2>/dev/null; then
    note "no Chromium and no root/sudo to install it: browser suite will skip"; return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  note "installing the Debian chromium package"
  if ! apt-cache show chromium >/dev/null 2>&1; then
    as_root apt-get update -qq >/dev/null || { note "apt-get update failed"; return 1; }
  fi
  as_root apt-get install -y -qq --no-install-recommends chromium >/dev/null \
    || { note "apt-get install chromium failed: browser suite will skip"; return 1; }
}

node_ok() {
  command -v node >/dev/null && command -v npm >/dev/null || return 1
  [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -ge 20 ]
}

# Newest modification time (epoch seconds) of the demo's sources and build inputs.
sources_mtime() {
  find "$DEMO/src" "$DEMO/index.html" "$DEMO/vite.config.ts" "$DEMO/tsconfig.json" "$DEMO/package-lock.json" \
    -type f -printf '%T@\n' 2>/dev/null | sort -n | tail -1 | cut -d. -f1
}

npm_install() {
  local stamp="$DEMO/node_modules/.package-lock.json"
  if [ -f "$stamp" ] && [ "$stamp" -nt "$DEMO/package-lock.json" ]; then return 0; fi
  note "npm ci in $DEMO/"
  (cd "$DEMO" && npm ci --no-audit --no-fund --loglevel=error) || { note "npm ci failed: browser suite will skip"; return 1; }
}

build_demo() {
  local built=0
  [ -f "$DEMO/dist/index.html" ] && built=$(stat -c %Y "$DEMO/dist/index.html")
  if [ "$built" -ge "$(sources_mtime)" ]; then return 0; fi
  note "building $DEMO/dist"
  local log
  log=$(cd "$DEMO" && npm run --silent build 2>&1) || {
    echo "$log" | tail -20
    note "npm run build failed: browser suite will skip"
    return 1
  }
}

main() {
  if ! find_chromium >/dev/null; then
    install_chromium || true
  fi
  if chromium=$(find_chromium); then note "Chromium: $chromium"; else note "no Chromium found"; fi
  if ! node_ok; then note "node >= 20 and npm are required: browser suite will skip"; return 0; fi
  npm_install && build_demo
  return 0
}

main
exit 0
