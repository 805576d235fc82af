//! Embeds the bundled Rhai scripts (`scripts/`, `stdlib/`) in the binary, so
//! the executor needs no files beside it to run its default behaviour, and
//! records the Rhai version Cargo.lock resolved (for `executor version`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rhai") {
            out.push(path);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let mut table = String::from(
        "/// Bundled scripts: (path in the bundle tree, source).\npub static BUNDLED: &[(&str, &str)] = &[\n",
    );
    for (folder, prefix) in [("scripts", ""), ("stdlib", "stdlib/")] {
        let root = manifest.join(folder);
        println!("cargo:rerun-if-changed={}", root.display());
        let mut files = Vec::new();
        collect(&root, &mut files);
        files.sort();
        for file in files {
            println!("cargo:rerun-if-changed={}", file.display());
            let relative = file
                .strip_prefix(&root)
                .unwrap_or(&file)
                .to_string_lossy()
                .replace('\\', "/");
            let _ = writeln!(
                table,
                "    ({:?}, include_str!({:?})),",
                format!("{prefix}{relative}"),
                file.display().to_string()
            );
        }
    }
    table.push_str("];\n");
    // The Rhai version `executor version` prints: the one Cargo.lock resolved.
    let lock = manifest.join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(&lock).unwrap_or_default();
    let rhai = text
        .split("[[package]]")
        .find(|package| package.contains("\nname = \"rhai\"\n"))
        .and_then(|package| package.lines().find_map(|l| l.strip_prefix("version = ")))
        .map_or("unknown", |v| v.trim_matches('"'));
    println!("cargo:rustc-env=EXECUTOR_RHAI_VERSION={rhai}");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("bundled_scripts.rs");
    if let Err(error) = std::fs::write(&out, table) {
        println!("cargo:warning=cannot write {}: {error}", out.display());
    }
}
