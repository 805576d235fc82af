//! The `kube-sim` binary: parses the command line and runs a simulator until
//! SIGTERM or SIGINT (SIGHUP re-reads `--config`).

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "kube-sim", version, about = "A simulated Kubernetes API server for tests")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the simulated API until SIGTERM/SIGINT.
    Serve {
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// Where to write a kubeconfig (context `kube-sim`, the admin user's token).
        #[arg(long)]
        kubeconfig_out: Option<PathBuf>,
        /// The simulator's behaviour (`sim.yaml`); re-read on SIGHUP.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where to write the audit log (JSON lines).
        #[arg(long)]
        audit_log: Option<PathBuf>,
    },
    /// Measure the simulator's throughput and memory.
    Bench(kube_sim::bench::BenchArgs),
    /// Deploy, re-deploy, validate (and optionally tear down) the reference
    /// platform on a simulated cluster with the real executor.
    Demo(kube_sim::demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kube-sim: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve {
                listen,
                kubeconfig_out,
                config,
                audit_log,
            } => kube_sim::serve::serve(listen, kubeconfig_out, config, audit_log).await,
            Command::Bench(args) => kube_sim::bench::run(args).await,
            Command::Demo(args) => kube_sim::demo::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kube-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}
