//! Compiling every script a run will use, before the run starts.
//!
//! The action script (with its imports), the hooks named in the plan, the
//! health checks and the policies are all compiled up front; a syntax error
//! anywhere is an input problem (exit 3) reported as
//! `path:line:column: message (bundled|override)`, before any cluster work.

use std::collections::BTreeMap;
use std::sync::Arc;

use rhai::{AST, Dynamic, Engine, Scope};

use super::calls::{KnownFunctions, unknown};
use super::error::{Origins, ScriptError, from_rhai};
use super::source::{Library, Source};
use crate::dag::{HookPoint, Plan};
use crate::input::problem::{Problem, Source as ProblemSource};

/// A compiled script and where it came from.
#[derive(Debug, Clone)]
pub struct Script {
    /// Its source (text, display path, origin).
    pub source: Source,
    /// The compiled, self-contained AST (imports embedded).
    pub ast: Arc<AST>,
}

/// Everything a run will execute, compiled.
#[derive(Debug, Default)]
pub struct Compiled {
    /// The action script, when compiling for an action.
    pub action: Option<Script>,
    /// Hook scripts by their path in `dag.yaml`.
    pub hooks: BTreeMap<String, Script>,
    /// Health checks by key (`<group>_<Kind>`).
    pub health: BTreeMap<String, Script>,
    /// Compliance policies by name.
    pub policies: BTreeMap<String, Script>,
}

/// The scope every script is compiled and run with: `ctx` is defined.
pub fn script_scope(ctx: Dynamic) -> Scope<'static> {
    let mut scope = Scope::new();
    scope.push_constant("ctx", ctx);
    scope
}

/// Compiles one source; `Err` carries the located error.
///
/// # Errors
/// The script's first syntax error (or an import's).
pub fn compile(engine: &Engine, source: Source, origins: &Origins) -> Result<Script, ScriptError> {
    origins.record(&source.display, source.origin);
    // `ctx` is declared for strict variables but as a plain variable, so the
    // optimizer cannot fold the placeholder value into the script.
    let mut scope = Scope::new();
    scope.push("ctx", Dynamic::UNIT);
    let mut ast = engine
        .compile_into_self_contained(&scope, &source.text)
        .map_err(|error| from_rhai(&error, &source.display, origins))?;
    ast.set_source(source.display.as_str());
    tracing::debug!(phase = "scripts", "compiled {} ({})", source.display, source.origin);
    Ok(Script {
        source,
        ast: Arc::new(ast),
    })
}

fn problem(error: &ScriptError) -> Problem {
    Problem::new(
        ProblemSource::file(error.path.clone()),
        error
            .to_string()
            .trim_start_matches(&format!("{}:", error.path))
            .trim_start_matches(' ')
            .to_owned(),
    )
}

/// Problem for a script error, keeping the exact `path:line:column: message (origin)` text.
pub fn script_problem(error: &ScriptError) -> Problem {
    let mut p = problem(error);
    p.source = match error.position {
        Some((line, column)) => ProblemSource::at(error.path.clone(), line as u64, column as u64),
        None => ProblemSource::file(error.path.clone()),
    };
    p.message = match error.position {
        Some((line, column)) => error
            .to_string()
            .trim_start_matches(&format!("{}:{line}:{column}: ", error.path))
            .to_owned(),
        None => error
            .to_string()
            .trim_start_matches(&format!("{}: ", error.path))
            .to_owned(),
    };
    p
}

/// Which scripts to compile.
#[derive(Debug, Clone, Copy)]
pub struct Needs<'a> {
    /// The action script (`deploy.rhai`, ...), if any.
    pub action: Option<&'a str>,
    /// The plan whose hooks are needed.
    pub plan: Option<&'a Plan>,
    /// Whether health checks are needed.
    pub health: bool,
    /// Whether policies are needed.
    pub policies: bool,
}

/// Compiles everything `needs` names, collecting every problem.
///
/// # Errors
/// A problem per script that cannot be read or compiled, that calls a
/// function existing nowhere ([`super::calls`]), or that lacks the
/// function its role requires with the right number of parameters.
pub fn compile_all(
    engine: &Engine,
    library: &Library,
    origins: &Origins,
    needs: Needs<'_>,
) -> Result<Compiled, Vec<Problem>> {
    let mut compiler = Compiler {
        engine,
        origins,
        known: KnownFunctions::of(engine),
        problems: Vec::new(),
    };
    let mut compiled = Compiled::default();
    if let Some(action) = needs.action {
        compiled.action = compiler.take(library.tree(action), "action script");
    }
    if let Some(plan) = needs.plan {
        compiled.hooks = compiler.hooks(library, plan);
    }
    if needs.health {
        compiled.health = compiler.collection(library.health_checks(), "health check", "health");
    }
    if needs.policies {
        compiled.policies = compiler.collection(library.policies(), "policy", "check");
    }
    if compiler.problems.is_empty() {
        Ok(compiled)
    } else {
        Err(compiler.problems)
    }
}

/// One [`compile_all`]: what it compiles with, and the problems so far.
struct Compiler<'a> {
    engine: &'a Engine,
    origins: &'a Origins,
    known: KnownFunctions,
    problems: Vec<Problem>,
}

impl Compiler<'_> {
    /// Compiles `source` (`what` names it in problems), checking that every
    /// function it calls exists.
    fn take(&mut self, source: Result<Source, String>, what: &str) -> Option<Script> {
        let source = match source {
            Ok(source) => source,
            Err(message) => {
                self.problems
                    .push(Problem::new(ProblemSource::Args, format!("{what}: {message}")));
                return None;
            }
        };
        let script = match compile(self.engine, source, self.origins) {
            Ok(script) => script,
            Err(error) => {
                self.problems.push(script_problem(&error));
                return None;
            }
        };
        for (name, position) in unknown(&self.known, &script.ast) {
            let at = match (position.line(), position.position()) {
                (Some(line), Some(column)) => {
                    ProblemSource::at(script.source.display.clone(), line as u64, column as u64)
                }
                _ => ProblemSource::file(script.source.display.clone()),
            };
            self.problems.push(Problem::new(
                at,
                format!(
                    "`{name}` is not a function: not a primitive, not defined in the script ({})",
                    script.source.origin
                ),
            ));
        }
        tracing::info!(
            phase = "scripts",
            "{what}: {} ({})",
            script.source.display,
            script.source.origin
        );
        Some(script)
    }

    /// The hook scripts of `plan`'s nodes by path, each defining its hook
    /// point's function with two parameters (`node, ctx`).
    fn hooks(&mut self, library: &Library, plan: &Plan) -> BTreeMap<String, Script> {
        let mut hooks = BTreeMap::new();
        for node in &plan.nodes {
            for (point, path) in &node.hooks {
                if hooks.contains_key(path) {
                    continue;
                }
                let Some(script) = self.take(library.hook(path), &format!("hook {point} of {}", node.name)) else {
                    continue;
                };
                let wanted = HookPoint::ALL
                    .iter()
                    .find(|p| p.key() == point)
                    .map_or("", |p| p.function());
                let arities: Vec<usize> = script
                    .ast
                    .iter_functions()
                    .filter(|f| f.name == wanted)
                    .map(|f| f.params.len())
                    .collect();
                if !arities.contains(&2) {
                    let found = match arities.first() {
                        None => String::new(),
                        Some(n) => format!(
                            " (it defines `fn {wanted}` with {n} parameter{})",
                            if *n == 1 { "" } else { "s" }
                        ),
                    };
                    self.problems.push(Problem::new(
                        ProblemSource::file(script.source.display.clone()),
                        format!(
                            "hook script for {point} of `{}` defines no `fn {wanted}(node, ctx)`{found}",
                            node.name
                        ),
                    ));
                }
                hooks.insert(path.clone(), script);
            }
        }
        hooks
    }

    /// Health checks or policies by key, each defining `function` with
    /// one parameter.
    fn collection(
        &mut self,
        sources: Result<Vec<(String, Source)>, String>,
        what: &str,
        function: &str,
    ) -> BTreeMap<String, Script> {
        let mut out = BTreeMap::new();
        let sources = match sources {
            Ok(sources) => sources,
            Err(message) => {
                self.problems
                    .push(Problem::new(ProblemSource::Args, format!("{what}: {message}")));
                return out;
            }
        };
        for (key, source) in sources {
            let Some(script) = self.take(Ok(source), &format!("{what} {key}")) else {
                continue;
            };
            if !script
                .ast
                .iter_functions()
                .any(|f| f.name == function && f.params.len() == 1)
            {
                self.problems.push(Problem::new(
                    ProblemSource::file(script.source.display.clone()),
                    format!("{what} `{key}` defines no `fn {function}(...)` with one parameter"),
                ));
            }
            out.insert(key, script);
        }
        out
    }
}
