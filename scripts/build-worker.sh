#!/usr/bin/env bash
# Builds the edge worker (worker/ → worker/build/index.js + index_bg.wasm) with local tools
# only. The same two steps as worker-build 0.8.7 (whose output this is byte for byte), without
# installing worker-build or the wasm-bindgen CLI:
#   1. cargo build --lib --release --target wasm32-unknown-unknown, run inside worker/ (so
#      worker/.cargo/config.toml applies), with WASM_BINDGEN_USE_JS_SYS=1 as worker-build sets;
#   2. edgeauth-worker-bundle (tools/worker-bundle, a workspace crate): wasm-bindgen as a library
#      at the version Cargo.lock pins, wasm-opt -O, workers-rs's shim bundled by esbuild.
# Then strips the names and producers sections and prints the raw and gzip size of the Wasm.
#
# Usage: scripts/build-worker.sh
# Env:   EDGEAUTH_WORKER_DIR       crate to build (default: <repo>/worker)
#        EDGEAUTH_KEEP_WASM_NAMES  1: keep the names section (readable panics)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORKER_DIR=${EDGEAUTH_WORKER_DIR:-$ROOT/worker}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export PATH="$HOME/.cargo/bin:$PATH"
# shellcheck source=scripts/lib/timing.sh
source "$ROOT/scripts/lib/timing.sh"

die() {
  printf 'build-worker: %s\n' "$*" >&2
  exit 1
}

WASM_OPT_BIN=$ROOT/node_modules/binaryen/bin/wasm-opt
[[ -x $WASM_OPT_BIN ]] || die "wasm-opt not found at $WASM_OPT_BIN; run scripts/setup.sh (npm ci)"

# Prefer esbuild's native binary over its JS launcher.
ESBUILD_BIN=
for candidate in "$ROOT"/node_modules/@esbuild/*/bin/esbuild "$ROOT/node_modules/.bin/esbuild"; do
  if [[ -x $candidate ]]; then
    ESBUILD_BIN=$candidate
    break
  fi
done
[[ -n $ESBUILD_BIN ]] || die "esbuild not found under node_modules; run scripts/setup.sh (npm ci)"

# wasm-opt from npm is a Node script; use the Node that setup.sh picked, if any.
if [[ -f $ROOT/.dev/node-bin-dir ]]; then
  PATH="$(cat "$ROOT/.dev/node-bin-dir"):$PATH"
fi
command -v node >/dev/null || die "node is not on PATH (needed to run wasm-opt); run scripts/setup.sh"

crate=$(sed -n 's/^name = "\(.*\)"/\1/p' "$WORKER_DIR/Cargo.toml" | head -n1)
[[ -n $crate ]] || die "no package name in $WORKER_DIR/Cargo.toml"

echo "==> cargo build --lib --release --target wasm32-unknown-unknown ($WORKER_DIR)"
start=$(timing_now)
(cd "$WORKER_DIR" && WASM_BINDGEN_USE_JS_SYS=1 cargo build --lib --release --target wasm32-unknown-unknown)
seconds=$(timing_since "$start")
echo "build-worker: cargo build (wasm32, release) $seconds s"
timing_record "worker: cargo build (wasm32, release)" "$seconds"

echo "==> edgeauth-worker-bundle ($WORKER_DIR/build)"
start=$(timing_now)
cargo build -p edgeauth-worker-bundle
"$TARGET_DIR/debug/edgeauth-worker-bundle" "$TARGET_DIR/wasm32-unknown-unknown/release/${crate//-/_}.wasm" \
  --out-dir "$WORKER_DIR/build" --esbuild "$ESBUILD_BIN" --wasm-opt "$WASM_OPT_BIN"

shopt -s nullglob
wasm_files=("$WORKER_DIR"/build/*.wasm)
((${#wasm_files[@]} > 0)) || die "edgeauth-worker-bundle finished but produced no .wasm in $WORKER_DIR/build"
# The bundle keeps the names section (readable stack traces) and the producers section:
# ~105 KB raw / ~30 KB gzip that every isolate downloads and parses. Strip both (panics then
# show function indices instead of names). The feature flags are the ones worker-build enables.
# EDGEAUTH_KEEP_WASM_NAMES=1 keeps them for debugging.
if [[ ${EDGEAUTH_KEEP_WASM_NAMES:-} != 1 ]]; then
  for wasm in "${wasm_files[@]}"; do
    "$WASM_OPT_BIN" "$wasm" -o "$wasm" --strip-debug --strip-producers \
      --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
      --enable-bulk-memory --enable-multivalue --enable-reference-types \
      --enable-exception-handling ||
      die "wasm-opt --strip-debug failed on $wasm"
  done
fi
seconds=$(timing_since "$start")
echo "build-worker: bundle (wasm-bindgen, wasm-opt, esbuild, strip) $seconds s"
timing_record "worker: bundle (wasm-bindgen, wasm-opt, esbuild)" "$seconds"
for wasm in "${wasm_files[@]}"; do
  raw=$(stat -c %s "$wasm")
  gz=$(gzip -9 -c "$wasm" | wc -c)
  printf 'worker wasm: %s  raw %d bytes (%d KiB), gzip -9 %d bytes (%d KiB)\n' \
    "${wasm#"$ROOT"/}" "$raw" $((raw / 1024)) "$gz" $((gz / 1024))
done
