//! `kube-sim bench`: measures requests per second for get, list and
//! server-side apply, and resident memory with many objects, against an
//! in-process simulator over real HTTP on loopback.

use clap::Args;

/// Options of `kube-sim bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The Argo CD install manifest to apply.
    #[arg(long)]
    pub manifest: Option<std::path::PathBuf>,
}

/// Runs the benchmark and prints the figures.
///
/// # Errors
/// When the simulator cannot start or a request fails.
pub async fn run(_args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
