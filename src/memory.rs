//! The process's heap in use, so the script sandbox can stop a script that
//! builds ever-larger values before the process is killed for it.
//!
//! Rhai's own limits bound one string, array or map; they do not bound the
//! sum (a script making thousands of large maps reached 2.4 GB and aborted,
//! issue 18). The binary wraps its allocator in the `cap` crate's counting
//! allocator and hands its counter to [`install`]; the engine's progress
//! callback compares [`heap`] with [`SCRIPT_HEAP_LIMIT`] at every operation
//! (one atomic load). Where nothing is installed (the library's unit tests),
//! [`heap`] is 0 and the check never fires.

use std::sync::OnceLock;

/// While a script runs, the heap may not grow past this (1 GiB; a
/// 2,000-application deploy peaks near 105 MiB resident).
pub const SCRIPT_HEAP_LIMIT: usize = 1 << 30;

static COUNTER: OnceLock<fn() -> usize> = OnceLock::new();

/// Installs the allocator's counter of bytes in use (once, at start-up).
pub fn install(counter: fn() -> usize) {
    let _ = COUNTER.set(counter);
}

/// Bytes of heap in use, or 0 when no counter is installed.
pub fn heap() -> usize {
    COUNTER.get().map_or(0, |counter| counter())
}
