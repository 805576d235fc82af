//! `kube-sim bench`: measures requests per second for get, list (1,000
//! objects) and server-side apply of the Argo CD install manifest, and the
//! resident memory with 10,000 objects, against an in-process simulator over
//! real HTTP on loopback (keep-alive connections, plain HTTP).
//!
//! Client and server share the process and its cores, so the figures are a
//! lower bound of what the server alone can do.

use crate::config::SimConfig;
use crate::sim::{Sim, SimOptions};
use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Options of `kube-sim bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The Argo CD install manifest to apply (default: the shared upstream copy).
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// How long each throughput measurement runs.
    #[arg(long, default_value = "3s", value_parser = crate::time::parse_duration)]
    pub duration: Duration,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Objects created for the memory figure.
    #[arg(long, default_value_t = 10_000)]
    pub objects: usize,
}

/// The fixed token the benchmark's simulator accepts (a `tokens:` entry),
/// so the client needs no kubeconfig.
const BENCH_TOKEN: &str = "kube-sim-bench-admin-token-0123456789";

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    async fn open(addr: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await.context("connecting")?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
            host: addr.to_string(),
        })
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> anyhow::Result<(u16, usize)> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {BENCH_TOKEN}\r\nAccept: application/json\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        let s = self.stream.get_mut();
        s.write_all(head.as_bytes()).await?;
        s.write_all(body).await?;
        let mut status = 0;
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                bail!("connection closed");
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if status == 0 {
                status = l.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
            } else if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok((status, length))
    }
}

async fn throughput(addr: &str, connections: usize, duration: Duration, path: &str) -> anyhow::Result<f64> {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let addr = addr.to_string();
        let path = path.to_string();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await?;
            let mut n = 0u64;
            while Instant::now() < deadline {
                let (status, _) = conn.send("GET", &path, "application/json", b"").await?;
                if status != 200 {
                    bail!("GET {path} answered {status}");
                }
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / duration.as_secs_f64())
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn create_configmaps(addr: &str, namespace: &str, count: usize, connections: usize) -> anyhow::Result<()> {
    let mut tasks = Vec::new();
    for c in 0..connections {
        let addr = addr.to_string();
        let namespace = namespace.to_string();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await?;
            for i in (c..count).step_by(connections) {
                let body = json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("cm-{i:05}"), "namespace": namespace, "labels": {"bench": "true", "shard": (i % 10).to_string()}},
                    "data": {"config.yaml": "x".repeat(512), "index": i.to_string()},
                });
                let path = format!("/api/v1/namespaces/{namespace}/configmaps");
                let (status, _) = conn.send("POST", &path, "application/json", body.to_string().as_bytes()).await?;
                if status != 201 {
                    bail!("create answered {status}");
                }
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

async fn create_namespace(conn: &mut Conn, name: &str) -> anyhow::Result<()> {
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    conn.send(
        "POST",
        "/api/v1/namespaces",
        "application/json",
        body.to_string().as_bytes(),
    )
    .await?;
    Ok(())
}

/// Applies every document of the manifest once; returns the number of objects.
async fn apply_manifest(conn: &mut Conn, docs: &[Value], sim: &Sim) -> anyhow::Result<usize> {
    let mut n = 0;
    for doc in docs {
        let api_version = doc["apiVersion"].as_str().unwrap_or("");
        let kind = doc["kind"].as_str().unwrap_or("");
        let name = doc["metadata"]["name"].as_str().unwrap_or("");
        let rt = sim
            .cluster()
            .registry
            .by_api_version_kind(api_version, kind)
            .with_context(|| format!("{api_version} {kind} is not served"))?;
        let prefix = if rt.group.is_empty() {
            format!("/api/{}", rt.version)
        } else {
            format!("/apis/{}/{}", rt.group, rt.version)
        };
        let path = if rt.namespaced {
            format!(
                "{prefix}/namespaces/argocd/{}/{name}?fieldManager=bench&force=true",
                rt.resource
            )
        } else {
            format!("{prefix}/{}/{name}?fieldManager=bench&force=true", rt.resource)
        };
        let (status, _) = conn
            .send(
                "PATCH",
                &path,
                "application/apply-patch+yaml",
                doc.to_string().as_bytes(),
            )
            .await?;
        if !(200..300).contains(&status) {
            bail!("applying {kind} {name} answered {status}");
        }
        n += 1;
    }
    Ok(n)
}

/// Runs the benchmark and prints the figures.
///
/// # Errors
/// When the simulator cannot start, the manifest cannot be read, or a
/// request fails.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let manifest = args.manifest.clone().unwrap_or_else(|| {
        crate::demo::upstream_dir(None)
            .unwrap_or_else(|_| PathBuf::from("shared/upstream"))
            .join("argo-cd-v3.5.1-install.yaml")
    });
    let text = std::fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&text).map_err(|e| anyhow::anyhow!("parsing {}: {e}", manifest.display()))?;
    let docs: Vec<Value> = docs.into_iter().filter(Value::is_object).collect();

    let config = SimConfig::from_yaml(&format!(
        "tokens:\n  {BENCH_TOKEN}: {{user: admin, groups: [system:masters]}}\n"
    ))
    .map_err(anyhow::Error::msg)?;
    let sim = Sim::start(SimOptions::with_config(config)).await?;
    let addr = sim.url().trim_start_matches("http://").to_string();
    let mut conn = Conn::open(&addr).await?;
    println!(
        "kube-sim bench: {} connection(s), {:?} per measurement",
        args.connections, args.duration
    );

    // Memory first, while the process has done nothing else.
    let before = rss_kib();
    create_namespace(&mut conn, "memory").await?;
    let started = Instant::now();
    create_configmaps(&addr, "memory", args.objects, args.connections).await?;
    let create_rate = args.objects as f64 / started.elapsed().as_secs_f64();
    let after = rss_kib();
    println!(
        "create {} ConfigMaps (~0.7 KiB each): {create_rate:>8.0} requests/s",
        args.objects
    );
    println!(
        "memory: {} MiB resident with {} objects stored ({} MiB before creating them)",
        after / 1024,
        sim.cluster().store.count(),
        before / 1024
    );

    create_namespace(&mut conn, "bench").await?;
    create_configmaps(&addr, "bench", 1000, args.connections).await?;
    let get = throughput(
        &addr,
        args.connections,
        args.duration,
        "/api/v1/namespaces/bench/configmaps/cm-00042",
    )
    .await?;
    println!("get (one ConfigMap):              {get:>10.0} requests/s");
    let list = throughput(
        &addr,
        args.connections,
        args.duration,
        "/api/v1/namespaces/bench/configmaps",
    )
    .await?;
    println!("list (1,000 ConfigMaps):          {list:>10.1} requests/s");
    let selected = throughput(
        &addr,
        args.connections,
        args.duration,
        "/api/v1/namespaces/bench/configmaps?labelSelector=shard%3D3",
    )
    .await?;
    println!("list with label selector (100):   {selected:>10.1} requests/s");

    create_namespace(&mut conn, "argocd").await?;
    let started = Instant::now();
    let objects = apply_manifest(&mut conn, &docs, &sim).await?;
    let first = started.elapsed();
    println!(
        "server-side apply of {} ({objects} objects), first (creates): {:.0} ms",
        manifest.file_name().and_then(|f| f.to_str()).unwrap_or("manifest"),
        first.as_secs_f64() * 1000.0
    );
    let started = Instant::now();
    let mut rounds = 0;
    while started.elapsed() < args.duration {
        apply_manifest(&mut conn, &docs, &sim).await?;
        rounds += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "server-side apply, re-apply (no-op): {:>8.1} files/s = {:.0} apply requests/s",
        f64::from(rounds) / elapsed,
        f64::from(rounds) * objects as f64 / elapsed
    );
    sim.shutdown().await;
    Ok(())
}
