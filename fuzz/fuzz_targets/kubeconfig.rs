//! The kubeconfig: `executor::config::kubeconfig::load` with
//! `KUBECONFIG_DATA` only (no file, no network: `load` parses and checks the
//! text, it does not connect).
//!
//! The input is used twice: base64-encoded, so the bytes reach the YAML /
//! kubeconfig parsing and the current-context checks; and as given (when
//! UTF-8), so they reach the base64 decoding of `KUBECONFIG_DATA`.
//!
//! Property: a `ClusterAccess` or a problem, never a panic, a hang or
//! unbounded memory.
//!
//! Note: a kubeconfig that parses registers its credentials in the process's
//! redaction list (`executor::redact::register`), which only grows; over a
//! long fuzzing run that list holds every distinct token the fuzzer made up.

#![no_main]

use base64::Engine as _;
use executor::config::kubeconfig::{KubeconfigInput, load};
use libfuzzer_sys::fuzz_target;

fn check(data: &str) {
    match load(KubeconfigInput {
        data: Some(data),
        path: None,
    }) {
        Ok(access) => {
            let _ = format!("{access:?}");
        }
        Err(problem) => {
            let _ = problem.to_string();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(&base64::engine::general_purpose::STANDARD.encode(data));
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
});
