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

# The bundler is a workspace binary. EDGEAUTH_NATIVE_BUILD_ARGS: the cargo build arguments of
# a native build that includes it (make dev sets those of its own background build): the same
# package set resolves the same dependency features, so this waits for that build and reuses
# it, where `-p edgeauth-worker-bundle` alone would rebuild walrus, wasm-bindgen-cli-support and
# a few shared crates with other features.
start=$(timing_now)
# shellcheck disable=SC2086 # a list of arguments
cargo build ${EDGEAUTH_NATIVE_BUILD_ARGS:--p edgeauth-worker-bundle}
seconds=$(timing_since "$start")
echo "build-worker: cargo build of the bundler $seconds s"
timing_record "worker: cargo build the bundler (waits for a running build)" "$seconds"

# The bundle depends only on the Wasm cargo built, the bundler's source and lock file, this
# script, the npm tools (wasm-opt, esbuild) and whether names are kept: when none changed since
# the last bundle, it is up to date (wasm-opt alone takes ~20 s, which a warm make dev skips).
BUILD_DIR=$WORKER_DIR/build
BUNDLER=$TARGET_DIR/debug/edgeauth-worker-bundle
INPUT_WASM=$TARGET_DIR/wasm32-unknown-unknown/release/${crate//-/_}.wasm
STAMP=$BUILD_DIR/.bundle-inputs
[[ -f $INPUT_WASM ]] || die "cargo build finished but $INPUT_WASM is missing"
inputs="wasm $(sha256sum <"$INPUT_WASM" | awk '{print $1}')"
inputs+=" tools $(cat "$ROOT"/tools/worker-bundle/src/* "$ROOT/Cargo.lock" "$ROOT/scripts/build-worker.sh" \
  "$ROOT/node_modules/.package-lock.json" | sha256sum | awk '{print $1}')"
inputs+=" keep-names=${EDGEAUTH_KEEP_WASM_NAMES:-}"
if [[ -f $STAMP && $(<"$STAMP") == "$inputs" && -f $BUILD_DIR/index.js && -f $BUILD_DIR/index_bg.wasm ]]; then
  echo "build-worker: $BUILD_DIR is up to date (same Wasm, same bundler)"
else
  echo "==> edgeauth-worker-bundle ($BUILD_DIR)"
  start=$(timing_now)
  rm -f "$STAMP"
  "$BUNDLER" "$INPUT_WASM" --out-dir "$BUILD_DIR" --esbuild "$ESBUILD_BIN" --wasm-opt "$WASM_OPT_BIN"

  shopt -s nullglob
  wasm_files=("$BUILD_DIR"/*.wasm)
  ((${#wasm_files[@]} > 0)) || die "edgeauth-worker-bundle finished but produced no .wasm in $BUILD_DIR"
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
  printf '%s\n' "$inputs" >"$STAMP"
  seconds=$(timing_since "$start")
  echo "build-worker: bundle (wasm-bindgen, wasm-opt, esbuild, strip) $seconds s"
  timing_record "worker: bundle (wasm-bindgen, wasm-opt, esbuild, strip)" "$seconds"
fi

shopt -s nullglob
wasm_files=("$BUILD_DIR"/*.wasm)
for wasm in "${wasm_files[@]}"; do
  raw=$(stat -c %s "$wasm")
  gz=$(gzip -9 -c "$wasm" | wc -c)
  printf 'worker wasm: %s  raw %d bytes (%d KiB), gzip -9 %d bytes (%d KiB)\n' \
    "${wasm#"$ROOT"/}" "$raw" $((raw / 1024)) "$gz" $((gz / 1024))
done
