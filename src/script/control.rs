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

/// Why a script was stopped from the outside.
pub const TERMINATED_DEADLINE: &str = "deadline";
/// The run was cancelled (signal or `ACTION_TIMEOUT`).
pub const TERMINATED_CANCELLED: &str = "cancelled";

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
