//! The live view of a run, for a person watching a terminal.
//!
//! Active only when stderr is a terminal and `LOG_FORMAT=text`: a summary
//! line (waiting / running / healthy / failed / skipped, elapsed time, the
//! critical path so far) and one line per running node with its elapsed
//! time, redrawn in place below the log lines. Anywhere else the run's log
//! lines are the whole story. Nothing of it ever reaches stdout, where the
//! report goes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

static ACTIVE: OnceLock<Arc<Progress>> = OnceLock::new();

/// The live view.
pub struct Progress {
    bars: MultiProgress,
    summary: ProgressBar,
    state: Mutex<State>,
    started: Instant,
}

#[derive(Default)]
struct State {
    prerequisites: BTreeMap<String, Vec<String>>,
    running: BTreeMap<String, (ProgressBar, Instant)>,
    done: BTreeMap<String, (&'static str, Duration)>,
    critical: BTreeMap<String, Duration>,
}

/// Turns the live view on for a run of `nodes` (name → prerequisites).
pub fn enable(nodes: BTreeMap<String, Vec<String>>) {
    let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
    let summary = bars.add(ProgressBar::new_spinner());
    summary.set_style(
        ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    summary.enable_steady_tick(Duration::from_millis(250));
    let progress = Arc::new(Progress {
        bars,
        summary,
        state: Mutex::new(State {
            prerequisites: nodes,
            ..State::default()
        }),
        started: Instant::now(),
    });
    progress.refresh();
    let _ = ACTIVE.set(progress);
}

/// Whether the live view is on.
pub fn active() -> bool {
    ACTIVE.get().is_some()
}

/// Prints a log line above the live view (or to stderr without one).
pub fn println(line: &str) {
    match ACTIVE.get() {
        Some(progress) => {
            let _ = progress.bars.println(line.trim_end_matches('\n'));
        }
        None => eprint!("{line}"),
    }
}

/// A node started.
pub fn started(name: &str) {
    if let Some(progress) = ACTIVE.get() {
        let bar = progress.bars.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("  {spinner} {prefix:<28} running {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(name.to_owned());
        bar.enable_steady_tick(Duration::from_millis(250));
        if let Ok(mut state) = progress.state.lock() {
            state.running.insert(name.to_owned(), (bar, Instant::now()));
        }
        progress.refresh();
    }
}

/// A node ended as `end` (`healthy`, `failed`, `skipped`).
pub fn finished(name: &str, end: &'static str) {
    if let Some(progress) = ACTIVE.get() {
        if let Ok(mut state) = progress.state.lock() {
            let took = match state.running.remove(name) {
                Some((bar, since)) => {
                    bar.finish_and_clear();
                    progress.bars.remove(&bar);
                    since.elapsed()
                }
                None => Duration::ZERO,
            };
            let before = state
                .prerequisites
                .get(name)
                .map(|p| {
                    p.iter()
                        .filter_map(|d| state.critical.get(d))
                        .max()
                        .copied()
                        .unwrap_or_default()
                })
                .unwrap_or_default();
            state.critical.insert(name.to_owned(), before + took);
            state.done.insert(name.to_owned(), (end, took));
        }
        progress.refresh();
    }
}

/// Clears the live view at the end of the run.
pub fn finish() {
    if let Some(progress) = ACTIVE.get() {
        if let Ok(state) = progress.state.lock() {
            for (bar, _) in state.running.values() {
                bar.finish_and_clear();
            }
        }
        progress.refresh();
        progress.summary.finish();
    }
}

impl Progress {
    fn refresh(&self) {
        let Ok(state) = self.state.lock() else {
            return;
        };
        let count = |end: &str| state.done.values().filter(|(e, _)| *e == end).count();
        let finished: BTreeSet<&String> = state.done.keys().collect();
        let waiting = state
            .prerequisites
            .keys()
            .filter(|n| !finished.contains(n) && !state.running.contains_key(*n))
            .count();
        let critical = state.critical.values().max().copied().unwrap_or_default();
        self.summary.set_message(format!(
            "waiting {waiting} · running {} · healthy {} · failed {} · skipped {} · elapsed {:.1}s · critical path {:.1}s",
            state.running.len(),
            count("healthy"),
            count("failed"),
            count("skipped"),
            self.started.elapsed().as_secs_f64(),
            critical.as_secs_f64()
        ));
    }
}
