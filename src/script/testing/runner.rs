//! `executor test [PATH...]`: runs `*.test.rhai` files against the fake
//! cluster.
//!
//! Every `fn test_*()` of a file runs on its own fresh fake cluster, seeded
//! from `<file stem>.fixtures.yaml` beside the test file when there is one
//! (and from `test::add`/`test::add_yaml` in the test). Without paths, the
//! bundled scripts' own tests run. Output: one line per test, then the last
//! line `N passed, N failed`; the command succeeds only if all pass.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rhai::{CallFnOptions, Dynamic, Scope};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::asserts::{self, parse_documents};
use super::fake::FakeCluster;
use crate::config::PvPolicy;
use crate::config::environment::{self, EnvironmentConfig, Retries, Timeouts};
use crate::dag::{self, Action, Scope as PlanScope};
use crate::k8s::wait::Bounds;
use crate::observe::trace::TraceContext;
use crate::script::compile::{Needs, compile, compile_all};
use crate::script::context::{self, ContextParts};
use crate::script::control;
use crate::script::engine::{self, Limits};
use crate::script::error::{Origins, from_rhai};
use crate::script::host::{Host, HostParts, RunSettings};
use crate::script::primitives;
use crate::script::source::{self, Library, Origin, Source};

/// How long one test may run.
const TEST_DEADLINE: Duration = Duration::from_secs(20);

/// Totals of a test run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed (or files that did not compile).
    pub failed: usize,
}

/// A test file to run.
struct TestFile {
    source: Source,
    fixtures: Vec<Value>,
    fixture_error: Option<String>,
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for entry in entries {
            collect(&entry, out);
        }
    } else if path.to_string_lossy().ends_with(".test.rhai") {
        out.push(path.to_owned());
    }
}

fn files(paths: &[PathBuf]) -> Result<Vec<TestFile>, String> {
    if paths.is_empty() {
        return Ok(source::bundled_names()
            .filter(|n| n.ends_with(".test.rhai"))
            .filter_map(|name| {
                let text = source::bundled(name)?;
                let display = if name.starts_with("stdlib/") {
                    name.to_owned()
                } else {
                    format!("scripts/{name}")
                };
                Some(TestFile {
                    source: Source {
                        name: name.to_owned(),
                        display,
                        text: text.to_owned(),
                        origin: Origin::Bundled,
                    },
                    fixtures: Vec::new(),
                    fixture_error: None,
                })
            })
            .collect());
    }
    let mut found = Vec::new();
    for path in paths {
        if !path.exists() {
            return Err(format!("{}: no such file or directory", path.display()));
        }
        collect(path, &mut found);
    }
    if found.is_empty() {
        return Err("no *.test.rhai files found".to_owned());
    }
    Ok(found
        .into_iter()
        .map(|path| {
            let text = crate::input::input_file::read_text(&path, crate::input::input_file::MAX_SCRIPT, None)
                .unwrap_or_else(|error| format!("throw \"{} {error}\";", path.display()));
            let stem = path
                .file_name()
                .map(|f| f.to_string_lossy().trim_end_matches(".test.rhai").to_owned())
                .unwrap_or_default();
            let fixture_path = path.with_file_name(format!("{stem}.fixtures.yaml"));
            let (fixtures, fixture_error) = match std::fs::read_to_string(&fixture_path) {
                Ok(yaml) => match parse_documents(&yaml) {
                    Ok(docs) => (docs, None),
                    Err(e) => (Vec::new(), Some(format!("{}: {e}", fixture_path.display()))),
                },
                Err(_) => (Vec::new(), None),
            };
            TestFile {
                source: Source {
                    name: path.display().to_string(),
                    display: path.display().to_string(),
                    text,
                    origin: Origin::Override,
                },
                fixtures,
                fixture_error,
            }
        })
        .collect())
}

/// The environment tests run in: `$CONFIG_DIR/environment.yaml` if present.
fn test_environment(config_dir: &Path) -> Result<EnvironmentConfig, String> {
    let path = config_dir.join("environment.yaml");
    if path.exists() {
        return environment::load(&path).map_err(|p| p.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "));
    }
    Ok(EnvironmentConfig {
        name: "test".to_owned(),
        domain: "test.example.com".to_owned(),
        git_repository: "https://git.example.com/platform.git".to_owned(),
        git_revision: "main".to_owned(),
        cluster_name: None,
        argocd_namespace: "argocd".to_owned(),
        workflows_namespace: "argo".to_owned(),
        timeouts: Timeouts::default(),
        retries: Retries {
            max_attempts: 2,
            backoff: Duration::from_millis(10),
        },
    })
}

/// Runs the tests of `paths` (bundled tests when empty), writing one line
/// per test and the totals to `out`.
///
/// # Errors
/// When the inputs themselves are unusable (no files, bad graph or environment).
pub fn run(paths: &[PathBuf], config_dir: &Path, out: &mut dyn Write) -> Result<Totals, String> {
    let files = files(paths)?;
    let environment = test_environment(config_dir)?;
    let graph = dag::load(config_dir).map_err(|p| p.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))?;
    let plan = dag::plan::build(&graph, Action::Deploy, &PlanScope::Platform, environment.timeouts)
        .map_err(|p| p.to_string())?;
    let critical = graph.graph.apps().map(|(_, a)| (a.name.name.clone(), true)).collect();
    let trace = TraceContext::from_inputs(None, None).map_err(|e| e.to_string())?;
    let ctx = context::build(
        &ContextParts {
            action: "deploy",
            tier: "development",
            dry_run: false,
            scope: "platform".to_owned(),
            pv_policy: PvPolicy::Retain,
            teardown_crds: false,
            environment: &environment,
            plan: &plan,
            critical: &critical,
            trace: &trace,
            task: false,
            orchestration: crate::config::Orchestration::Local,
        },
        &std::sync::Arc::new(plan.clone()),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let library = Library::new(config_dir);
    let mut totals = Totals::default();
    for file in &files {
        // Find the tests with a throwaway engine.
        let world = World::new(&runtime, &library, &ctx, &plan, &environment, &trace);
        let tests: Vec<String> = match compile(&world.engine, file.source.clone(), &world.origins) {
            Ok(script) => {
                let mut names: Vec<String> = script
                    .ast
                    .iter_functions()
                    .filter(|f| f.name.starts_with("test_") && f.params.is_empty())
                    .map(|f| f.name.to_owned())
                    .collect();
                names.sort();
                names
            }
            Err(error) => {
                totals.failed += 1;
                let _ = writeln!(out, "FAIL {}: does not compile: {error}", file.source.display);
                continue;
            }
        };
        if let Some(error) = &file.fixture_error {
            totals.failed += 1;
            let _ = writeln!(out, "FAIL {}: fixtures: {error}", file.source.display);
            continue;
        }
        for test in tests {
            match run_one(&runtime, &library, file, &test, &ctx, &plan, &environment, &trace) {
                Ok(()) => {
                    totals.passed += 1;
                    let _ = writeln!(out, "ok   {} {test}", file.source.display);
                }
                Err(message) => {
                    totals.failed += 1;
                    let _ = writeln!(out, "FAIL {} {test}: {message}", file.source.display);
                }
            }
        }
    }
    let _ = writeln!(out, "{} passed, {} failed", totals.passed, totals.failed);
    Ok(totals)
}

/// Everything one test runs in: a fresh fake cluster, host and engine.
struct World {
    engine: Arc<rhai::Engine>,
    fake: Arc<FakeCluster>,
    origins: Origins,
    bounds: Bounds,
    _host: Arc<Host>,
}

impl World {
    fn new(
        runtime: &tokio::runtime::Runtime,
        library: &Library,
        ctx: &Dynamic,
        plan: &dag::Plan,
        environment: &EnvironmentConfig,
        trace: &TraceContext,
    ) -> World {
        let fake = Arc::new(FakeCluster::new());
        let origins = Origins::default();
        let bounds = Bounds {
            deadline: tokio::time::Instant::now() + TEST_DEADLINE,
            cancel: CancellationToken::new(),
        };
        let mut engine = engine::build(library, &origins, Limits::default());
        primitives::register_modules(&mut engine);
        asserts::register_asserts(&mut engine, &fake);
        engine.register_static_module("test", asserts::module(&fake, ctx, library).into());
        // A hook, check or policy that does not compile leaves the tests
        // without it: a test that needs it fails on the call.
        let compiled = compile_all(
            &engine,
            library,
            &origins,
            Needs {
                action: None,
                plan: Some(plan),
                health: true,
                policies: true,
            },
        )
        .unwrap_or_default();
        let (engine, host) = Host::bind(
            engine,
            HostParts {
                settings: RunSettings {
                    retries: environment.retries,
                    argocd_namespace: environment.argocd_namespace.clone(),
                    ..Default::default()
                },
                trace: trace.clone(),
                origins: origins.clone(),
                scripts: Arc::new(compiled),
                ctx: ctx.clone(),
                ..HostParts::offline(fake.clone(), runtime.handle().clone(), bounds.clone(), plan.clone())
            },
        );
        World {
            engine,
            fake,
            origins,
            bounds,
            _host: host,
        }
    }
}

#[allow(clippy::too_many_arguments)] // one test's whole world, each part distinct
fn run_one(
    runtime: &tokio::runtime::Runtime,
    library: &Library,
    file: &TestFile,
    test: &str,
    ctx: &Dynamic,
    plan: &dag::Plan,
    environment: &EnvironmentConfig,
    trace: &TraceContext,
) -> Result<(), String> {
    let world = World::new(runtime, library, ctx, plan, environment, trace);
    for object in &file.fixtures {
        world.fake.seed(object.clone()).map_err(|e| format!("fixture: {e}"))?;
    }
    let World {
        engine,
        origins,
        bounds,
        ..
    } = world;
    let script = compile(&engine, file.source.clone(), &origins).map_err(|e| e.to_string())?;
    let result = control::within(control::Scope { bounds, node: None }, || {
        engine.call_fn_with_options::<Dynamic>(CallFnOptions::new(), &mut Scope::new(), &script.ast, test, ())
    });
    result
        .map(|_| ())
        .map_err(|error| from_rhai(&error, &script.source.display, &origins).to_string())
}
