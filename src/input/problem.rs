//! Input problems: what is wrong with the executor's inputs, and where.
//!
//! Every input error (a flag, an environment variable, a mounted file) is a
//! [`Problem`]. Validation collects all of them before anything touches the
//! cluster, so an operator sees every mistake at once, each naming its source
//! (file and line/column, or variable) and what is expected. Any problem makes
//! the run `Invalid` (exit 3).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An environment variable or its command-line flag (named by the variable).
    Var(&'static str),
    /// A file, with an optional 1-based line and column.
    File {
        /// The file as the operator knows it (mounted path, or `bundled:<name>`);
        /// shared: a large graph has a source for every name and edge.
        path: Arc<Path>,
        /// Line and column, when known.
        position: Option<(u64, u64)>,
    },
    /// The command line itself.
    Args,
}

impl Source {
    /// A whole file, no position.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Source::File {
            path: Arc::from(path.into()),
            position: None,
        }
    }

    /// A position inside a file.
    pub fn at(path: impl Into<PathBuf>, line: u64, column: u64) -> Self {
        Source::File {
            path: Arc::from(path.into()),
            position: Some((line, column)),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Var(name) => f.write_str(name),
            Source::File { path, position: None } => write!(f, "{}", path.display()),
            Source::File {
                path,
                position: Some((line, column)),
            } => write!(f, "{}:{line}:{column}", path.display()),
            Source::Args => f.write_str("command line"),
        }
    }
}

/// One thing wrong with the inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where it was found.
    pub source: Source,
    /// The field concerned (`gitRevision`, `timeouts.sync`, ...), when there is one.
    pub field: Option<String>,
    /// What is wrong and what is expected; never contains a secret value.
    pub message: String,
}

impl Problem {
    /// A problem with a source and message.
    pub fn new(source: Source, message: impl Into<String>) -> Self {
        Problem {
            source,
            field: None,
            message: message.into(),
        }
    }

    /// Names the field the problem concerns.
    #[must_use]
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: {field}: {}", self.source, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

/// The problems found so far; validation keeps going after the first one.
#[derive(Debug, Default)]
pub struct Problems(Vec<Problem>);

impl Problems {
    /// Records a problem.
    pub fn push(&mut self, problem: Problem) {
        self.0.push(problem);
    }

    /// Records every problem of another collection.
    pub fn extend(&mut self, other: impl IntoIterator<Item = Problem>) {
        self.0.extend(other);
    }

    /// Keeps the value of a result, recording its problem otherwise.
    pub fn take<T>(&mut self, result: Result<T, Problem>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(problem) => {
                self.0.push(problem);
                None
            }
        }
    }

    /// True when nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems, in the order found.
    pub fn into_vec(self) -> Vec<Problem> {
        self.0
    }
}

impl IntoIterator for Problems {
    type Item = Problem;
    type IntoIter = std::vec::IntoIter<Problem>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Suggests the closest of `known` to a misspelt `name`, when one is close
/// enough: a small edit distance (typos, swapped letters) or a high
/// Jaro-Winkler similarity (shared prefix).
///
/// Bounded work (found by fuzzing, docs/fuzzing.md): a name longer than
/// [`MAX_SUGGESTED`] characters gets no suggestion (every name suggested is
/// a DNS label or a field name), candidates whose length differs by more
/// than the edit budget are not measured, and all suggestions of a process
/// together measure at most [`SUGGESTION_WORK`] character pairs: inputs
/// with thousands of unknown names get suggestions for the first ones only.
pub fn closest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let length = name.chars().count();
    if length > MAX_SUGGESTED {
        return None;
    }
    let budget = (length / 3).max(1);
    known
        .into_iter()
        .filter(|candidate| *candidate != name && candidate.len().abs_diff(name.len()) <= budget.max(3))
        .take_while(|candidate| spend(name.len() * candidate.len()))
        .map(|candidate| {
            let distance = strsim::osa_distance(name, candidate);
            let similarity = strsim::jaro_winkler(name, candidate);
            (distance, similarity, candidate)
        })
        .filter(|(distance, similarity, _)| *distance <= budget || *similarity >= 0.9)
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(b.2)))
        .map(|(_, _, candidate)| candidate)
}

/// Longest name [`closest`] looks for a suggestion for (a DNS label is at
/// most 63 characters).
pub const MAX_SUGGESTED: usize = 64;

/// Character pairs all of a process's suggestions may measure (a run
/// checks its inputs once): about 50 ms of work.
pub const SUGGESTION_WORK: usize = 20_000_000;

static SUGGESTION_LEFT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(SUGGESTION_WORK);

/// Takes `cost` from the suggestion budget; false once it is spent.
fn spend(cost: usize) -> bool {
    use std::sync::atomic::Ordering;
    SUGGESTION_LEFT
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(cost))
        .is_ok()
}

/// Formats "did you mean" text for a suggestion, or nothing.
pub fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let known = ["name", "domain", "gitRepository", "gitRevision"];
        assert_eq!(closest("nmae", known), Some("name"));
        assert_eq!(closest("gitRevison", known), Some("gitRevision"));
        assert_eq!(closest("zzz", known), None);
        assert_eq!(closest("dsn", ["dns", "net"]), Some("dns"));
    }

    #[test]
    fn display_names_file_position_and_field() {
        let p = Problem::new(Source::at("/config/environment.yaml", 3, 1), "unknown field").field("nmae");
        assert_eq!(p.to_string(), "/config/environment.yaml:3:1: nmae: unknown field");
    }
}
