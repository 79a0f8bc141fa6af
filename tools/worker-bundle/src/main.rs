//! `edgeauth-worker-bundle`: the edge worker's compiled Wasm → the bundle wrangler and workerd
//! load (`<out-dir>/index.js` importing `./index_bg.wasm`).
//!
//! It does what worker-build 0.8.7 does after its `cargo build` (scripts/build-worker.sh runs
//! that build itself), with the same options and the same output, so the bundle is
//! byte-for-byte the one worker-build made:
//!
//! 1. wasm-bindgen, linked in as `wasm-bindgen-cli-support` at the version Cargo.lock pins for
//!    the `wasm-bindgen` library (instead of a separately installed `wasm-bindgen` CLI);
//! 2. `wasm-opt -O` with worker-build's feature set, keeping the names section;
//! 3. workers-rs's JS shim around the glue, bundled and minified by esbuild;
//! 4. `package.json` and the `worker/shim.mjs` alias, as worker-build writes them.
//!
//! Not done: worker-build's `producers` entry (`sdk: workers-rs`); scripts/build-worker.sh strips
//! the whole producers section afterwards anyway. The output is assembled in `<out-dir>/.tmp` and
//! moved into place at the end, so a failed run leaves the previous bundle intact.

mod bindgen;
mod shim;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;

/// wasm-opt's features: worker-build's explicit list (rustc's wasm32-unknown-unknown defaults plus
/// exception handling for wasm-bindgen's catch wrappers), never `--all-features`, so no encoding
/// workerd cannot load is emitted.
const WASM_OPT_FEATURES: &[&str] = &[
    "--enable-mutable-globals",
    "--enable-sign-ext",
    "--enable-nontrapping-float-to-int",
    "--enable-bulk-memory",
    "--enable-multivalue",
    "--enable-reference-types",
    "--enable-exception-handling",
];

#[derive(Parser)]
#[command(
    about = "Bundle the edge worker's Wasm for wrangler/workerd (what worker-build does after cargo build)"
)]
struct Args {
    /// The worker's Wasm as cargo built it (target/wasm32-unknown-unknown/release/edgeauth_worker.wasm).
    wasm: PathBuf,
    /// Where the bundle goes (worker/build).
    #[arg(long)]
    out_dir: PathBuf,
    /// The esbuild binary.
    #[arg(long, env = "ESBUILD_BIN")]
    esbuild: PathBuf,
    /// The wasm-opt binary (binaryen; the npm package's bin/wasm-opt runs on Node).
    #[arg(long, env = "WASM_OPT_BIN")]
    wasm_opt: PathBuf,
}

fn main() {
    if let Err(err) = run(&Args::parse()) {
        eprintln!("edgeauth-worker-bundle: {err:#}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<()> {
    if !args.wasm.is_file() {
        bail!(
            "{} does not exist; build the worker crate for wasm32-unknown-unknown first",
            args.wasm.display()
        );
    }
    let stage = args.out_dir.join(".tmp");
    if stage.exists() {
        fs::remove_dir_all(&stage).with_context(|| format!("removing {}", stage.display()))?;
    }
    fs::create_dir_all(&stage).with_context(|| format!("creating {}", stage.display()))?;
    fs::write(stage.join(".gitignore"), "*").context("writing .gitignore")?;

    timed("wasm-bindgen", || bindgen::generate(&args.wasm, &stage))?;
    let wasm = stage.join("index_bg.wasm");
    timed("wasm-opt -O", || wasm_opt(&args.wasm_opt, &wasm))?;

    let glue_path = stage.join("index.js");
    let glue = read(&glue_path)?;
    write(&stage.join("shim.js"), &shim::render(&glue))?;
    write(&stage.join("package.json"), PACKAGE_JSON)?;
    timed("esbuild", || esbuild(&args.esbuild, &stage))?;
    // esbuild keeps wasm-bindgen's source-phase import; workerd wants a plain one.
    let bundle = read(&glue_path)?.replace("import source ", "import ");
    write(&glue_path, &bundle)?;
    fs::remove_file(stage.join("shim.js")).context("removing shim.js")?;
    let snippets = stage.join("snippets");
    if snippets.exists() {
        fs::remove_dir_all(&snippets).context("removing snippets/")?;
    }
    fs::create_dir_all(stage.join("worker")).context("creating worker/")?;
    write(
        &stage.join("worker/shim.mjs"),
        "// Use index.js directly, this file provided for backwards compat\n// with former shim.mjs only.\nexport * from '../index.js';\nexport { default } from '../index.js';\n",
    )?;

    publish(&stage, &args.out_dir)
}

/// Runs `step`, then prints how long it took.
fn timed<T>(name: &str, step: impl FnOnce() -> Result<T>) -> Result<T> {
    let started = Instant::now();
    let result = step()?;
    println!(
        "worker-bundle: {name} {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(result)
}

fn wasm_opt(wasm_opt: &Path, wasm: &Path) -> Result<()> {
    let optimized = wasm.with_extension("wasm-opt.wasm");
    let mut command = Command::new(wasm_opt);
    command
        .arg(wasm)
        .arg("-o")
        .arg(&optimized)
        .arg("-O")
        .args(WASM_OPT_FEATURES)
        // Keep the names section (scripts/build-worker.sh decides whether to strip it).
        .arg("--debuginfo");
    run_command(&mut command, "wasm-opt")?;
    fs::rename(&optimized, wasm).with_context(|| format!("replacing {}", wasm.display()))
}

fn esbuild(esbuild: &Path, stage: &Path) -> Result<()> {
    let mut command = Command::new(esbuild);
    command
        .args([
            "--external:./index_bg.wasm",
            "--external:cloudflare:*",
            "--format=esm",
            "--bundle",
            "./shim.js",
            "--outfile=index.js",
            "--allow-overwrite",
            "--minify",
        ])
        .current_dir(stage);
    run_command(&mut command, "esbuild")
}

fn run_command(command: &mut Command, name: &str) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {name} ({:?})", command.get_program()))?;
    if !status.success() {
        bail!("{name} failed ({status})");
    }
    Ok(())
}

/// worker-build's package.json as it leaves it (keys sorted, as serde_json writes a map),
/// without the crate's description. esbuild reads `sideEffects` from it when bundling; the rest
/// describes the directory. A literal, so the output does not depend on which serde_json
/// features the build happened to unify.
const PACKAGE_JSON: &str = r#"{
  "files": [
    "index_bg.wasm",
    "index.js",
    "index.d.ts"
  ],
  "license": "MIT OR Apache-2.0",
  "main": "index.js",
  "name": "edgeauth-worker",
  "sideEffects": [
    "./index.js"
  ],
  "type": "module",
  "version": "0.1.0"
}"#;

/// Moves every entry of `stage` into `out_dir` (replacing what is there), then removes `stage`.
fn publish(stage: &Path, out_dir: &Path) -> Result<()> {
    for entry in fs::read_dir(stage).with_context(|| format!("reading {}", stage.display()))? {
        let entry = entry?;
        let dest = out_dir.join(entry.file_name());
        if dest.is_dir() {
            fs::remove_dir_all(&dest).with_context(|| format!("removing {}", dest.display()))?;
        } else if dest.exists() {
            fs::remove_file(&dest).with_context(|| format!("removing {}", dest.display()))?;
        }
        fs::rename(entry.path(), &dest)
            .with_context(|| format!("moving {} into place", dest.display()))?;
    }
    fs::remove_dir(stage).with_context(|| format!("removing {}", stage.display()))
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn write(path: &Path, contents: &str) -> Result<()> {
    fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    /// The version of `name` in the workspace's Cargo.lock.
    fn locked_version(lock: &str, name: &str) -> Option<String> {
        let mut lines = lock.lines();
        lines.find(|line| *line == format!("name = \"{name}\""))?;
        let version = lines.next()?.strip_prefix("version = \"")?;
        Some(version.trim_end_matches('"').to_owned())
    }

    #[test]
    fn bindgen_is_the_version_of_the_wasm_bindgen_library_the_worker_links() {
        let lock = include_str!("../../../Cargo.lock");
        let library = locked_version(lock, "wasm-bindgen").expect("wasm-bindgen in Cargo.lock");
        assert_eq!(
            locked_version(lock, "wasm-bindgen-cli-support").as_deref(),
            Some(library.as_str()),
            "tools/worker-bundle must pin wasm-bindgen-cli-support to the wasm-bindgen library's version"
        );
    }
}
