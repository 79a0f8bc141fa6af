//! The entry module esbuild bundles: workers-rs's `shim.js` (from worker-build 0.8.7,
//! Apache-2.0, copied verbatim into `shim.js` next to this file) with one `Entrypoint` method
//! per event handler the Wasm exports, and one proxied export per exported class.
//!
//! Pure text functions over wasm-bindgen's generated `index.js`, ported from worker-build's
//! `generate_handlers` and `add_export_wrappers` (the `RUN_TO_COMPLETION` variant is left out:
//! the edge does not use it).

const SHIM: &str = include_str!("shim.js");

/// wasm-bindgen exports that are plumbing, not handlers.
const SYSTEM_FNS: &[&str] = &["__wbg_reset_state", "__worker_init_state"];

/// Handlers the runtime calls with `(arg, env, ctx)`.
const EVENT_HANDLERS: &[&str] = &["fetch", "queue", "scheduled", "email", "connect"];

/// The shim module for the glue `index_js`: worker-build's `shim.js` with the handlers filled in
/// and the class wrappers appended.
pub fn render(index_js: &str) -> String {
    let mut shim = SHIM.replace("$HANDLERS", &handlers(index_js));
    for class in exported_classes(index_js) {
        shim.push_str(&format!(
            "export const {class} = new Proxy(exports.{class}, classProxyHooks);\n"
        ));
    }
    shim
}

/// One `Entrypoint.prototype.<name> = …` line per exported function.
fn handlers(index_js: &str) -> String {
    let mut out = String::new();
    for name in exported_functions(index_js) {
        if EVENT_HANDLERS.contains(&name) {
            out.push_str(&format!(
                "Entrypoint.prototype.{name} = function {name} (arg) {{\n  return exports.{name}.call(this, arg, this.env, this.ctx);\n}}\n"
            ));
        } else {
            out.push_str(&format!("Entrypoint.prototype.{name} = exports.{name};\n"));
        }
    }
    out
}

/// Names of `export function f(` / `export async function f(` / `export { x as f }`
/// declarations, in order, without the system functions.
fn exported_functions(index_js: &str) -> Vec<&str> {
    let mut names = Vec::new();
    for decl in export_decls(index_js) {
        let name = if let Some(rest) = decl
            .strip_prefix("export function")
            .or_else(|| decl.strip_prefix("export async function"))
        {
            rest.find('(').map(|paren| rest[..paren].trim())
        } else if let Some(rest) = decl.strip_prefix("export {") {
            rest.find(" as ").and_then(|as_pos| {
                let rest = &rest[as_pos + 4..];
                rest.find('}').map(|brace| rest[..brace].trim())
            })
        } else {
            None
        };
        if let Some(name) = name.filter(|name| !SYSTEM_FNS.contains(name)) {
            names.push(name);
        }
    }
    names
}

/// Names of `export class C {` declarations, in order.
fn exported_classes(index_js: &str) -> Vec<&str> {
    export_decls(index_js)
        .filter_map(|decl| {
            let rest = decl.strip_prefix("export class ")?;
            rest.find('{').map(|brace| rest[..brace].trim())
        })
        .collect()
}

/// Each `export` declaration of the module, starting at the keyword.
fn export_decls(content: &str) -> impl Iterator<Item = &str> {
    content.match_indices("export ").filter_map(move |(i, _)| {
        let boundary = i == 0
            || content[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_whitespace() || c == ';' || c == '}');
        boundary.then(|| &content[i..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GLUE: &str = "import source wasmModule from \"./index_bg.wasm\";\n\
        export class IntoUnderlyingSink {\n  free() {}\n}\n\
        export function fetch(req, env, ctx) {\n  return wasm.fetch(req, env, ctx);\n}\n\
        export function __wbg_reset_state() {}\n\
        export function __worker_init_state() {}\n\
        export async function helper(a) {}\n\
        export { other_impl as renamed };\n\
        const notexported = \"export function nope(\";\n";

    #[test]
    fn event_handlers_get_env_and_ctx_and_others_are_plain_references() {
        assert_eq!(
            handlers(GLUE),
            "Entrypoint.prototype.fetch = function fetch (arg) {\n  return exports.fetch.call(this, arg, this.env, this.ctx);\n}\n\
             Entrypoint.prototype.helper = exports.helper;\n\
             Entrypoint.prototype.renamed = exports.renamed;\n"
        );
    }

    #[test]
    fn system_functions_and_exports_inside_strings_are_not_handlers() {
        let names = exported_functions(GLUE);
        assert!(!names.contains(&"__wbg_reset_state"));
        assert!(!names.contains(&"__worker_init_state"));
        assert!(!names.contains(&"nope"), "{names:?}");
    }

    #[test]
    fn classes_are_exported_through_the_reinitialising_proxy() {
        let shim = render(GLUE);
        assert!(shim.ends_with(
            "export const IntoUnderlyingSink = new Proxy(exports.IntoUnderlyingSink, classProxyHooks);\n"
        ));
        assert!(!shim.contains("$HANDLERS"));
        assert!(shim.contains("Entrypoint.prototype.fetch = function fetch (arg)"));
        assert!(shim.starts_with("import { WorkerEntrypoint } from \"cloudflare:workers\";"));
    }
}
