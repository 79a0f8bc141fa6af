#!/usr/bin/env bash
# Builds the edge worker (worker/ → worker/build/) with worker-build, using only
# local tools: worker-build would otherwise download wasm-bindgen and wasm-opt
# from GitHub. Prints the raw and gzip size of the resulting Wasm.
#
# Usage: scripts/build-worker.sh [extra worker-build args]
# Env:   EDGEAUTH_WORKER_DIR  crate to build (default: <repo>/worker)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORKER_DIR=${EDGEAUTH_WORKER_DIR:-$ROOT/worker}
export PATH="$HOME/.cargo/bin:$PATH"

die() {
  printf 'build-worker: %s\n' "$*" >&2
  exit 1
}

# The wasm-bindgen CLI must match the wasm-bindgen library version in Cargo.lock exactly.
lock_version() {
  awk -v name="$1" '
    $0 == "name = \"" name "\"" { found = 1; next }
    found && /^version = / { gsub(/"/, "", $3); print $3; exit }
  ' "$ROOT/Cargo.lock" 2>/dev/null
}

command -v worker-build >/dev/null || die "worker-build is not installed; run scripts/setup.sh"
WASM_BINDGEN_BIN=$(command -v wasm-bindgen) || die "wasm-bindgen is not installed; run scripts/setup.sh"
want=$(lock_version wasm-bindgen)
have=$("$WASM_BINDGEN_BIN" --version | awk '{print $2}')
if [[ -n $want && $have != "$want" ]]; then
  die "wasm-bindgen CLI is $have but Cargo.lock uses $want; run scripts/setup.sh"
fi

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

export WASM_BINDGEN_BIN WASM_OPT_BIN ESBUILD_BIN

echo "==> worker-build --release ($WORKER_DIR)"
(cd "$WORKER_DIR" && worker-build --release "$@")

shopt -s nullglob
wasm_files=("$WORKER_DIR"/build/*.wasm)
((${#wasm_files[@]} > 0)) || die "worker-build finished but produced no .wasm in $WORKER_DIR/build"
# worker-build keeps the names section (readable stack traces) and the producers section:
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
for wasm in "${wasm_files[@]}"; do
  raw=$(stat -c %s "$wasm")
  gz=$(gzip -9 -c "$wasm" | wc -c)
  printf 'worker wasm: %s  raw %d bytes (%d KiB), gzip -9 %d bytes (%d KiB)\n' \
    "${wasm#"$ROOT"/}" "$raw" $((raw / 1024)) "$gz" $((gz / 1024))
done
