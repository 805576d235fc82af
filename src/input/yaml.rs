//! Reading YAML input files into typed values, with positions in every error.
//!
//! The project has one YAML library, `serde-saphyr`. Its errors carry a line
//! and column; this module turns them into [`Problem`]s of the form
//! `file:line:column: message`, and adds a "did you mean" to unknown-field
//! errors so a typo in a mounted file is a one-glance fix.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_saphyr::{Location, SnippetMode, render_options};

use super::problem::{Problem, Source, closest, did_you_mean};

/// Parses `text` (read from `path`) as one YAML document of type `T`.
///
/// # Errors
/// A [`Problem`] at the position serde-saphyr reports, naming unknown fields
/// and suggesting the closest known one.
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, Problem> {
    if text.trim().is_empty() {
        return Err(Problem::new(
            Source::file(path),
            "the file is empty; expected a YAML mapping",
        ));
    }
    serde_saphyr::from_str(text).map_err(|error| {
        let source = match error.location() {
            Some(at) => Source::at(path, at.line(), at.column()),
            None => Source::file(path),
        };
        Problem::new(source, explain(&error))
    })
}

/// The position of a value, for problems found after parsing.
pub fn source_at(path: &Path, location: &Location) -> Source {
    if *location == Location::UNKNOWN {
        Source::file(path)
    } else {
        Source::at(path, location.line(), location.column())
    }
}

/// The error message without serde-saphyr's own position prefix and snippet,
/// with a suggestion for unknown fields.
fn explain(error: &serde_saphyr::Error) -> String {
    let plain = error.render_with_options(render_options! { snippets: SnippetMode::Off });
    let message = strip_position(plain.trim()).to_owned();
    match unknown_field(&message) {
        Some((field, expected)) => {
            let hint = did_you_mean(closest(field, expected.iter().copied()));
            format!("unknown field `{field}`{hint}; known fields: {}", expected.join(", "))
        }
        None => message,
    }
}

/// Removes a leading `line N column M: ` or trailing ` at line N, column M`.
fn strip_position(message: &str) -> &str {
    let message = message.strip_prefix("error: ").unwrap_or(message);
    if let Some(rest) = message.strip_prefix("line ")
        && let Some((_, tail)) = rest.split_once(": ")
    {
        return tail;
    }
    match message.rfind(" at line ") {
        Some(index) => &message[..index],
        None => message,
    }
}

/// Splits serde's "unknown field `x`, expected one of a, b" message.
fn unknown_field(message: &str) -> Option<(&str, Vec<&str>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected = rest
        .trim_start_matches(", expected one of ")
        .trim_start_matches(", expected ")
        .split(", ")
        .map(|name| name.trim_matches('`'))
        .filter(|name| !name.is_empty() && !name.starts_with("there are no fields"))
        .collect();
    Some((field, expected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)] // only parsed
    struct Doc {
        name: String,
        git_revision: Option<String>,
    }

    #[test]
    fn unknown_field_has_position_and_suggestion() {
        let error = parse::<Doc>(Path::new("env.yaml"), "name: a\ngitRevison: main\n").unwrap_err();
        assert_eq!(error.source, Source::at("env.yaml", 2, 1));
        assert_eq!(
            error.message,
            "unknown field `gitRevison` (did you mean `gitRevision`?); known fields: name, gitRevision"
        );
    }

    #[test]
    fn wrong_type_names_the_position() {
        let error = parse::<Doc>(Path::new("env.yaml"), "name: [1, 2]\n").unwrap_err();
        assert_eq!(error.source, Source::at("env.yaml", 1, 7));
        assert!(error.message.contains("expected"), "{}", error.message);
        assert!(!error.message.contains("line 1"), "{}", error.message);
    }

    #[test]
    fn empty_file_is_a_problem() {
        let error = parse::<Doc>(Path::new("env.yaml"), "  \n").unwrap_err();
        assert!(error.message.contains("empty"));
    }
}
