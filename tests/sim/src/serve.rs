//! `kube-sim serve`: runs one simulator as a process, announces its URL on
//! stdout, writes the kubeconfig, re-reads the configuration on SIGHUP and
//! stops cleanly on SIGTERM/SIGINT.

use crate::config::SimConfig;
use crate::sim::{Sim, SimOptions};
use anyhow::Context;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::signal::unix::{SignalKind, signal};

/// Runs `kube-sim serve` until SIGTERM or SIGINT.
///
/// # Errors
/// When the configuration cannot be read, the address cannot be bound, or
/// the kubeconfig cannot be written.
pub async fn serve(
    listen: SocketAddr,
    kubeconfig_out: Option<PathBuf>,
    config_path: Option<PathBuf>,
    audit_log: Option<PathBuf>,
) -> anyhow::Result<()> {
    let config = match &config_path {
        Some(p) => SimConfig::from_file(p)?,
        None => SimConfig::default(),
    };
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let sim = Sim::start(SimOptions {
        config,
        listen,
        audit_log,
    })
    .await?;
    if let Some(path) = &kubeconfig_out {
        sim.write_kubeconfig(path, "admin")?;
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "kube-sim listening on {}", sim.url())?;
        out.flush()?;
    }
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                if let Some(p) = &config_path {
                    match SimConfig::from_file(p) {
                        Ok(c) => {
                            sim.reload(c);
                            eprintln!("kube-sim: reloaded {}", p.display());
                        }
                        Err(e) => eprintln!("kube-sim: keeping the old configuration: {e}"),
                    }
                }
            }
        }
    }
    sim.shutdown().await;
    Ok(())
}
