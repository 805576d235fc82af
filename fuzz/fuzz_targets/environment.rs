//! `environment.yaml`: `executor::config::environment::parse`.
//!
//! Property: any text yields a config or problems, never a panic, a hang or
//! unbounded memory. Problems are rendered as the CLI renders them.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(problems) = executor::config::environment::parse(Path::new("environment.yaml"), text) {
        for problem in problems {
            let _ = problem.to_string();
        }
    }
});
