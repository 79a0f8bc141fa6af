#!/usr/bin/env bash
# `make dev`: the whole edgeauth stack on 127.0.0.1, in the foreground.
#
#   redis-server :6380 (data in .dev/redis, AOF on, fsync before every acknowledgement)
#   maildev :1025 SMTP, :1080 web inbox (every mail the origin sends lands here)
#   edgeauth-bridge :8079 (Upstash REST → redis)
#   edgeauth-origin serve :8788 (admin listener: metrics, healthz, readyz on :9788)
#   edgeauth-example-notes :8790 (the example app behind the edge at /notes/)
#   wrangler dev :8787 (the edge worker in workerd)
#
# First run generates throwaway dev secrets into .env (origin) and .dev.vars
# (edge); existing files are never touched. The origin gets the bridge's full
# token, the edge a read-only one (it only sends HMGET and PING). Ctrl-C or
# SIGTERM stops everything.
#
# Usage: scripts/dev.sh [--no-build]   (--no-build: reuse the last build)
#
# Each setup step prints how long it took, and a table of them follows the service list once
# the edge answers /healthz (docs/development.md has the figures of a first and a warm run).

# Functions run from traps and wait_for look unreachable to shellcheck.
# shellcheck disable=SC2317
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
# shellcheck source=scripts/lib/timing.sh
source "$ROOT/scripts/lib/timing.sh"
DEV_START=$(timing_now)

REDIS_PORT=6380
BRIDGE_PORT=8079
ORIGIN_PORT=8788
ADMIN_PORT=9788
EDGE_PORT=8787
NOTES_PORT=8790
MAIL_SMTP_PORT=1025
MAIL_WEB_PORT=1080
HOST=127.0.0.1
DEV_DIR=$ROOT/.dev
LOG_DIR=$DEV_DIR/logs
REDIS_DIR=$DEV_DIR/redis
BIN_DIR=$ROOT/target/debug

BUILD=1
case ${1:-} in
  --no-build) BUILD= ;;
  "") ;;
  *)
    echo "usage: scripts/dev.sh [--no-build]" >&2
    exit 2
    ;;
esac

say() { printf 'dev: %s\n' "$*"; }
die() {
  printf 'dev: %s\n' "$*" >&2
  exit 1
}

port_taken() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

check_ports_free() {
  local port busy=0
  for port in "$REDIS_PORT" "$BRIDGE_PORT" "$ORIGIN_PORT" "$ADMIN_PORT" "$EDGE_PORT" "$NOTES_PORT" "$MAIL_SMTP_PORT" "$MAIL_WEB_PORT"; do
    if port_taken "$port"; then
      printf 'dev: port %s on %s is already in use' "$port" "$HOST" >&2
      local owner=
      if command -v ss >/dev/null; then
        owner=$(ss -ltnpH "sport = :$port" 2>/dev/null | grep -o 'users:.*' | head -n1 || true)
      fi
      [[ -z $owner ]] || printf ' by %s' "$owner" >&2
      printf '\n' >&2
      busy=1
    fi
  done
  ((busy == 0)) || die "stop whatever uses those ports (an earlier 'make dev'?) and try again"
}

# ---------------------------------------------------------------- prerequisites and build
check_ports_free
mkdir -p "$LOG_DIR"
# This run's step timings (scripts/lib/timing.sh); the table is printed once the stack is up.
export EDGEAUTH_TIMINGS=$DEV_DIR/timings.tsv
: >"$EDGEAUTH_TIMINGS"

# timed <step> <command...>: runs a step, prints and records how long it took.
timed() {
  local name=$1 start seconds
  shift
  start=$(timing_now)
  "$@"
  seconds=$(timing_since "$start")
  timing_record "$name" "$seconds"
  say "$name: $seconds s"
}

build_worker() {
  "$ROOT/scripts/build-worker.sh" >"$LOG_DIR/build-worker.log" 2>&1 || {
    # A failed native build also fails the bundler's build: show the first cause.
    if [[ -n $NATIVE_PID ]] && ! kill -0 "$NATIVE_PID" 2>/dev/null && ! wait "$NATIVE_PID"; then
      NATIVE_PID=
      tail -n 30 "$LOG_DIR/build-native.log" >&2
      die "cargo build failed; full log: $LOG_DIR/build-native.log"
    fi
    tail -n 30 "$LOG_DIR/build-worker.log" >&2
    die "building the worker failed; full log: $LOG_DIR/build-worker.log"
  }
}

# The native binaries build in the background while setup runs and the worker builds: on two
# cores the two cargo builds fill each other's single-threaded stretches (linking the origin;
# the worker's LTO and wasm-opt). Only what make dev runs (not the benchmark or the test
# harness), plus the worker's bundler, in the debug profile the e2e tests use too. Its own
# process group, so an interrupted make dev stops it.
NATIVE_PID=
stop_native_build() {
  [[ -z $NATIVE_PID ]] || kill -TERM -- "-$NATIVE_PID" 2>/dev/null || true
}
if [[ -n $BUILD ]]; then
  say "building the bridge, the origin, the notes app and the worker bundler in the background (log: .dev/logs/build-native.log)"
  # build-worker.sh builds its bundler with the same arguments, so it waits for this build.
  export EDGEAUTH_NATIVE_BUILD_ARGS="-p edgeauth-bridge -p edgeauth-origin -p edgeauth-example-notes -p edgeauth-worker-bundle"
  # shellcheck disable=SC2086 # a list of arguments
  setsid "$ROOT/scripts/timed.sh" "cargo build (bridge, origin, notes app, worker bundler)" \
    cargo build $EDGEAUTH_NATIVE_BUILD_ARGS </dev/null >"$LOG_DIR/build-native.log" 2>&1 &
  NATIVE_PID=$!
  trap stop_native_build EXIT
fi

# Only what running the stack needs: no Chromium, schemathesis or load generators.
timed "setup (checks and installs)" "$ROOT/scripts/setup.sh"
NODE_BIN_DIR=$(cat "$DEV_DIR/node-bin-dir")

if [[ -n $BUILD ]]; then
  say "building the worker (scripts/build-worker.sh; log: .dev/logs/build-worker.log)"
  # Its bundler step waits for the native build (cargo's lock on target/debug).
  timed "build the worker (wasm32 release + bundle)" build_worker
  say "$(tail -n1 "$LOG_DIR/build-worker.log")"
  if ! wait "$NATIVE_PID"; then
    NATIVE_PID=
    tail -n 30 "$LOG_DIR/build-native.log" >&2
    die "cargo build failed; full log: $LOG_DIR/build-native.log"
  fi
  NATIVE_PID=
  say "$(tail -n1 "$LOG_DIR/build-native.log" | sed 's/^==> //')"
fi
for bin in edgeauth-bridge edgeauth-origin edgeauth-example-notes; do
  [[ -x $BIN_DIR/$bin ]] || die "$BIN_DIR/$bin is missing; run without --no-build"
done
[[ -f $ROOT/worker/build/index.js ]] || die "worker/build/index.js is missing; run without --no-build"
[[ -f $ROOT/wrangler.toml ]] || die "wrangler.toml is missing at the repository root"

# ---------------------------------------------------------------- dev secrets
random_b64url() { head -c "$1" /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '='; }

# Reads KEY from a dotenv file, dropping surrounding quotes.
dotenv_get() {
  local value
  value=$(sed -n "s/^$2=//p" "$1" | tail -n1)
  value=${value#[\'\"]}
  value=${value%[\'\"]}
  printf '%s' "$value"
}

write_dev_secrets() {
  local keys signing_keys jwks token readonly_token edge_secret refresh_secret mfa_key assertion_keys
  keys=$("$BIN_DIR/edgeauth-origin" keys generate --env) || die "edgeauth-origin keys generate --env failed"
  signing_keys=$(sed -n 's/^EDGEAUTH_SIGNING_KEYS=//p' <<<"$keys")
  jwks=$(sed -n 's/^EDGEAUTH_JWKS=//p' <<<"$keys")
  # --env prints dotenv-quoted values; they are re-quoted below.
  signing_keys=${signing_keys#\'} signing_keys=${signing_keys%\'}
  jwks=${jwks#\'} jwks=${jwks%\'}
  [[ -n $signing_keys && -n $jwks ]] ||
    die "unexpected output from 'edgeauth-origin keys generate --env' (want EDGEAUTH_SIGNING_KEYS= and EDGEAUTH_JWKS= lines)"
  [[ $signing_keys != *"'"* && $jwks != *"'"* ]] || die "generated keys contain a single quote; cannot quote them for dotenv"
  assertion_keys=$("$BIN_DIR/edgeauth-origin" assertion-keys generate) ||
    die "edgeauth-origin assertion-keys generate failed"
  token=$(random_b64url 32)
  readonly_token=$(random_b64url 32)
  edge_secret=$(random_b64url 32)
  refresh_secret=$(random_b64url 32)
  mfa_key=$(random_b64url 32)

  # JSON values go in single quotes: both dotenvy (origin) and wrangler's
  # dotenv parser then keep the inner double quotes verbatim.
  (
    umask 077
    cat >"$ROOT/.env" <<EOF
# Origin configuration for local development, generated by scripts/dev.sh.
# Throwaway values: never reuse them in production. Delete this file and
# .dev.vars together to get fresh ones.
UPSTASH_REDIS_REST_URL=http://$HOST:$BRIDGE_PORT
UPSTASH_REDIS_REST_TOKEN=$token
EDGEAUTH_SIGNING_KEYS='$signing_keys'
EDGEAUTH_EDGE_SECRET=$edge_secret
EDGEAUTH_REFRESH_SECRET=$refresh_secret
EDGEAUTH_MFA_KEY=$mfa_key
EOF
    cat >"$ROOT/.dev.vars" <<EOF
# Edge (wrangler dev) secrets for local development, generated by scripts/dev.sh.
# Throwaway values: never reuse them in production. Must match .env, except the
# token: the edge gets the bridge's read-only token (HMGET and PING only).
UPSTASH_REDIS_REST_URL=http://$HOST:$BRIDGE_PORT
UPSTASH_REDIS_REST_TOKEN=$readonly_token
EDGEAUTH_EDGE_SECRET=$edge_secret
EDGEAUTH_JWKS='$jwks'
EDGEAUTH_ASSERTION_KEYS='$assertion_keys'
EOF
  )
  say "generated dev secrets and a signing key into .env and .dev.vars"
}

if [[ ! -e .env && ! -e .dev.vars ]]; then
  write_dev_secrets
elif [[ ! -e .env || ! -e .dev.vars ]]; then
  present=.env missing=.dev.vars
  [[ -e .env ]] || { present=.dev.vars missing=.env; }
  die "$present exists but $missing does not; they share a token, a secret and keys, so one cannot be generated without the other. Restore $missing, or move $present away to get a fresh pair."
else
  say "using existing .env and .dev.vars"
fi
# Files from before the gateway lack the assertion keys: add them (nothing else changes).
if ! grep -q '^EDGEAUTH_ASSERTION_KEYS=' .dev.vars; then
  assertion_keys=$("$BIN_DIR/edgeauth-origin" assertion-keys generate) ||
    die "edgeauth-origin assertion-keys generate failed"
  printf "EDGEAUTH_ASSERTION_KEYS='%s'\n" "$assertion_keys" >>.dev.vars
  say "added an assertion signing key (EDGEAUTH_ASSERTION_KEYS) to .dev.vars"
fi
# Files from before second factors lack the TOTP encryption key: add one (origin only).
if ! grep -q '^EDGEAUTH_MFA_KEY=' .env; then
  (umask 077 && printf 'EDGEAUTH_MFA_KEY=%s\n' "$(random_b64url 32)" >>.env)
  say "added a TOTP encryption key (EDGEAUTH_MFA_KEY) to .env"
fi

BRIDGE_TOKEN=$(dotenv_get .env UPSTASH_REDIS_REST_TOKEN)
[[ -n $BRIDGE_TOKEN ]] || die ".env has no UPSTASH_REDIS_REST_TOKEN"
# The edge's token is the bridge's read-only token, unless the files predate it.
BRIDGE_READONLY_TOKEN=$(dotenv_get .dev.vars UPSTASH_REDIS_REST_TOKEN)
[[ -n $BRIDGE_READONLY_TOKEN ]] || die ".dev.vars has no UPSTASH_REDIS_REST_TOKEN"
if [[ $BRIDGE_READONLY_TOKEN == "$BRIDGE_TOKEN" ]]; then
  say "warning: .dev.vars gives the edge the bridge's full token (files from an older make dev); delete .env and .dev.vars to get a read-only edge token"
  BRIDGE_READONLY_TOKEN=
fi
for file in .env .dev.vars; do
  url=$(dotenv_get "$file" UPSTASH_REDIS_REST_URL)
  [[ $url == "http://$HOST:$BRIDGE_PORT" ]] ||
    say "warning: $file has UPSTASH_REDIS_REST_URL=$url, not the local bridge http://$HOST:$BRIDGE_PORT"
done

# ---------------------------------------------------------------- process management
declare -a PIDS=() NAMES=()
STOPPING=

# start <name> <command...>: runs in its own session (= process group) so a
# stop reaches every child it spawns (wrangler runs workerd and esbuild).
start() {
  local name=$1
  shift
  setsid "$@" </dev/null >"$LOG_DIR/$name.log" 2>&1 &
  PIDS+=("$!")
  NAMES+=("$name")
}

# group_alive <pgid>: does any non-zombie process of that process group remain?
# Reads /proc directly because minimal images lack ps/pgrep.
group_alive() {
  local stat line state pgrp
  for stat in /proc/[0-9]*/stat; do
    { read -r line <"$stat"; } 2>/dev/null || continue # the process may be gone
    read -r state _ pgrp _ <<<"${line##*) }"
    [[ $pgrp == "$1" && $state != Z ]] && return 0
  done
  return 1
}

stop_all() {
  [[ -z $STOPPING ]] || return 0
  STOPPING=1
  trap '' INT TERM # a second Ctrl-C must not abandon half-stopped services
  ((${#PIDS[@]} > 0)) || return 0
  say "stopping…"
  local i pid deadline
  # Edge first, redis last so it can fsync its AOF after everyone else is gone.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[$i]}
    kill -TERM -- "-$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while group_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    if group_alive "$pid"; then
      say "${NAMES[$i]} did not stop within 10 s; killing it"
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  say "stopped"
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT

# wait_for <name> <seconds> <check command...>
wait_for() {
  local name=$1 seconds=$2 deadline
  shift 2
  deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    local i
    for i in "${!NAMES[@]}"; do
      if [[ ${NAMES[$i]} == "$name" ]] && ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
        tail -n 30 "$LOG_DIR/$name.log" >&2
        die "$name exited during startup; full log: $LOG_DIR/$name.log"
      fi
    done
    if ((SECONDS >= deadline)); then
      tail -n 30 "$LOG_DIR/$name.log" >&2
      die "$name was not ready after $seconds s; full log: $LOG_DIR/$name.log"
    fi
    sleep 0.2
  done
}

redis_ready() { [[ $(redis-cli -h "$HOST" -p "$REDIS_PORT" ping) == PONG ]]; }
http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }

# ---------------------------------------------------------------- start the stack
check_ports_free # again: the build may have taken a while
mkdir -p "$REDIS_DIR" "$LOG_DIR"
STACK_START=$(timing_now)

# appendfsync always: a write is on disk before Redis acknowledges it, so a crash loses no
# logout or rotation (docs/security.md, "Durability"; the e2e stack runs the same).
start redis redis-server --port "$REDIS_PORT" --bind "$HOST" --dir "$REDIS_DIR" \
  --appendonly yes --appendfsync always --maxmemory-policy noeviction --save "" \
  --daemonize no --logfile ""
wait_for redis 15 redis_ready

# ---- maildev: a local SMTP server with a web inbox (npm devDependency), so every mail the
# origin sends (verification, password reset, email change, notices) can be read in a browser.
# The origin gets it as EDGEAUTH_SMTP_URL unless .env names another SMTP server.
start maildev env PATH="$NODE_BIN_DIR:$PATH" "$ROOT/node_modules/.bin/maildev" \
  --smtp "$MAIL_SMTP_PORT" --web "$MAIL_WEB_PORT" --ip "$HOST" --web-ip "$HOST"
wait_for maildev 30 http_ok "http://$HOST:$MAIL_WEB_PORT/api/healthz"
declare -a MAIL_ENV=()
if [[ -z $(dotenv_get .env EDGEAUTH_SMTP_URL) ]]; then
  MAIL_ENV=(EDGEAUTH_SMTP_URL="smtp://$HOST:$MAIL_SMTP_PORT")
  [[ -n $(dotenv_get .env EDGEAUTH_MAIL_FROM) ]] || MAIL_ENV+=(EDGEAUTH_MAIL_FROM="edgeauth dev <no-reply@edgeauth.localhost>")
  [[ -n $(dotenv_get .env EDGEAUTH_PUBLIC_URL) ]] || MAIL_ENV+=(EDGEAUTH_PUBLIC_URL="http://$HOST:$EDGE_PORT")
fi

start bridge env BRIDGE_LISTEN="$HOST:$BRIDGE_PORT" BRIDGE_REDIS_URL="redis://$HOST:$REDIS_PORT" \
  UPSTASH_REDIS_REST_TOKEN="$BRIDGE_TOKEN" ${BRIDGE_READONLY_TOKEN:+BRIDGE_READONLY_TOKEN="$BRIDGE_READONLY_TOKEN"} \
  "$BIN_DIR/edgeauth-bridge"
wait_for bridge 20 http_ok "http://$HOST:$BRIDGE_PORT/healthz"

# Passkeys need a domain as WebAuthn relying-party id (browsers refuse an IP address): they
# work on http://localhost:$EDGE_PORT (docs/configuration.md, "Passkeys").
[[ -n $(dotenv_get .env EDGEAUTH_WEBAUTHN_RP_ID) ]] || MAIL_ENV+=(EDGEAUTH_WEBAUTHN_RP_ID=localhost)
[[ -n $(dotenv_get .env EDGEAUTH_WEBAUTHN_ORIGINS) ]] || MAIL_ENV+=(EDGEAUTH_WEBAUTHN_ORIGINS="http://localhost:$EDGE_PORT")
start origin env EDGEAUTH_LISTEN="$HOST:$ORIGIN_PORT" EDGEAUTH_ADMIN_LISTEN="$HOST:$ADMIN_PORT" \
  ${MAIL_ENV[@]+"${MAIL_ENV[@]}"} "$BIN_DIR/edgeauth-origin" serve
wait_for origin 20 port_taken "$ORIGIN_PORT"

# The example app: reachable on loopback only, verifies the edge's assertions.
start notes env NOTES_ADDR="$HOST:$NOTES_PORT" NOTES_ISSUER="http://$HOST:$EDGE_PORT" \
  "$BIN_DIR/edgeauth-example-notes"
wait_for notes 20 port_taken "$NOTES_PORT"

start edge env PATH="$NODE_BIN_DIR:$PATH" CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_METRICS=false \
  "$ROOT/node_modules/.bin/wrangler" dev --ip "$HOST" --port "$EDGE_PORT" --show-interactive-dev-session=false
wait_for edge 60 http_ok "http://$HOST:$EDGE_PORT/healthz"
timing_record "start redis, maildev, bridge, origin, notes, wrangler dev until /healthz" "$(timing_since "$STACK_START")"

cat <<EOF

edgeauth dev stack is up. Ctrl-C stops everything.

  service  listens on                  log
  edge     http://$HOST:$EDGE_PORT       .dev/logs/edge.log     (wrangler dev / workerd)
  notes    http://$HOST:$NOTES_PORT       .dev/logs/notes.log    (example app; use it through the edge: /notes/)
  origin   http://$HOST:$ORIGIN_PORT       .dev/logs/origin.log   (reached only through the edge)
  admin    http://$HOST:$ADMIN_PORT       (origin's /metrics, /healthz, /readyz; not through the edge)
  bridge   http://$HOST:$BRIDGE_PORT       .dev/logs/bridge.log   (Upstash REST → redis)
  redis    redis://$HOST:$REDIS_PORT      .dev/logs/redis.log    (data: .dev/redis)
  maildev  http://$HOST:$MAIL_WEB_PORT       .dev/logs/maildev.log  (web inbox of every mail sent; SMTP on $HOST:$MAIL_SMTP_PORT)

  try:     curl http://$HOST:$EDGE_PORT/healthz
           curl http://$HOST:$EDGE_PORT/notes/public/hello
  browser: http://$HOST:$EDGE_PORT/ (the demo page: register, sign in, sessions)
  passkeys: http://localhost:$EDGE_PORT/ (WebAuthn needs a domain name, not an IP address)
  secrets: .env (origin), .dev.vars (edge); worker build log: .dev/logs/build-worker.log
EOF
timing_table "Where the time went (make dev until the edge answered /healthz):" "$(timing_since "$DEV_START")"
echo

# Run until Ctrl-C / SIGTERM, or until one of the services dies.
dead=
while [[ -z $dead ]]; do
  wait -n "${PIDS[@]}" || true
  for i in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      dead=${NAMES[$i]}
      break
    fi
  done
done
tail -n 20 "$LOG_DIR/$dead.log" >&2
die "$dead stopped unexpectedly; full log: $LOG_DIR/$dead.log"
