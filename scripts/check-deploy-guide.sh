#!/usr/bin/env bash
# Runs docs/deploy.md's locally runnable steps the way a reader would: every code block marked
# `<!-- guide-check: NAME -->` is taken from the guide as written and run in bash (with -e, -u
# and pipefail, so a failing command or a variable the guide never sets fails the check), in a
# scratch directory, in the guide's order. Where a step needs root, systemd, Upstash or a
# Cloudflare account, a local stand-in takes its place:
#
#   paths     /etc/edgeauth, /etc/systemd/system, /usr/local/bin and /root live under the scratch
#             directory; ./target/release/edgeauth-origin is the binary under test; the example
#             configuration's ports become free ones (the origin binds port 0 and logs the port).
#   commands  (shell functions) useradd: skipped. install: without -o/-g. runuser: runs the
#             command as you. systemctl: starts or restarts the origin as the unit would (its
#             ExecStart, WorkingDirectory and EnvironmentFile, with an empty environment).
#             journalctl: the origin's output. systemd-analyze security: `systemd-analyze verify`
#             of the unit. npx wrangler secret put NAME: keeps the value and fails on an empty
#             one; npx wrangler login/deploy: skipped (the --dry-run deploy runs for real).
#   Upstash   redis-server with the edgeauth-bridge in front of it.
#
# The reader's own typing is done here too: the answers to the guide's `read` prompts, filling in
# /etc/edgeauth/origin.env, and choosing the kids to retire. A line `command   # {json}` must print
# exactly that JSON.
#
# Usage: scripts/check-deploy-guide.sh [--no-build]
#   --no-build  skip the build steps; use the binaries in $EDGEAUTH_BIN_DIR (default:
#               target/release) and the worker already in worker/build.
# Needs: bash, jq, curl, redis-server, the built worker, and wrangler (npm ci; scripts/setup.sh).

# Functions here stand in for commands the guide's blocks call; shellcheck cannot see that.
# shellcheck disable=SC2317
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GUIDE=$ROOT/docs/deploy.md
BUILD=1
case ${1:-} in
  --no-build) BUILD= ;;
  "") ;;
  *)
    echo "usage: scripts/check-deploy-guide.sh [--no-build]" >&2
    exit 2
    ;;
esac
export PATH="$HOME/.cargo/bin:$PATH"
BIN_DIR=${EDGEAUTH_BIN_DIR:-$ROOT/target/release}
REDIS_SERVER=${EDGEAUTH_REDIS_SERVER:-redis-server}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/edgeauth-guide.XXXXXX")
STATE=$WORK/state
# What a real host already has: /root, /usr/local/bin (on PATH), /etc/systemd/system.
mkdir -p "$STATE" "$WORK/root" "$WORK/bin" "$WORK/etc/systemd/system" "$WORK/build" "$WORK/host" \
  "$WORK/edge-secrets"
export WORK STATE BUILD PATH="$WORK/bin:$PATH"

say() { printf 'guide: %s\n' "$*"; }
fail() {
  printf 'guide: FAILED: %s\n' "$*" >&2
  exit 1
}
for tool in jq curl "$REDIS_SERVER"; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/setup.sh installs it)"
done

# ---------------------------------------------------------------- the guide's blocks
# The code block after `<!-- guide-check: NAME -->`, as written (a list item's indent removed).
block() {
  local code
  code=$(awk -v marker="<!-- guide-check: $1 -->" '
    index($0, marker) { want = 1; next }
    want && /^[[:space:]]*```/ {
      if (inside) exit
      inside = 1; match($0, /^[[:space:]]*/); indent = RLENGTH; next
    }
    inside { print substr($0, indent + 1) }
  ' "$GUIDE")
  [[ -n $code ]] || fail "docs/deploy.md has no block marked guide-check: $1"
  printf '%s\n' "$code"
}

# The block with the local stand-ins for paths and ports; `cmd  # {json}` lines become checks.
localize() {
  sed -e "s#/etc/edgeauth#$WORK/etc/edgeauth#g" \
    -e "s#/etc/systemd/system/#$WORK/etc/systemd/system/#g" \
    -e "s#/usr/local/bin/#$WORK/bin/#g" \
    -e "s#cd /root#cd $WORK/root#g" \
    -e "s#/tmp/edgeauth-dry-run#$WORK/dry-run#g" \
    -e "s#\./target/release/#$BIN_DIR/#g" \
    -e "s#127\.0\.0\.1:9788#\$(cat $STATE/admin)#g" \
    -e "s#127\.0\.0\.1:8788#\$(cat $STATE/listen)#g" \
    -e "s#^\(.*[^ ]\)  *\# \({.*}\)\$#expect_output '\2' \1#"
}

# run_block NAME [DIR]: runs the block in DIR (default: the scratch directory), in a subshell.
run_block() {
  local code status
  code=$(block "$1" | localize)
  say "step $1"
  printf '%s\n' "$code" | sed 's/^/    | /'
  # Not `( … ) || fail`: bash ignores -e inside anything on the left of ||.
  set +e
  (
    set -euo pipefail
    cd "${2:-$WORK}"
    eval "$code"
  )
  status=$?
  set -e
  ((status == 0)) || fail "step $1 failed (scratch directory kept: $WORK)"
}

expect_output() {
  local want=$1 got
  shift
  got=$("$@")
  [[ $got == "$want" ]] || fail "\`$*\` printed $got; the guide says $want"
  printf '%s\n' "$got"
}

# ---------------------------------------------------------------- stand-ins
useradd() { say "stand-in: skipped useradd $* (needs root)"; }
install() {
  local args=()
  while (($#)); do
    case $1 in
      -o | -g) shift 2 ;;
      *) args+=("$1") && shift ;;
    esac
  done
  command install "${args[@]}"
}
# The check command runs in the foreground: exec, so its pid is the origin's.
runuser() {
  while [[ $1 != -- ]]; do shift; done
  shift
  exec "$@"
}
make() {
  if [[ -n $BUILD ]]; then command make "$@"; else say "stand-in: skipped make $* (--no-build)"; fi
}
cargo() {
  if [[ -n $BUILD ]]; then command cargo "$@"; else say "stand-in: skipped cargo $* (--no-build)"; fi
}
if ! command -v openssl >/dev/null; then
  # The guide's own alternative (step 2).
  openssl() {
    [[ $* == "rand -base64 32" ]] || fail "stand-in openssl only does rand -base64 32"
    head -c 32 /dev/urandom | base64
  }
fi
npx() {
  if [[ ${1:-} == wrangler && ${2:-} == secret && ${3:-} == put ]]; then
    local value
    value=$(cat)
    [[ -n $value ]] || fail "wrangler secret put $4 would store an empty value"
    printf '%s' "$value" >"$WORK/edge-secrets/$4"
    say "stand-in: wrangler secret put $4 (${#value} characters)"
  elif [[ ${1:-} == wrangler && (${2:-} == login || (${2:-} == deploy && " $* " != *" --dry-run "*)) ]]; then
    say "stand-in: skipped npx $* (needs a Cloudflare account)"
  else
    WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false command npx "$@"
  fi
}
journalctl() { cat "$WORK/journal.log"; }
systemd-analyze() {
  if ! command -v systemd-analyze >/dev/null; then
    say "stand-in: skipped systemd-analyze (not installed)"
    return
  fi
  # `security` needs a running systemd; `verify` checks the unit file itself (unknown or
  # misspelt settings, a missing ExecStart binary).
  local unit=$WORK/verify/edgeauth-origin.service report
  mkdir -p "$WORK/verify"
  localize <"$WORK/etc/systemd/system/edgeauth-origin.service" >"$unit"
  report=$(command systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $report"
  ! grep -F "$unit" <<<"$report" || fail "systemd-analyze verify found problems in the unit"
  say "stand-in: systemd-analyze verify passed (security needs a running systemd)"
}
systemctl() {
  case $1 in
    daemon-reload) ;;
    enable) start_unit ;;
    restart)
      stop_origin
      start_unit
      ;;
    *) fail "stand-in systemctl does not know $*" ;;
  esac
}

# ---------------------------------------------------------------- processes
PIDS=()
cleanup() {
  stop_origin
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# wait_listening LOG FROM_LINE PID: until the origin started as PID logs both listeners.
wait_listening() {
  local log=$1 from=$2 pid=$3 deadline=$((SECONDS + 30)) admin listen
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || {
      tail -n 20 "$log" >&2
      fail "the origin exited during start-up"
    }
    # Every line must be JSON: a plain-text line fails jq and the check.
    admin=$(tail -n "+$((from + 1))" "$log" | jq -r 'select(.fields.admin_listen) | .fields.admin_listen') ||
      fail "the origin's output is not JSON lines: $(tail -n 5 "$log")"
    listen=$(tail -n "+$((from + 1))" "$log" | jq -r 'select(.fields.listen) | .fields.listen')
    if [[ -n $admin && -n $listen ]]; then
      printf '%s' "$admin" >"$STATE/admin"
      printf '%s' "$listen" >"$STATE/listen"
      return
    fi
    sleep 0.2
  done
  fail "the origin did not log its listeners within 30 s: $(tail -n 5 "$log")"
}

# The unit as systemd would run it: ExecStart in WorkingDirectory, settings from
# EnvironmentFile only.
start_unit() {
  local unit=$WORK/etc/systemd/system/edgeauth-origin.service exec_start workdir env_file from
  exec_start=$(sed -n 's/^ExecStart=//p' "$unit" | localize)
  workdir=$(sed -n 's/^WorkingDirectory=//p' "$unit")
  env_file=$(sed -n 's/^EnvironmentFile=//p' "$unit" | localize)
  [[ -n $exec_start && -n $workdir && -n $env_file ]] || fail "the unit lacks ExecStart, WorkingDirectory or EnvironmentFile"
  touch "$WORK/journal.log"
  from=$(wc -l <"$WORK/journal.log")
  # shellcheck disable=SC2016 # expanded by the inner sh
  env -i PATH=/usr/bin:/bin sh -c 'cd "$1" && set -a && . "$2" && set +a && exec $3' \
    sh "$workdir" "$env_file" "$exec_start" >>"$WORK/journal.log" 2>&1 &
  printf '%s' "$!" >"$STATE/origin.pid"
  wait_listening "$WORK/journal.log" "$from" "$!"
}

stop_origin() {
  local pid
  for pid in "$STATE"/*.pid; do
    [[ -e $pid ]] || continue
    kill -TERM "$(cat "$pid")" 2>/dev/null || true
    while kill -0 "$(cat "$pid")" 2>/dev/null; do sleep 0.1; done
    rm -f "$pid"
  done
}

# The guide's foreground check (step 5) in the background, until its listeners are up. The
# block's runuser execs, so the background job's pid is the origin's.
start_check() {
  local log=$WORK/check.log from code
  code=$(block origin-check | localize)
  say "step origin-check (in the background; its output: $log)"
  printf '%s\n' "$code" | sed 's/^/    | /'
  touch "$log"
  from=$(wc -l <"$log")
  (cd "$WORK/host" && eval "$code") >>"$log" 2>&1 &
  printf '%s' "$!" >"$STATE/check.pid"
  wait_listening "$log" "$from" "$!"
}

# Reads KEY's value from a dotenv-style file.
value_of() { sed -n "s/^$1=//p" "$2" | tail -n 1; }

# The reader fills in /etc/edgeauth/origin.env (step 5).
fill_in() {
  local file=$WORK/etc/edgeauth/origin.env
  grep -q "^$1=" "$file" || fail "deploy/origin.env.example has no $1 line to fill in"
  NAME=$1 VALUE=$2 awk '{ if (index($0, ENVIRON["NAME"] "=") == 1) print ENVIRON["NAME"] "=" ENVIRON["VALUE"]; else print }' \
    "$file" >"$file.tmp" && mv "$file.tmp" "$file"
}

kids() { "$WORK/bin/edgeauth-origin" --no-env-file keys jwks --file "$WORK/etc/edgeauth/origin.env" | jq -r '[.keys[].kid] | join(" ")'; }

# ---------------------------------------------------------------- 1–2: build, secrets
if [[ -n $BUILD ]]; then
  run_block build "$ROOT"
  say "building the bridge (the local stand-in for Upstash)"
  command cargo build --release -q -p edgeauth-bridge --manifest-path "$ROOT/Cargo.toml"
fi
for bin in edgeauth-origin edgeauth-bridge; do
  [[ -x $BIN_DIR/$bin ]] || fail "$BIN_DIR/$bin is missing (build it, or run without --no-build)"
done
run_block secrets "$WORK/build"
[[ $(grep -c '^EDGEAUTH_' "$WORK/build/signing.env") == 2 ]] || fail "signing.env should hold two lines"

# ---------------------------------------------------------------- 3: Upstash (local stand-in)
"$REDIS_SERVER" --port 0 --unixsocket "$WORK/redis.sock" --unixsocketperm 700 --dir "$WORK" \
  --save "" --appendonly no >"$WORK/redis.log" 2>&1 &
PIDS+=("$!")
deadline=$((SECONDS + 15))
until [[ -S $WORK/redis.sock ]]; do
  ((SECONDS < deadline)) || fail "redis-server did not start: $(tail -n 5 "$WORK/redis.log")"
  sleep 0.1
done
UPSTASH_TOKEN=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
BRIDGE_LISTEN=127.0.0.1:0 BRIDGE_REDIS_URL="redis+unix://$WORK/redis.sock" UPSTASH_REDIS_REST_TOKEN=$UPSTASH_TOKEN \
  "$BIN_DIR/edgeauth-bridge" >"$WORK/bridge.out" 2>"$WORK/bridge.log" &
PIDS+=("$!")
deadline=$((SECONDS + 15))
until UPSTASH_URL=$(grep -o 'http://[0-9.:]*' "$WORK/bridge.out"); do
  ((SECONDS < deadline)) || fail "the bridge did not start: $(tail -n 5 "$WORK/bridge.log")"
  sleep 0.1
done

# ---------------------------------------------------------------- 4: the edge
run_block edge-build "$ROOT"
[[ -n $(ls -A "$WORK/dry-run" 2>/dev/null) ]] || fail "wrangler deploy --dry-run wrote nothing to its --outdir"
# The answers to the block's two prompts, as a reader types them.
printf '%s\n%s\n' "$UPSTASH_URL" "$UPSTASH_TOKEN" | run_block edge-secrets "$WORK/build"
for name in EDGEAUTH_EDGE_SECRET UPSTASH_REDIS_REST_URL UPSTASH_REDIS_REST_TOKEN EDGEAUTH_JWKS; do
  [[ -s $WORK/edge-secrets/$name ]] || fail "the guide never stores the edge secret $name"
done
[[ $(cat "$WORK/edge-secrets/UPSTASH_REDIS_REST_URL") == "$UPSTASH_URL" ]] || fail "UPSTASH_REDIS_REST_URL stored wrong"
[[ $(cat "$WORK/edge-secrets/UPSTASH_REDIS_REST_TOKEN") == "$UPSTASH_TOKEN" ]] || fail "UPSTASH_REDIS_REST_TOKEN stored wrong"
[[ $(cat "$WORK/edge-secrets/EDGEAUTH_EDGE_SECRET") == "$(tr -d '\n' <"$WORK/build/edge-secret")" ]] ||
  fail "EDGEAUTH_EDGE_SECRET stored wrong"
jq -e '.keys | length == 1 and all(has("d") | not)' "$WORK/edge-secrets/EDGEAUTH_JWKS" >/dev/null ||
  fail "EDGEAUTH_JWKS stored for the edge is not the public set"

# ---------------------------------------------------------------- 5: the origin
cp "$BIN_DIR/edgeauth-origin" "$WORK/host/edgeauth-origin"
ln -s "$ROOT/deploy" "$WORK/host/deploy"
run_block origin-install "$WORK/host"
fill_in UPSTASH_REDIS_REST_URL "$UPSTASH_URL"
fill_in UPSTASH_REDIS_REST_TOKEN "$UPSTASH_TOKEN"
fill_in EDGEAUTH_SIGNING_KEYS "$(value_of EDGEAUTH_SIGNING_KEYS "$WORK/build/signing.env")"
fill_in EDGEAUTH_EDGE_SECRET "$(cat "$WORK/build/edge-secret")"
fill_in EDGEAUTH_REFRESH_SECRET "$(cat "$WORK/build/refresh-secret")"
fill_in EDGEAUTH_MFA_KEY "$(cat "$WORK/build/mfa-key")"
fill_in EDGEAUTH_LISTEN 127.0.0.1:0
fill_in EDGEAUTH_ADMIN_LISTEN 127.0.0.1:0
! grep -n REPLACE_ME "$WORK/etc/edgeauth/origin.env" || fail "placeholders left in origin.env"

start_check
run_block readyz
stop_origin
# A token Upstash refuses: the origin still starts; /readyz says so.
cp "$WORK/etc/edgeauth/origin.env" "$WORK/origin.env.good"
fill_in UPSTASH_REDIS_REST_TOKEN wrong-token
start_check
run_block readyz-unavailable
grep -q 'readiness: redis unreachable' "$WORK/check.log" || fail "the log does not say why the origin is not ready"
stop_origin
cp "$WORK/origin.env.good" "$WORK/etc/edgeauth/origin.env"
run_block systemd "$WORK/host"

# ---------------------------------------------------------------- 7: keys
run_block rotate
read -r signer OLD <<<"$(kids)"
[[ -n $OLD ]] || fail "after keys rotate the origin should publish two keys, got: $(kids)"
export OLD
run_block retire
[[ $(kids) == "$signer" ]] || fail "after retiring $OLD the origin should publish only $signer, got: $(kids)"
[[ $(jq -r '[.keys[].kid] | join(" ")' "$WORK/edge-secrets/EDGEAUTH_JWKS") == "$signer" ]] ||
  fail "the edge was not given the set without $OLD"

BAD=$signer # the worst case: the signing key itself is compromised
export BAD
run_block revoke
[[ -n $(kids) && " $(kids) " != *" $BAD "* ]] || fail "$BAD is still published: $(kids)"
[[ $(jq -r '[.keys[].kid] | join(" ")' "$WORK/edge-secrets/EDGEAUTH_JWKS") == "$(kids)" ]] ||
  fail "the edge was not given the set without $BAD"
grep -q "$BAD" "$WORK/root/revoked.env" || fail "revoked.env should still hold $BAD for keys check-edge"
curl -fsS "$(cat "$STATE/admin")/readyz" >/dev/null || fail "the origin is not ready after the revocation"

# ---------------------------------------------------------------- 9: observe
run_block audit
lines=$(wc -l <"$WORK/journal.log")
parsed=$(jq -c . <"$WORK/journal.log" | wc -l)
[[ $lines -gt 0 && $lines == "$parsed" ]] || fail "the journal has $lines lines, $parsed of them JSON"

say "every local step of docs/deploy.md ran as written"
# Before the scratch folder goes: the origin's pid file is in it (the exit trap would find none).
stop_origin
rm -rf "$WORK"
