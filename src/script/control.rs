//! The limits of the script running on this thread: its deadline and the
//! run's cancellation.
//!
//! Scripts run on blocking threads (one per running graph node), each with
//! its own deadline (a node's timeouts within the run's `ACTION_TIMEOUT`).
//! The bounds are kept per thread so the engine's progress callback and
//! every blocking primitive see the right ones without passing them through
//! the script. A primitive that blocks honours the same bounds: a blocked
//! native call does not tick the progress callback, so it must watch the
//! deadline itself.

use std::cell::RefCell;

use crate::k8s::wait::Bounds;

thread_local! {
    static CURRENT: RefCell<Vec<Scope>> = const { RefCell::new(Vec::new()) };
}

/// What a script on this thread is running for.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Deadline and cancellation.
    pub bounds: Bounds,
    /// The graph node being worked on, if any (for logs and attempts).
    pub node: Option<String>,
}

/// Runs `f` with `scope` as this thread's current script scope.
pub fn within<R>(scope: Scope, f: impl FnOnce() -> R) -> R {
    CURRENT.with(|c| c.borrow_mut().push(scope));
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            CURRENT.with(|c| {
                c.borrow_mut().pop();
            });
        }
    }
    let _pop = Pop;
    f()
}

/// The current scope of this thread, if a script is running on it.
pub fn current() -> Option<Scope> {
    CURRENT.with(|c| c.borrow().last().cloned())
}

thread_local! {
    static READ_ONLY: std::cell::Cell<Option<&'static str>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` (a health check or a compliance policy) with every write of
/// this thread refused as `why` (see [`crate::k8s::guard`]): they judge
/// what they are given and change nothing, in every action. A primitive's
/// requests run on the calling thread (`Host::block_on`), so the refusal
/// reaches every write the script asks for.
pub fn read_only<R>(why: &'static str, f: impl FnOnce() -> R) -> R {
    let outer = READ_ONLY.with(|flag| flag.replace(Some(why)));
    struct Restore(Option<&'static str>);
    impl Drop for Restore {
        fn drop(&mut self) {
            READ_ONLY.with(|flag| flag.set(self.0));
        }
    }
    let _restore = Restore(outer);
    f()
}

/// Why writes are refused on this thread right now, if they are.
pub fn read_only_reason() -> Option<&'static str> {
    READ_ONLY.with(std::cell::Cell::get)
}

/// Why a script was stopped from the outside.
pub const TERMINATED_DEADLINE: &str = "deadline";
/// The run was cancelled (signal or `ACTION_TIMEOUT`).
pub const TERMINATED_CANCELLED: &str = "cancelled";

/// The heap grew past [`crate::memory::SCRIPT_HEAP_LIMIT`] while the script ran.
pub const TERMINATED_MEMORY: &str = "memory";
/// The script computed for more than [`COMPUTE_BUDGET`].
pub const TERMINATED_COMPUTE: &str = "compute";

/// CPU time one script run may spend computing, not counting the time its
/// primitives spend on the cluster or the graph ([`excluded`]). Rhai's
/// operations limit stops a plain loop well before this; the budget stops
/// the loops it does not: each `a.push(x)` re-measures the whole array
/// (Rhai's data-size check), so a push loop costs quadratic time in few
/// operations and ran for minutes (issue 18).
pub const COMPUTE_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// This thread's compute meter: when the script run it measures started,
/// and the CPU time it may not count.
#[derive(Debug, Clone, Copy)]
struct Meter {
    started: std::time::Duration,
    excluded: std::time::Duration,
}

thread_local! {
    static METER: std::cell::Cell<Option<Meter>> = const { std::cell::Cell::new(None) };
}

fn thread_cpu() -> std::time::Duration {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    std::time::Duration::new(
        u64::try_from(time.tv_sec).unwrap_or(0),
        u32::try_from(time.tv_nsec).unwrap_or(0),
    )
}

/// Runs `f` (a primitive's wait on the cluster or the graph) without
/// counting its CPU time against the calling script's [`COMPUTE_BUDGET`].
pub fn excluded<R>(f: impl FnOnce() -> R) -> R {
    let before = thread_cpu();
    let result = f();
    let spent = thread_cpu().saturating_sub(before);
    METER.with(|meter| {
        if let Some(mut current) = meter.get() {
            current.excluded += spent;
            meter.set(Some(current));
        }
    });
    result
}

/// Checked by the engine's progress callback at every operation: the heap
/// limit always, the compute budget, deadline and cancellation every
/// `check_every` operations.
pub fn progress(operations: u64, check_every: u64) -> Option<&'static str> {
    if crate::memory::heap() > crate::memory::SCRIPT_HEAP_LIMIT {
        return Some(TERMINATED_MEMORY);
    }
    if !operations.is_multiple_of(check_every) {
        return None;
    }
    let now = thread_cpu();
    let over_budget = METER.with(|meter| match meter.get() {
        // Every run passes its first check at exactly `check_every`
        // operations (Rhai counts from 0 per run): a new run, on a thread
        // that may have run others before.
        Some(current) if operations != check_every => {
            now.saturating_sub(current.started).saturating_sub(current.excluded) > COMPUTE_BUDGET
        }
        _ => {
            meter.set(Some(Meter {
                started: now,
                excluded: std::time::Duration::ZERO,
            }));
            false
        }
    });
    if over_budget {
        return Some(TERMINATED_COMPUTE);
    }
    should_stop()
}

/// Checked by the engine's progress callback: `Some(reason)` stops the script.
pub fn should_stop() -> Option<&'static str> {
    CURRENT.with(|c| {
        let c = c.borrow();
        let scope = c.last()?;
        if scope.bounds.cancel.is_cancelled() {
            Some(TERMINATED_CANCELLED)
        } else if tokio::time::Instant::now() >= scope.bounds.deadline {
            Some(TERMINATED_DEADLINE)
        } else {
            None
        }
    })
}
