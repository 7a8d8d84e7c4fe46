#!/usr/bin/env bash
# LycheeMem in five curl calls: register, append a turn, consolidate, smart-search, export.
# Usage: examples/curl_quickstart.sh [BASE_URL]   (default http://127.0.0.1:8000; needs curl)
set -euo pipefail
BASE="${1:-${LYCHEEMEM_URL:-http://127.0.0.1:8000}}"
USER_NAME="curl-demo-$(date +%s)-$RANDOM"
JSON='Content-Type: application/json'

echo "== register $USER_NAME"
TOKEN=$(curl -sf "$BASE/auth/register" -H "$JSON" \
  -d "{\"username\": \"$USER_NAME\", \"password\": \"a-long-password-123\"}" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
AUTH="Authorization: Bearer $TOKEN"

echo "== append a turn"
curl -sf "$BASE/memory/append-turn" -H "$JSON" -H "$AUTH" \
  -d '{"session_id": "quickstart", "role": "user", "content": "I back up Postgres with pg_dump to S3 every night."}'
echo

echo "== consolidate (synchronously)"
curl -sf "$BASE/memory/consolidate" -H "$JSON" -H "$AUTH" \
  -d '{"session_id": "quickstart", "background": false}' |
  python3 -c 'import json, sys; job = json.load(sys.stdin); print(job["status"], job["records_added"], "records")'

echo "== smart-search"
curl -sf "$BASE/memory/smart-search" -H "$JSON" -H "$AUTH" \
  -d '{"query": "how do I back up my database?"}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["background_context"])'

echo "== export (JSON Lines)"
curl -sf "$BASE/memory/export" -H "$AUTH"
