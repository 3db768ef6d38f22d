//! Builds the real plugin components once, before the integration tests and
//! benchmarks compile, so that no test compiles a guest itself.
//!
//! The components land in `<workspace>/target/plugins/<package>.wasm`; the
//! tests find that directory through `CRACKTRADER_PLUGIN_DIR`.

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let root = manifest_dir
        .parent()
        .expect("the tests package lives inside the workspace")
        .to_path_buf();
    let out_dir = root.join("target").join("plugins");

    if let Err(err) = xtask::build_plugins(&root, &out_dir) {
        panic!("building the WASM plugins failed: {err}");
    }

    println!(
        "cargo:rustc-env=CRACKTRADER_PLUGIN_DIR={}",
        out_dir.display()
    );
    // The root manifest holds the `plugin` profile, the lock file the plugins'
    // dependency versions.
    for file in ["Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    for dir in ["wit", "guest-sdk", "plugins"] {
        for file in source_files(&root.join(dir)) {
            println!("cargo:rerun-if-changed={}", file.display());
        }
    }
}

/// Every file under `dir`, skipping build output and caches (`target`, and
/// the `__pycache__` that building a Python plugin writes): listing the files
/// (rather than the directory) keeps cargo from rescanning them.
fn source_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = fs::read_dir(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
                .path();
            if path.is_dir() {
                let name = path.file_name().unwrap_or_default();
                if name != "target" && name != "__pycache__" {
                    pending.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}
