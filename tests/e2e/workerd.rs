//! A production-like `workerd serve` configuration for the edge: no dev proxy, no inspector.
//!
//! `wrangler dev` puts a second workerd (its local proxy) in front of the worker, which costs
//! several times the worker's own CPU; Cloudflare runs the worker directly. This builds the
//! Cap'n Proto config that does the same locally: the worker's modules from `worker/build`,
//! its `[vars]` and secrets as text bindings, outbound network to local addresses allowed, and
//! optionally a trivial JavaScript hello-world worker in the same process (the runtime's ceiling).

use std::fmt::Write as _;

use crate::stack::BoxError;

/// The heap an isolate gets on Cloudflare: Workers limits each isolate to 128 MB. `workerd serve`
/// sets no limit, so V8 sizes the heap from the machine's memory (about 4 GB with 16 MB
/// semi-spaces on a 24 GiB machine). With that much young generation, the request, response and
/// headers objects of about a second of traffic die between two scavenges and are destroyed in
/// one batch on the isolate's thread: 70–150 ms pauses every second or so under load, which is
/// what p99 then measures. Giving V8 the production heap size makes it size the generations as
/// for a production isolate (docs/performance.md has the before/after).
pub const PRODUCTION_HEAP_FLAG: &str = "--max-heap-size=128";

/// Which heap the isolates of a `workerd serve` get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heap {
    /// [`PRODUCTION_HEAP_FLAG`]: like an isolate on Cloudflare.
    Production,
    /// workerd's default: sized from the machine's memory (for comparison).
    Unlimited,
}

impl Heap {
    /// The production heap unless `EDGEAUTH_WORKERD_HEAP=unlimited` asks for workerd's default
    /// (A/B comparisons by hand).
    pub fn from_env() -> Self {
        match std::env::var("EDGEAUTH_WORKERD_HEAP").as_deref() {
            Ok("unlimited") => Self::Unlimited,
            _ => Self::Production,
        }
    }

    /// The V8 flags that give this heap.
    pub fn v8_flags(self) -> Vec<String> {
        match self {
            Self::Production => vec![PRODUCTION_HEAP_FLAG.to_owned()],
            Self::Unlimited => Vec::new(),
        }
    }
}

/// The JavaScript hello-world worker (the runtime's own ceiling in benchmarks).
pub const HELLO_WORKER_JS: &str =
    "export default { fetch() { return new Response('hello', { headers: { 'content-type': 'text/plain' } }); } };\n";

/// The edge's work for `GET /api/profile` as a plain JavaScript worker (the runtime's own floor
/// for that traffic in benchmarks); it gets the edge's bindings.
pub const REFERENCE_EDGE_JS: &str = include_str!("js/reference_edge.js");

/// What goes into one `workerd serve` configuration. Module paths are relative to the directory
/// of the configuration file (workerd refuses absolute `embed` paths).
pub struct WorkerdConfig<'a> {
    /// Directory holding the worker's `index.js` and `index_bg.wasm`.
    pub build_dir: &'a str,
    pub compatibility_date: &'a str,
    /// The edge's address, `127.0.0.1:<port>`.
    pub edge_address: Option<&'a str>,
    /// Text bindings: `[vars]` and secrets.
    pub bindings: &'a [(String, String)],
    /// Where the hello-world worker listens (and the path of its module), if wanted.
    pub hello: Option<(&'a str, &'a str)>,
    /// Where the JavaScript reference edge listens (and the path of its module), if wanted.
    pub reference_edge: Option<(&'a str, &'a str)>,
    /// Flags for V8, e.g. `--perf-basic-prof` to let `perf` name JIT-compiled Wasm functions.
    pub v8_flags: &'a [String],
}

impl WorkerdConfig<'_> {
    /// The Cap'n Proto text of the configuration (`const config`).
    pub fn to_capnp(&self) -> String {
        let mut services = Vec::new();
        let mut sockets = Vec::new();
        let mut workers = String::new();
        let mut bindings = String::new();
        for (name, value) in self.bindings {
            let _ = write!(
                bindings,
                "\n    (name = {}, text = {}),",
                quote(name),
                quote(value)
            );
        }
        // One service per worker, listening on its own socket; `networked` workers get the
        // edge's bindings and may call the origin and the bridge.
        let mut serve = |name: &str, address: &str, modules: String, networked: bool| {
            services.push(format!(r#"(name = "{name}", worker = .{name}Worker)"#));
            sockets.push(format!(
                r#"(name = "{name}", address = {}, http = (), service = "{name}")"#,
                quote(address)
            ));
            let outbound = if networked {
                format!("\n  bindings = [{bindings}\n  ],\n  globalOutbound = \"internet\",")
            } else {
                String::new()
            };
            let _ = write!(
                workers,
                "\nconst {name}Worker :Workerd.Worker = (\n  modules = [{modules}],\n  \
                 compatibilityDate = {date},{outbound}\n);\n",
                date = quote(self.compatibility_date),
            );
        };
        if let Some(address) = self.edge_address {
            let modules = format!(
                "\n    (name = \"index.js\", esModule = embed {}),\n    \
                 (name = \"index_bg.wasm\", wasm = embed {}),\n  ",
                quote(&format!("{}/index.js", self.build_dir)),
                quote(&format!("{}/index_bg.wasm", self.build_dir)),
            );
            serve("edge", address, modules, true);
        }
        if let Some((address, module)) = self.hello {
            let modules = format!(r#"(name = "hello.js", esModule = embed {})"#, quote(module));
            serve("hello", address, modules, false);
        }
        if let Some((address, module)) = self.reference_edge {
            let modules = format!(
                r#"(name = "reference_edge.js", esModule = embed {})"#,
                quote(module)
            );
            serve("reference", address, modules, true);
        }
        // The default outbound only allows public addresses; origin and bridge are local.
        services.push(
            r#"(name = "internet", network = (allow = ["public", "private", "local"]))"#.to_owned(),
        );
        let v8_flags: Vec<String> = self.v8_flags.iter().map(|f| quote(f)).collect();
        format!(
            "using Workerd = import \"/workerd/workerd.capnp\";\n\n\
             const config :Workerd.Config = (\n  services = [\n    {}\n  ],\n  sockets = [\n    {}\n  ],\n  v8Flags = [{}],\n);\n{workers}",
            services.join(",\n    "),
            sockets.join(",\n    "),
            v8_flags.join(", "),
        )
    }
}

/// The `[vars]` of a `wrangler.toml` and its `compatibility_date`. Only the subset the project
/// uses: `NAME = "string"` (or a bare number/boolean) per line.
pub fn wrangler_settings(toml: &str) -> Result<(String, Vec<(String, String)>), BoxError> {
    let mut date = None;
    let mut vars = Vec::new();
    let mut section = String::new();
    let mut lines = toml.lines().enumerate();
    while let Some((number, line)) = lines.next() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            section = line
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_owned();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        // A multi-line literal string (''' on its own lines), verbatim: the route table.
        if value == "'''" {
            let mut text = String::new();
            loop {
                let (_, next) = lines.next().ok_or_else(|| {
                    format!("wrangler.toml line {}: unterminated ''' string", number + 1)
                })?;
                if next.trim() == "'''" {
                    break;
                }
                text.push_str(next);
                text.push('\n');
            }
            if section == "vars" {
                vars.push((key.to_owned(), text));
            }
            continue;
        }
        match section.as_str() {
            "" if key == "compatibility_date" => date = Some(unquote(value, number)?),
            "vars" => vars.push((key.to_owned(), unquote(value, number)?)),
            _ => {}
        }
    }
    let date = date.ok_or("wrangler.toml has no compatibility_date")?;
    Ok((date, vars))
}

fn unquote(value: &str, line: usize) -> Result<String, BoxError> {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) if !inner.contains(['"', '\\']) => Ok(inner.to_owned()),
        Some(_) => {
            Err(format!("wrangler.toml line {}: escapes are not supported", line + 1).into())
        }
        None if !value.is_empty()
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') =>
        {
            Ok(value.to_owned())
        }
        None => Err(format!("wrangler.toml line {}: unsupported value {value}", line + 1).into()),
    }
}

/// A Cap'n Proto text literal.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
