//! What a variable of the executor's contract is, and how its value is read.
//!
//! Every input that is an environment variable (each also a flag) is one
//! [`Variable`] of the table in [`super::inputs`]: its name, flag, default,
//! parser and documentation in one place. That one description drives the
//! command line ([`crate::cli`] builds its clap arguments from it), the
//! validation (the generic reader [`Values::read`]: parse, record a
//! [`Problem`] naming the variable, fall back to the default) and the
//! configuration reference (docs/configuration.md's table of variables,
//! which a test keeps equal to [`reference()`]).
//!
//! [`Values`] holds what the operator gave, as given (flag or variable, the
//! flag winning); nothing here touches the environment itself.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt::Display;
use std::path::PathBuf;
use std::str::FromStr;

use crate::input::problem::{Problem, Problems, Source};

/// How a variable's value is given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A UTF-8 text value.
    Text,
    /// A file or directory path (any bytes the platform allows).
    Path,
    /// A boolean whose flag may be given without a value (`--dry-run`
    /// means `--dry-run=true`).
    Switch,
}

/// What a variable is when it is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Nothing: the setting is off or absent.
    Nothing,
    /// This text, parsed like a given value (and documented as code).
    Value(&'static str),
    /// Something the code decides (a terminal, the version); only described.
    Described(&'static str),
}

/// The untyped description of a variable: everything but its parser.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The environment variable, e.g. `LOG_LEVEL`.
    pub env: &'static str,
    /// The long flag without its dashes, e.g. `log-level`.
    pub flag: &'static str,
    /// The placeholder of the value in `--help`.
    pub value_name: &'static str,
    /// How the value is given.
    pub kind: Kind,
    /// What it is when not set.
    pub fallback: Fallback,
    /// The reference's "required" column (`no`, `yes`, `for teardown`...).
    pub required: &'static str,
    /// A secret: `--help` never shows its value from the environment.
    pub secret: bool,
    /// Not shown in `--help` (set by the executor itself, not by hand).
    pub hidden: bool,
    /// One line of `--help`.
    pub help: &'static str,
    /// The reference's "meaning" column (Markdown).
    pub doc: &'static str,
}

/// A variable whose value parses to a `T`.
pub struct Variable<T: 'static> {
    /// Its description.
    pub spec: Spec,
    /// Its parser: the value, or why the text is not one (the message of
    /// the problem, which names the variable).
    pub parse: fn(&str) -> Result<T, String>,
}

impl<T> Variable<T> {
    /// A text variable, not required, without default, help or doc yet.
    pub const fn new(
        env: &'static str,
        flag: &'static str,
        value_name: &'static str,
        parse: fn(&str) -> Result<T, String>,
    ) -> Self {
        Variable {
            spec: Spec {
                env,
                flag,
                value_name,
                kind: Kind::Text,
                fallback: Fallback::Nothing,
                required: "no",
                secret: false,
                hidden: false,
                help: "",
                doc: "",
            },
            parse,
        }
    }

    /// Its default, parsed like a given value.
    pub const fn default(mut self, value: &'static str) -> Self {
        self.spec.fallback = Fallback::Value(value);
        self
    }

    /// What happens when it is not set, described (for the reference).
    pub const fn otherwise(mut self, description: &'static str) -> Self {
        self.spec.fallback = Fallback::Described(description);
        self
    }

    /// The reference's "required" column.
    pub const fn required(mut self, when: &'static str) -> Self {
        self.spec.required = when;
        self
    }

    /// Its line of `--help`.
    pub const fn help(mut self, help: &'static str) -> Self {
        self.spec.help = help;
        self
    }

    /// Its meaning in the reference.
    pub const fn doc(mut self, doc: &'static str) -> Self {
        self.spec.doc = doc;
        self
    }

    /// A path rather than text.
    pub const fn path(mut self) -> Self {
        self.spec.kind = Kind::Path;
        self
    }

    /// A boolean whose flag may go without a value.
    pub const fn switch(mut self) -> Self {
        self.spec.kind = Kind::Switch;
        self
    }

    /// A secret: its value from the environment is never shown in `--help`.
    pub const fn secret(mut self) -> Self {
        self.spec.secret = true;
        self
    }

    /// Left out of `--help`.
    pub const fn hidden(mut self) -> Self {
        self.spec.hidden = true;
        self
    }
}

/// Any variable of the table, whatever its type.
pub trait Input: Sync {
    /// Its description.
    fn spec(&self) -> &Spec;
    /// Whether `text` is a valid value (the table's test checks every default).
    ///
    /// # Errors
    /// Why it is not, as the problem would say.
    fn check(&self, text: &str) -> Result<(), String>;
}

impl<T> Input for Variable<T> {
    fn spec(&self) -> &Spec {
        &self.spec
    }

    fn check(&self, text: &str) -> Result<(), String> {
        (self.parse)(text).map(|_| ())
    }
}

/// The parser of a type with its own [`FromStr`], whose error says what is
/// wrong with the text.
pub fn from_str<T>(text: &str) -> Result<T, String>
where
    T: FromStr,
    T::Err: Display,
{
    text.parse().map_err(|e: T::Err| e.to_string())
}

/// The parser of a value taken as it is.
pub fn text(text: &str) -> Result<String, String> {
    Ok(text.to_owned())
}

/// The values given for the variables (flag or environment), by variable.
#[derive(Debug, Clone, Default)]
pub struct Values {
    given: BTreeMap<&'static str, OsString>,
}

impl Values {
    /// Sets `variable` to `value`, as if given.
    pub fn set(&mut self, variable: &Spec, value: impl Into<OsString>) {
        self.given.insert(variable.env, value.into());
    }

    /// These values with `variable` set to `value`.
    #[must_use]
    pub fn with(mut self, variable: &Spec, value: impl Into<OsString>) -> Self {
        self.set(variable, value);
        self
    }

    /// The value as given, whatever its bytes.
    pub fn os(&self, variable: &Spec) -> Option<&OsStr> {
        self.given.get(variable.env).map(OsString::as_os_str)
    }

    /// The value as given (possibly empty or padded), when it is text.
    pub fn raw(&self, variable: &Spec) -> Option<&str> {
        self.given.get(variable.env).and_then(|value| value.to_str())
    }

    /// The value when given and not blank, trimmed.
    pub fn text(&self, variable: &Spec) -> Option<&str> {
        self.raw(variable).map(str::trim).filter(|v| !v.is_empty())
    }

    /// The value when given and not blank, else the default's text.
    pub fn text_or_default(&self, variable: &Spec) -> Option<&str> {
        self.text(variable).or(match variable.fallback {
            Fallback::Value(value) => Some(value),
            Fallback::Nothing | Fallback::Described(_) => None,
        })
    }

    /// A path variable: the path when given and not empty, else its default.
    pub fn path(&self, variable: &Variable<PathBuf>) -> Option<PathBuf> {
        match self.os(&variable.spec) {
            Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
            _ => match variable.spec.fallback {
                Fallback::Value(default) => Some(PathBuf::from(OsStr::new(default))),
                Fallback::Nothing | Fallback::Described(_) => None,
            },
        }
    }

    /// The value of a variable that has a default: the given value, parsed;
    /// when it does not parse, a problem naming the variable and the
    /// default. `T::default()` stands in only for a default that does not
    /// parse, which the table's test rules out.
    pub fn read<T: Default>(&self, variable: &Variable<T>, problems: &mut Problems) -> T {
        self.read_optional(variable, problems).unwrap_or_default()
    }

    /// The value of a variable: the given value, parsed; when it does not
    /// parse, a problem naming the variable and then its default; `None`
    /// when neither gives one.
    pub fn read_optional<T>(&self, variable: &Variable<T>, problems: &mut Problems) -> Option<T> {
        let parsed = self.text(&variable.spec).and_then(|text| {
            (variable.parse)(text)
                .map_err(|message| problems.push(Problem::new(Source::Var(variable.spec.env), message)))
                .ok()
        });
        parsed.or_else(|| match variable.spec.fallback {
            Fallback::Value(default) => (variable.parse)(default).ok(),
            Fallback::Nothing | Fallback::Described(_) => None,
        })
    }
}

/// The reference's table of variables (docs/configuration.md), in Markdown.
pub fn reference(inputs: &[&dyn Input]) -> String {
    let mut out = String::from("| variable | flag | required | default | meaning |\n|---|---|---|---|---|\n");
    for input in inputs {
        let spec = input.spec();
        let default = match spec.fallback {
            Fallback::Nothing => String::new(),
            Fallback::Value(value) => format!("`{value}`"),
            Fallback::Described(text) => text.to_owned(),
        };
        let row = format!(
            "| `{}` | `--{}` | {} | {} | {} |",
            spec.env, spec.flag, spec.required, default, spec.doc
        );
        out.push_str(&row.replace("|  |", "| |"));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::inputs::{CONCURRENCY, CONFIG_DIR, ENVIRONMENT, LOCK_TIMEOUT, TARGET_SCOPE};

    #[test]
    fn a_value_that_does_not_parse_is_a_problem_naming_the_variable_and_falls_back() {
        let values = Values::default().with(&CONCURRENCY.spec, " 0 ");
        let mut problems = Problems::default();
        assert_eq!(values.read(&CONCURRENCY, &mut problems), 16);
        assert_eq!(
            problems.into_vec()[0].to_string(),
            "CONCURRENCY: `0` is not a concurrency; expected a whole number from 1 to 1000"
        );
    }

    #[test]
    fn blank_values_are_not_set() {
        let values = Values::default()
            .with(&TARGET_SCOPE.spec, "  ")
            .with(&CONFIG_DIR.spec, "")
            .with(&ENVIRONMENT.spec, "");
        let mut problems = Problems::default();
        assert_eq!(values.read(&TARGET_SCOPE, &mut problems), crate::dag::Scope::Platform);
        assert_eq!(values.text_or_default(&TARGET_SCOPE.spec), Some("platform"));
        assert_eq!(values.path(&CONFIG_DIR), Some(PathBuf::from("/config")));
        assert_eq!(values.read_optional(&ENVIRONMENT, &mut problems), None);
        assert_eq!(values.read(&LOCK_TIMEOUT, &mut problems), std::time::Duration::ZERO);
        assert!(problems.is_empty());
    }
}
