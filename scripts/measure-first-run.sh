#!/usr/bin/env bash
# Measures a newcomer's first `make dev`: a fresh clone, an empty cargo home (registry, git,
# installed tools: none; the rustup toolchain stays), no node_modules, no .dev, empty npm and pip
# caches. Reports the time until the edge answers /healthz, step by step (each line of make
# dev's output is time-stamped), then stops the stack and measures a warm restart (`make dev` again
# in the same clone). The figures go into docs/development.md.
#
# Usage: scripts/measure-first-run.sh [--rev <commit>] [--out <dir>] [--keep]
#   --rev   what to measure (default: HEAD of this repository), e.g. main
#   --out   where the logs go (default: a new directory under /tmp)
#   --keep  keep the clone and its cargo home (they take a few GB)
#
# make dev listens on fixed ports: this holds /work/locks/make-dev.lock (when /work/locks exists)
# for the whole run, and refuses to start while anything listens on them. System packages
# (redis-server, …) are whatever the machine has; apt is not part of the figure when they are
# already installed. Run it on a quiet machine: the figure is wall-clock time.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REV=HEAD
OUT=
KEEP=false
while (($# > 0)); do
  case $1 in
    --rev) REV=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=true; shift ;;
    *) echo "usage: scripts/measure-first-run.sh [--rev <commit>] [--out <dir>] [--keep]" >&2; exit 2 ;;
  esac
done

LOCK=/work/locks/make-dev.lock
if [[ -z ${MEASURE_FIRST_RUN_LOCKED:-} && -d $(dirname "$LOCK") ]]; then
  export MEASURE_FIRST_RUN_LOCKED=1
  exec flock "$LOCK" "$0" --rev "$REV" ${OUT:+--out "$OUT"} $($KEEP && echo --keep)
fi

say() { printf 'measure: %s\n' "$*"; }
die() {
  printf 'measure: %s\n' "$*" >&2
  exit 1
}

commit=$(git -C "$ROOT" rev-parse --verify "$REV^{commit}") || die "unknown revision $REV"
OUT=${OUT:-$(mktemp -d /tmp/first-run.XXXXXX)}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/first-run-work.XXXXXX)
CLONE=$WORK/edgeauth
FAKE_HOME=$WORK/home
RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}
REAL_CARGO_BIN=${CARGO_HOME:-$HOME/.cargo}/bin

for port in 6380 8079 8788 9788 8787 8790 1025 1080; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is in use; make dev needs it (stop the other make dev first)"
  fi
done

# A fresh user: its own HOME (empty npm and pip caches), an empty CARGO_HOME holding only the
# rustup proxies a rustup install puts there, the machine's toolchains (RUSTUP_HOME).
mkdir -p "$FAKE_HOME/.cargo/bin"
for tool in cargo rustc rustup rustdoc rustfmt cargo-fmt cargo-clippy clippy-driver; do
  [[ -e $REAL_CARGO_BIN/$tool ]] && ln -s "$(readlink -f "$REAL_CARGO_BIN/rustup")" "$FAKE_HOME/.cargo/bin/$tool"
done
clean_path=$(tr ':' '\n' <<<"$PATH" | grep -vx "$REAL_CARGO_BIN" | grep -v '/\.cargo/bin$' | paste -sd:)
run_env=(env -i
  HOME="$FAKE_HOME" CARGO_HOME="$FAKE_HOME/.cargo" RUSTUP_HOME="$RUSTUP_HOME"
  PATH="$FAKE_HOME/.cargo/bin:$clean_path" LANG=C.UTF-8 TERM=dumb USER="${USER:-root}")
# A pyenv python (shims on PATH) finds its versions through PYENV_ROOT, which defaults to ~/.pyenv.
[[ ! -d $HOME/.pyenv ]] || run_env+=(PYENV_ROOT="${PYENV_ROOT:-$HOME/.pyenv}")

say "clone of $commit → $CLONE (logs: $OUT)"
git clone --quiet --no-hardlinks "$ROOT" "$CLONE"
git -C "$CLONE" checkout --quiet "$commit"

# run_dev <name>: make dev in the clone until the edge answers /healthz; leaves it running.
# Writes $OUT/<name>.log (make dev's output, each line prefixed with seconds since the start).
DEV_PGID=
run_dev() {
  local name=$1 raw=$OUT/$1.raw.log start
  : >"$raw"
  start=$(date +%s.%N)
  # /usr/bin/time: the CPU time of the whole run (every child is waited for), a figure a busy
  # machine distorts less than the wall clock; the load average is sampled alongside.
  local timer=()
  [[ ! -x /usr/bin/time ]] || timer=(/usr/bin/time -o "$OUT/$name.cpu" -f "wall %e s, user %U s, sys %S s (until stopped)")
  (cd "$CLONE" && exec setsid "${run_env[@]}" "${timer[@]}" make dev </dev/null >"$raw" 2>&1) &
  DEV_PGID=$!
  while kill -0 "$DEV_PGID" 2>/dev/null; do
    printf '%s %s\n' "$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')" "$(cut -d' ' -f1-3 /proc/loadavg)"
    sleep 10
  done >"$OUT/$name.load" 2>/dev/null &
  # Time-stamp each line as it appears (tail follows the file; make dev writes it unbuffered).
  # tail ends with make dev (--pid).
  tail --pid="$DEV_PGID" -n +1 -F "$raw" 2>/dev/null | while IFS= read -r line; do
    printf '%8.1f  %s\n' "$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')" "$line"
  done >"$OUT/$name.log" &
  until curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:8787/healthz 2>/dev/null; do
    if ! kill -0 "$DEV_PGID" 2>/dev/null; then
      sleep 1
      tail -n 40 "$raw" >&2
      die "make dev ($name) exited before /healthz answered; log: $raw"
    fi
    sleep 0.25
  done
  local seconds
  seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  printf '%s\t%s\n' "$name" "$seconds" >>"$OUT/summary.tsv"
  say "$name: /healthz answered after $seconds s"
  sleep 2 # let make dev print its table
}

stop_dev() {
  [[ -n $DEV_PGID ]] || return 0
  # SIGTERM to scripts/dev.sh, which stops the stack and exits, and make and time with it (time
  # would die of a signal sent to the whole group without writing its figures).
  local dev_pids
  dev_pids=$(pgrep -g "$DEV_PGID" -f 'scripts/dev\.sh' || true)
  if [[ -n $dev_pids ]]; then
    # shellcheck disable=SC2086
    kill -TERM $dev_pids 2>/dev/null || true
  else
    kill -TERM -- "-$DEV_PGID" 2>/dev/null || true
  fi
  local deadline=$((SECONDS + 30))
  while kill -0 -- "-$DEV_PGID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
  kill -KILL -- "-$DEV_PGID" 2>/dev/null || true
  wait "$DEV_PGID" 2>/dev/null || true
  DEV_PGID=
  # The services run in sessions of their own; make dev stops them on SIGTERM. Wait for the ports.
  local port
  for port in 6380 8079 8788 9788 8787 8790 1025 1080; do
    deadline=$((SECONDS + 30))
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
  done
}

cleanup() {
  stop_dev
  if $KEEP; then
    say "kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

: >"$OUT/summary.tsv"
run_dev first
# The bundle, to compare builds of different commits or tools byte for byte.
(cd "$CLONE/worker/build" && sha256sum index.js index_bg.wasm) | tee "$OUT/bundle.sha256"
stop_dev
run_dev warm
stop_dev

say "summary ($commit):"
awk -F'\t' '{ printf "  %-8s %7.1f s to /healthz\n", $1, $2 }' "$OUT/summary.tsv"
for name in first warm; do
  [[ ! -f $OUT/$name.cpu ]] || say "$name: CPU $(tail -n1 "$OUT/$name.cpu")"
  [[ ! -s $OUT/$name.load ]] || say "$name: load average (1 min) $(awk '{ s += $2; n++; if ($2 > m) m = $2 } END { printf "mean %.1f, max %.1f", s / n, m }' "$OUT/$name.load")"
done
say "step-by-step: $OUT/first.log and $OUT/warm.log (seconds since make dev started, per line)"
