//! DAG task `depends` expressions, as Argo Workflows evaluates them
//! (argoproj/argo-workflows `docs/enhanced-depends-logic.md`; `workflow/common/ancestry.go`
//! `GetTaskDependencies`, `expandDependency`, `ValidateTaskResults`;
//! `workflow/controller/dag.go` `evaluateDependsLogic`).
//!
//! Operands are `<task>.<Result>` with Result one of `Succeeded`, `Failed`,
//! `Errored`, `Skipped`, `Omitted`, `Daemoned`, `AnySucceeded`, `AllFailed`,
//! or a bare `<task>`, which means
//! `(<task>.Succeeded || <task>.Skipped || <task>.Daemoned)` (plus
//! `.Errored`/`.Failed` when that task has `continueOn.error`/`.failed`).
//! Operators: `&&`, `||`, `!` and parentheses, with expr-lang precedence
//! (`!` over `&&` over `||`). `dependencies: [A, B]` is `A && B`.

use std::collections::BTreeSet;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `a || b`.
    Or(Box<Expr>, Box<Expr>),
    /// `a && b`.
    And(Box<Expr>, Box<Expr>),
    /// `!a`.
    Not(Box<Expr>),
    /// `task.Result`.
    Result(String, String),
    /// A bare task name.
    Bare(String),
}

/// The results a `depends` operand may name.
pub const RESULTS: [&str; 8] = [
    "Succeeded",
    "Failed",
    "Errored",
    "Skipped",
    "Omitted",
    "Daemoned",
    "AnySucceeded",
    "AllFailed",
];

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    And,
    Or,
    Not,
    Open,
    Close,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            '!' => {
                out.push(Token::Not);
                i += 1;
            }
            '&' | '|' if chars.get(i + 1) == Some(&c) => {
                out.push(if c == '&' { Token::And } else { Token::Or });
                i += 2;
            }
            c if c.is_ascii_alphanumeric() => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '-' | '.' | '_')) {
                    i += 1;
                }
                out.push(Token::Name(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected '{other}' in depends expression '{text}'")),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        match self.tokens.get(self.pos).cloned() {
            Some(Token::Not) => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Some(Token::Open) => {
                self.pos += 1;
                let e = self.or()?;
                if self.peek() != Some(&Token::Close) {
                    return Err("missing ')' in depends expression".into());
                }
                self.pos += 1;
                Ok(e)
            }
            Some(Token::Name(n)) => {
                self.pos += 1;
                Ok(match n.split_once('.') {
                    Some((task, result)) => Expr::Result(task.to_string(), result.to_string()),
                    None => Expr::Bare(n),
                })
            }
            other => Err(format!("unexpected {other:?} in depends expression")),
        }
    }
}

/// Parses a `depends` expression.
///
/// # Errors
/// A syntax error.
pub fn parse(text: &str) -> Result<Expr, String> {
    let mut p = Parser {
        tokens: tokens(text)?,
        pos: 0,
    };
    let e = p.or()?;
    if p.pos != p.tokens.len() {
        return Err(format!("unexpected trailing input in depends expression '{text}'"));
    }
    Ok(e)
}

/// The expression of a task: its `depends`, or its `dependencies` joined by
/// `&&`; `None` for a task without either.
///
/// # Errors
/// A syntax error.
pub fn of_task(task: &serde_json::Value) -> Result<Option<Expr>, String> {
    if let Some(d) = task["depends"].as_str().filter(|d| !d.trim().is_empty()) {
        return parse(d).map(Some);
    }
    let deps: Vec<Expr> = task["dependencies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str().map(|s| Expr::Bare(s.to_string())))
        .collect();
    Ok(deps.into_iter().reduce(|a, b| Expr::And(Box::new(a), Box::new(b))))
}

impl Expr {
    /// The tasks the expression depends on.
    pub fn tasks(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.collect(&mut out);
        out
    }

    fn collect(&self, out: &mut BTreeSet<String>) {
        match self {
            Self::Or(a, b) | Self::And(a, b) => {
                a.collect(out);
                b.collect(out);
            }
            Self::Not(a) => a.collect(out),
            Self::Result(t, _) | Self::Bare(t) => {
                out.insert(t.clone());
            }
        }
    }

    /// The first `task.Result` whose result is not one Argo knows
    /// (`ValidateTaskResults`' message).
    pub fn invalid_result(&self) -> Option<String> {
        match self {
            Self::Or(a, b) | Self::And(a, b) => a.invalid_result().or_else(|| b.invalid_result()),
            Self::Not(a) => a.invalid_result(),
            Self::Result(t, r) if !RESULTS.contains(&r.as_str()) => {
                Some(format!("task result '{r}' for task '{t}' is invalid"))
            }
            _ => None,
        }
    }

    /// Evaluates with `phase(task)` (the dependency's node phase) and
    /// `continues(task)` (its `continueOn`: errors, failures).
    pub fn eval(&self, phase: &dyn Fn(&str) -> String, continues: &dyn Fn(&str) -> (bool, bool)) -> bool {
        match self {
            Self::Or(a, b) => a.eval(phase, continues) || b.eval(phase, continues),
            Self::And(a, b) => a.eval(phase, continues) && b.eval(phase, continues),
            Self::Not(a) => !a.eval(phase, continues),
            Self::Result(t, r) => result_holds(&phase(t), r),
            Self::Bare(t) => {
                let p = phase(t);
                let (on_error, on_failed) = continues(t);
                result_holds(&p, "Succeeded")
                    || result_holds(&p, "Skipped")
                    || result_holds(&p, "Daemoned")
                    || (on_error && result_holds(&p, "Errored"))
                    || (on_failed && result_holds(&p, "Failed"))
            }
        }
    }
}

/// `TaskResults` of dag.go for one node phase (no daemons or task groups
/// are simulated, so `Daemoned`, `AnySucceeded` and `AllFailed` are false).
fn result_holds(phase: &str, result: &str) -> bool {
    match result {
        "Succeeded" => phase == "Succeeded",
        "Failed" => phase == "Failed",
        "Errored" => phase == "Error",
        "Skipped" => phase == "Skipped",
        "Omitted" => phase == "Omitted",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str, phases: &[(&str, &str)]) -> bool {
        let phases: Vec<(String, String)> = phases.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        parse(text).unwrap().eval(
            &|t| {
                phases
                    .iter()
                    .find(|(n, _)| n == t)
                    .map(|(_, p)| p.clone())
                    .unwrap_or_default()
            },
            &|_| (false, false),
        )
    }

    /// One row: expression, dependency phases, whether the task runs.
    type Row<'a> = (&'a str, &'a [(&'a str, &'a str)], bool);

    /// The rules of argoproj/argo-workflows docs/enhanced-depends-logic.md, one row each.
    #[test]
    fn depends_rules_table() {
        let table: &[Row<'_>] = &[
            ("a", &[("a", "Succeeded")], true),
            ("a", &[("a", "Skipped")], true),
            ("a", &[("a", "Failed")], false),
            ("a", &[("a", "Error")], false),
            ("a", &[("a", "Omitted")], false),
            ("a.Succeeded", &[("a", "Skipped")], false),
            ("a.Failed", &[("a", "Failed")], true),
            ("a.Errored", &[("a", "Error")], true),
            ("a.Errored", &[("a", "Failed")], false),
            ("a.Skipped", &[("a", "Skipped")], true),
            ("a.Omitted", &[("a", "Omitted")], true),
            ("a.Daemoned", &[("a", "Succeeded")], false),
            ("!a.Failed", &[("a", "Succeeded")], true),
            ("a && b", &[("a", "Succeeded"), ("b", "Failed")], false),
            ("a || b", &[("a", "Failed"), ("b", "Succeeded")], true),
            (
                "task || task-2.Failed",
                &[("task", "Error"), ("task-2", "Failed")],
                true,
            ),
            (
                "(task-2.Succeeded || task-2.Skipped) && !task-3.Failed",
                &[("task-2", "Skipped"), ("task-3", "Succeeded")],
                true,
            ),
            (
                "(task-2.Succeeded || task-2.Skipped) && !task-3.Failed",
                &[("task-2", "Skipped"), ("task-3", "Failed")],
                false,
            ),
            // `!` binds tighter than `&&`, which binds tighter than `||`.
            (
                "a.Failed || b.Failed && c.Failed",
                &[("a", "Failed"), ("b", "Succeeded"), ("c", "Succeeded")],
                true,
            ),
            ("!a.Failed && b", &[("a", "Failed"), ("b", "Succeeded")], false),
        ];
        for (text, phases, want) in table {
            assert_eq!(eval(text, phases), *want, "{text} with {phases:?}");
        }
    }

    #[test]
    fn continue_on_widens_a_bare_dependency() {
        let e = parse("a").unwrap();
        assert!(e.eval(&|_| "Failed".into(), &|_| (false, true)));
        assert!(!e.eval(&|_| "Error".into(), &|_| (false, true)));
        assert!(e.eval(&|_| "Error".into(), &|_| (true, false)));
    }

    #[test]
    fn dependencies_and_validation() {
        let e = parse("(a.Succeeded || b) && !c-d.Failed").unwrap();
        assert_eq!(e.tasks().into_iter().collect::<Vec<_>>(), ["a", "b", "c-d"]);
        assert_eq!(
            parse("a.Finished").unwrap().invalid_result().as_deref(),
            Some("task result 'Finished' for task 'a' is invalid")
        );
        assert!(parse("a &&").is_err());
        assert!(parse("(a").is_err());
        let task = serde_json::json!({"name": "c", "dependencies": ["a", "b"]});
        assert_eq!(of_task(&task).unwrap().unwrap().tasks().len(), 2);
    }
}
