//! `TARGET_SCOPE` (`platform`, `stack:<name>`, `app:<name>`):
//! `executor::dag::plan::Scope`'s `FromStr`, then a plan for that scope over
//! the bundled graph, as an action builds it (unknown names are problems
//! with a "did you mean").
//!
//! Property: a plan or a problem, never a panic, a hang or unbounded memory.

#![no_main]

use std::sync::OnceLock;

use executor::config::environment::Timeouts;
use executor::dag::ValidGraph;
use executor::dag::plan::{self, Action, Scope};
use libfuzzer_sys::fuzz_target;

fn bundled() -> &'static ValidGraph {
    static GRAPH: OnceLock<ValidGraph> = OnceLock::new();
    GRAPH.get_or_init(|| executor::dag::load::bundled().expect("the bundled graph is valid"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match text.parse::<Scope>() {
        Err(message) => {
            let _ = message;
        }
        Ok(scope) => {
            let _ = scope.to_string();
            for action in [Action::Deploy, Action::Teardown] {
                if let Err(problem) = plan::build(bundled(), action, &scope, Timeouts::default()) {
                    let _ = problem.to_string();
                }
            }
        }
    }
});
