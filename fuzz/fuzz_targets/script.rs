//! Rhai scripts: `executor::script::compile::compile` on the sandboxed
//! engine of `executor::script::engine::build`, built as the benches and the
//! test runner build it (a `Library` over a CONFIG_DIR that does not exist,
//! so `import` resolves to bundled modules only, and default limits).
//! Primitives are not registered: compiling does not call them.
//!
//! Scripts reach `compile` through `Library`, which refuses files larger than
//! `input::input_file::MAX_SCRIPT`; larger inputs are skipped.
//!
//! Property: a compiled script or a located error, never a panic, a hang or
//! unbounded memory.

#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use executor::script::compile::{compile, script_problem};
use executor::script::engine::{self, Limits};
use executor::script::error::Origins;
use executor::script::source::{Library, Origin, Source};
use libfuzzer_sys::fuzz_target;
use rhai::Engine;

struct Sandbox {
    engine: Engine,
    origins: Origins,
}

fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        let library = Library::new(Path::new("/nonexistent/executor-fuzz"));
        let origins = Origins::default();
        let engine = engine::build(&library, &origins, Limits::default());
        Sandbox { engine, origins }
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() as u64 > executor::input::input_file::MAX_SCRIPT {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let sandbox = sandbox();
    let source = Source {
        name: "fuzz.rhai".to_owned(),
        display: "fuzz.rhai".to_owned(),
        text: text.to_owned(),
        origin: Origin::Override,
    };
    if let Err(error) = compile(&sandbox.engine, source, &sandbox.origins) {
        let _ = script_problem(&error).to_string();
    }
});
