//! The wasm-bindgen step, as a library call with the options worker-build 0.8.7 passes the
//! wasm-bindgen CLI for a `--release` build (`--target module --out-name index --no-typescript
//! --experimental-reset-state-function --force-enable-abort-handler`, no `--debug`, names
//! demangled, no DWARF, default module path kept, linked modules not split).

use std::path::Path;

use anyhow::{Context, Result};
use wasm_bindgen_cli_support::Bindgen;

/// Writes `index.js` (ES module glue that imports `./index_bg.wasm` by source phase) and
/// `index_bg.wasm` into `out_dir`.
pub fn generate(wasm: &Path, out_dir: &Path) -> Result<()> {
    let mut bindgen = Bindgen::new();
    // Every option is set explicitly, with the CLI's value: the library's own defaults differ
    // (e.g. omit_default_module_path is true in the library, false in the CLI).
    bindgen
        .module(true)?
        .input_path(wasm)
        .out_name("index")
        .debug(false)
        .demangle(true)
        .keep_lld_exports(false)
        .keep_debug(false)
        .split_debug_info(false)
        .remove_name_section(false)
        .remove_producers_section(false)
        .typescript(false)
        .omit_imports(false)
        .omit_default_module_path(false)
        .split_linked_modules(false)
        .js_string_builtins(false)
        .ts_typed_array_buffers(false)
        .reset_state_function(true)
        .force_enable_abort_handler(true);
    // The CLI passes its (deprecated, default false) --reference-types flag too, which overrides
    // the WASM_BINDGEN_EXTERNREF environment variable the library would otherwise read.
    #[allow(deprecated)]
    bindgen.reference_types(false);
    bindgen
        .generate(out_dir)
        .with_context(|| format!("wasm-bindgen failed on {}", wasm.display()))
}
