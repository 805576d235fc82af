//! `kube-sim demo`: the README's "run the main job" — a simulated cluster
//! with the demo platform repository, then the real `executor` binary
//! deploying the whole reference platform onto it, validating it, and
//! (with `--teardown`) removing it again.
//!
//! The executor is found beside this binary (both are built into the same
//! target directory); the bootstrap bundle's upstream manifests come from
//! `--bundle-dir`, `BUNDLE_DIR`, `EXECUTOR_UPSTREAM_DIR`, or the first
//! `shared/upstream` above the working directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::config::SimConfig;
use crate::sim::{Sim, SimOptions};

/// Options of `kube-sim demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The executor binary (default: `executor` beside this binary).
    #[arg(long)]
    pub executor: Option<PathBuf>,
    /// Directory with the bundle's upstream manifests (see bundle/fetch).
    #[arg(long)]
    pub bundle_dir: Option<PathBuf>,
    /// Also tear the platform down at the end.
    #[arg(long)]
    pub teardown: bool,
    /// Keep the cluster running afterwards (Ctrl-C stops it), to look around with kubectl.
    #[arg(long)]
    pub keep: bool,
    /// Also write each action's output to `<dir>/<n>-<action>.stdout` and
    /// `.stderr` (the output is then shown once the action has finished).
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
    /// `local` (the executor schedules the graph itself) or `workflow` (the
    /// graph runs as one Argo Workflow whose tasks kube-sim's pod runner
    /// starts as this same executor binary).
    #[arg(long, default_value = "local", value_parser = ["local", "workflow"])]
    pub orchestration: String,
}

/// Where the upstream Argo manifests are: `given`, `BUNDLE_DIR`,
/// `EXECUTOR_UPSTREAM_DIR`, the first `shared/upstream` above the working
/// directory or this crate, `target/bundle` (what `bundle/fetch` fills), or
/// the project machines' `/work/shared/upstream`.
///
/// # Errors
/// When none holds them.
pub fn upstream_dir(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let candidates = given
        .into_iter()
        .chain(std::env::var_os("BUNDLE_DIR").map(PathBuf::from))
        .chain(std::env::var_os("EXECUTOR_UPSTREAM_DIR").map(PathBuf::from))
        .chain(
            std::env::current_dir()
                .ok()
                .into_iter()
                .flat_map(|d| d.ancestors().map(|a| a.join("shared/upstream")).collect::<Vec<_>>()),
        )
        .chain(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .map(|a| a.join("shared/upstream")),
        )
        .chain(std::iter::once(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bundle"),
        ))
        .chain(std::iter::once(PathBuf::from("/work/shared/upstream")));
    for dir in candidates {
        if dir.join("argo-cd-v3.5.1-install.yaml").is_file() {
            return Ok(dir);
        }
    }
    bail!(
        "the bootstrap bundle's upstream manifests were not found; fetch them with `bundle/fetch target/bundle` (or pass --bundle-dir)"
    )
}

fn executor(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path);
    }
    let me = std::env::current_exe().context("locating kube-sim")?;
    let beside = me.with_file_name("executor");
    if beside.is_file() {
        return Ok(beside);
    }
    bail!(
        "no executor binary beside {}: build the workspace (`cargo build --release --workspace`) or pass --executor",
        me.display()
    )
}

/// Where one action runs and what it is given.
struct Action<'a> {
    executor: &'a Path,
    dir: &'a Path,
    bundle: &'a Path,
    output_dir: Option<&'a Path>,
}

impl Action<'_> {
    /// Runs `executor <action>`; returns its exit code.
    fn run(&self, n: usize, action: &str, extra: &[(&str, &str)]) -> anyhow::Result<i32> {
        println!("\n$ executor {action}");
        let mut command = command(self.executor, action, self.dir, self.bundle, extra);
        let code = match self.output_dir {
            None => command
                .status()
                .with_context(|| format!("running {}", self.executor.display()))?
                .code(),
            Some(out) => {
                let output = command
                    .output()
                    .with_context(|| format!("running {}", self.executor.display()))?;
                std::fs::create_dir_all(out)?;
                std::fs::write(out.join(format!("{n}-{action}.stdout")), &output.stdout)?;
                std::fs::write(out.join(format!("{n}-{action}.stderr")), &output.stderr)?;
                print!("{}", String::from_utf8_lossy(&output.stdout));
                eprint!("{}", String::from_utf8_lossy(&output.stderr));
                output.status.code()
            }
        };
        let code = code.unwrap_or(-1);
        println!("(exit code {code})");
        Ok(code)
    }
}

fn command(executor: &Path, action: &str, dir: &Path, bundle: &Path, extra: &[(&str, &str)]) -> Command {
    let mut command = Command::new(executor);
    command
        .arg(action)
        .env("CONFIG_DIR", dir.join("config"))
        .env("SECRETS_DIR", dir.join("secrets"))
        .env("KUBECONFIG_PATH", dir.join("kubeconfig"))
        .env("BUNDLE_DIR", bundle)
        .env("ENVIRONMENT", "development")
        .env("LOG_FORMAT", "text")
        .env("REPORT_FORMAT", "text")
        .envs(extra.iter().copied());
    command
}

/// Runs the demo.
///
/// # Errors
/// A missing executor or bundle, or a simulator that cannot start.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let executor = executor(args.executor)?;
    let bundle = upstream_dir(args.bundle_dir)?;
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo-sim.yaml");
    let mut config = SimConfig::from_file(&fixtures)?;
    let workflow = args.orchestration == "workflow";
    if workflow {
        // The pod runner starts the Workflow's task pods as this executor.
        config.images.insert("executor:*".into(), executor.clone());
    }
    let sim = Sim::start(SimOptions::with_config(config)).await?;
    let dir = tempfile::Builder::new()
        .prefix("executor-demo-")
        .tempdir()
        .context("creating the demo directory")?;
    std::fs::create_dir_all(dir.path().join("config"))?;
    std::fs::create_dir_all(dir.path().join("secrets"))?;
    std::fs::write(
        dir.path().join("config/environment.yaml"),
        "name: demo\ndomain: demo.example.com\ngitRepository: https://git.example.com/platform.git\ngitRevision: main\ntimeouts: {sync: 2m, health: 5m}\n",
    )?;
    sim.write_kubeconfig(dir.path().join("kubeconfig"), "admin")?;
    println!(
        "kube-sim listening on {} (kubeconfig: {})",
        sim.url(),
        dir.path().join("kubeconfig").display()
    );

    let (executor_path, dir_path, bundle_path) = (executor.clone(), dir.path().to_owned(), bundle.clone());
    let output_dir = args.output_dir.clone();
    let orchestration: Vec<(&str, &str)> = if workflow {
        vec![("ORCHESTRATION", "workflow"), ("EXECUTOR_IMAGE", "executor:demo")]
    } else {
        Vec::new()
    };
    let codes = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<i32>> {
        let action = Action {
            executor: &executor_path,
            dir: &dir_path,
            bundle: &bundle_path,
            output_dir: output_dir.as_deref(),
        };
        let mut codes = vec![action.run(1, "deploy", &orchestration)?];
        codes.push(action.run(2, "deploy", &orchestration)?);
        codes.push(action.run(3, "validate", &[])?);
        if args.teardown {
            let mut teardown = orchestration.clone();
            teardown.push(("TEARDOWN_CONFIRM", "demo"));
            codes.push(action.run(4, "teardown", &teardown)?);
        }
        Ok(codes)
    })
    .await??;
    println!(
        "\nexit codes: {codes:?} (deploy, deploy again: no changes, validate{})",
        if args.teardown { ", teardown" } else { "" }
    );
    if args.keep {
        println!(
            "\nThe cluster keeps running; try: KUBECONFIG={} kubectl get applications -n argocd",
            dir.path().join("kubeconfig").display()
        );
        println!("Ctrl-C stops it.");
        tokio::signal::ctrl_c().await?;
    }
    sim.shutdown().await;
    if codes.iter().any(|c| *c != 0) {
        bail!("an action did not succeed");
    }
    Ok(())
}
