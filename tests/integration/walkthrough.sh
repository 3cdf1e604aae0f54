#!/usr/bin/env bash
# Runs the README's walkthrough block, unchanged, against a fresh server, and
# checks what it produced. usage: walkthrough.sh SERVER_BIN [ODBC_CONNECTION_STRING]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=$1
work=$(mktemp -d /tmp/sb-walkthrough.XXXXXX)
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "walkthrough: $*" >&2
  echo "--- server log" >&2
  tail -n 30 "$work/server.log" >&2 || true
  exit 1
}

# 1. The block between "```sh walkthrough" and the closing fence.
awk '/^```sh walkthrough$/ { on = 1; next } /^```$/ { on = 0 } on' "$root/README.md" \
  > "$work/walkthrough.sh"
[[ -s $work/walkthrough.sh ]] || fail "README.md has no walkthrough block"

# 2. A server of its own, on a port the kernel picks.
database=${2:-"Driver=SQLite3;Database=$work/walkthrough.db"}
SWITCHBOARD_LISTEN=127.0.0.1:0 SWITCHBOARD_DATABASE=$database \
  SWITCHBOARD_PASSWORD_HASH=minimum "$bin" > "$work/server.log" 2>&1 &
server_pid=$!
port=
for _ in $(seq 1 300); do
  port=$(grep -o '"msg":"listening".*"port":[0-9]*' "$work/server.log" | grep -o '[0-9]*$' || true)
  [[ -n $port ]] && break
  kill -0 "$server_pid" 2>/dev/null || fail "server exited during start-up"
  sleep 0.05
done
[[ -n $port ]] || fail "server did not start listening"

# 3. Run it as a reader would, from a folder where tests/ resolves.
ln -s "$root/tests" "$work/tests"
(cd "$work" && BASE="http://127.0.0.1:$port" timeout 60 bash -euo pipefail walkthrough.sh) \
  > "$work/out.txt" 2>&1 || { cat "$work/out.txt" >&2; fail "the walkthrough failed"; }

# 4. What the reader should have seen.
types=$(jq -r .type "$work/events.jsonl" | tr '\n' ' ')
[[ $types == "contact.created deal.created " ]] || fail "events were '$types'"
grep -q '"email": "grace@example.com"' "$work/out.txt" || fail "the search did not list Grace"
grep -q '"amount": 1200.5' "$work/out.txt" || fail "the deal amount is missing"
grep -q '"inserted": 1' "$work/out.txt" || fail "the import did not insert Alan"
grep -q '"line": 3' "$work/out.txt" || fail "the import did not reject line 3"
grep -q '{"accepted":2,"duplicates":0}' "$work/out.txt" || fail "the batch was not accepted"
# The report is CSV with CRLF line ends (RFC 4180).
tr -d '\r' < "$work/out.txt" | grep -q '^vid_.*,Launch demo,120,1,1,1,1.0$' ||
  fail "the report is not as expected"
echo "walkthrough: ok (port $port)"
