//! `dag.yaml`: `executor::dag::file::parse`, then for a full graph
//! `executor::dag::validate::resolve` and a plan per action; for an overlay,
//! the public `executor::dag::load` over a per-process temporary CONFIG_DIR
//! (`$TMPDIR/executor-fuzz-dag/<pid>`): applying an overlay
//! (`apply_overlay`, `filter` in src/dag/load.rs) is private and reachable
//! only through `load`, which reads `<dir>/dag.yaml` and looks for the hook
//! files the graph names there.
//!
//! Property: problems, never a panic, a hang or unbounded memory.

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use executor::config::environment::Timeouts;
use executor::dag::file::{self, DagFile};
use executor::dag::model::GraphOrigin;
use executor::dag::plan::{self, Action, Scope};
use executor::dag::{ValidGraph, validate};
use libfuzzer_sys::fuzz_target;

/// `$TMPDIR/executor-fuzz-dag/<pid>`: the overlay's CONFIG_DIR, one per
/// process (libFuzzer's `-jobs` run several). libFuzzer ends the process
/// with `exit`, so nothing removes it then: each process first removes the
/// directories of processes that are gone.
fn overlay_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::env::temp_dir().join("executor-fuzz-dag");
        for entry in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let gone = name
                .to_str()
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
            if gone {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = base.join(std::process::id().to_string());
        std::fs::create_dir_all(&dir).expect("create the overlay's temporary CONFIG_DIR");
        dir
    })
}

fn render(problems: &[executor::config::Problem]) {
    for problem in problems {
        let _ = problem.to_string();
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match file::parse(Path::new("dag.yaml"), text, GraphOrigin::Replaced) {
        Err(problems) => render(&problems),
        Ok(DagFile::Graph(graph)) => match validate::resolve(&graph) {
            Err(problems) => render(&problems),
            Ok(resolved) => {
                let valid = ValidGraph { graph, resolved };
                for action in [Action::Deploy, Action::Validate, Action::Teardown] {
                    if let Err(problem) = plan::build(&valid, action, &Scope::Platform, Timeouts::default()) {
                        let _ = problem.to_string();
                    }
                }
            }
        },
        Ok(DagFile::Overlay(_)) => {
            let dir = overlay_dir();
            std::fs::write(dir.join("dag.yaml"), text).expect("write the overlay's dag.yaml");
            if let Err(problems) = executor::dag::load(dir) {
                render(&problems);
            }
        }
    }
});
