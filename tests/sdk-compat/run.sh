#!/usr/bin/env bash
# Runs the official @upstash/redis SDK (compat.test.mjs) against the REST bridge in front
# of a throwaway redis-server. Usage: tests/sdk-compat/run.sh   (BRIDGE_BIN overrides the binary)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bridge_bin="${BRIDGE_BIN:-$root/target/debug/edgeauth-bridge}"

for tool in redis-server node npm; do
  command -v "$tool" >/dev/null || { echo "sdk-compat: $tool is required" >&2; exit 1; }
done
if [[ ! -x "$bridge_bin" ]]; then
  echo "sdk-compat: no bridge binary at $bridge_bin (cargo build -p edgeauth-bridge, or set BRIDGE_BIN)" >&2
  exit 1
fi

work="$(mktemp -d)"
redis_pid=""
bridge_pid=""
cleanup() {
  [[ -n "$bridge_pid" ]] && kill "$bridge_pid" 2>/dev/null && wait "$bridge_pid" 2>/dev/null
  [[ -n "$redis_pid" ]] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # wait_for <what> <command…>: poll up to 10 s
  local what="$1"; shift
  for _ in $(seq 1 200); do "$@" && return 0; sleep 0.05; done
  echo "sdk-compat: $what did not come up" >&2
  return 1
}

redis_port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
redis_pid=$!
wait_for "redis-server on port $redis_port" bash -c "exec 2>/dev/null 3<>/dev/tcp/127.0.0.1/$redis_port"

token="sdk-compat-$(node -e 'console.log(require("crypto").randomBytes(16).toString("hex"))')"
"$bridge_bin" --listen 127.0.0.1:0 --redis-url "redis://127.0.0.1:$redis_port" --token "$token" \
  >"$work/bridge.out" 2>"$work/bridge.log" &
bridge_pid=$!
wait_for "edgeauth-bridge" grep -q "listening on" "$work/bridge.out" || { cat "$work/bridge.log" >&2; exit 1; }
bridge_url="$(grep -o 'http://[0-9.:]*' "$work/bridge.out" | head -n1)"
echo "sdk-compat: redis-server on $redis_port, bridge on $bridge_url"

if [[ ! -d "$here/node_modules/@upstash/redis" ]]; then
  (cd "$here" && npm ci --silent --no-audit --no-fund)
fi

cd "$here"
status=0
UPSTASH_REDIS_REST_URL="$bridge_url" UPSTASH_REDIS_REST_TOKEN="$token" UPSTASH_DISABLE_TELEMETRY=1 \
  node --test || status=$?
if [[ $status -ne 0 ]]; then
  echo "--- bridge log ---" >&2
  cat "$work/bridge.log" >&2
fi
exit "$status"
