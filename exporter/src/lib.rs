//! llm-exporter: a Prometheus exporter for machines that serve LLMs.
//!
//! On every scrape of the telemetry path the exporter reads its sources afresh and keeps no
//! history:
//!
//! - [`server`] answers HTTP (warp) and hands `/metrics` requests to the [`scrape`] runner,
//!   which coalesces concurrent requests into one collection;
//! - the runner runs every enabled collector of [`collectors`] concurrently, each under the
//!   scrape deadline, and adds `llm_exporter_collector_success` / `_duration_seconds`;
//! - each collector has a thin part that reads its source (HTTP, `/proc`, NVML) into plain
//!   structs and a pure part that shapes them into [`family::Family`] values, so the logic is
//!   tested on captured fixtures;
//! - [`family`] merges, sorts and encodes the families once in the Prometheus text format.
//!
//! Before the collectors run, one scan of the machine ([`collectors::local_scan`]) finds the
//! LLM servers running here ([`discovery`]) and the processes using a GPU ([`gpu_use`]); the
//! `llm` collector scrapes those servers and the `process` collector reads those processes.
//! Both discovery and the process collector read the operating system only through [`sys`]
//! (the proc filesystem on Linux, its files parsed by the `procfs-core` crate; libproc on
//! macOS), which fills plain structs and imports nothing from the code above it.
//!
//! [`config`] merges flags, `LLM_EXPORTER_*` environment variables and a TOML file; a bad
//! setting is one line naming where it came from and exit code 2. [`config::web_config`] reads
//! the exporter-toolkit web config (TLS, client certificates, basic auth) that [`server`]
//! enforces.
//!
//! [`proxy`] (opt-in, `--proxy`) forwards requests to an LLM server unchanged and keeps the
//! one other piece of in-memory state: per-request counters and histograms, rendered by the
//! `proxy` collector on each scrape.
pub mod collectors;
pub mod config;
pub mod discovery;
pub mod family;
pub mod gpu_use;
pub mod logging;
pub mod proxy;
pub mod scrape;
pub mod server;
pub mod server_facts;
pub mod sys;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

/// Binds every listen address, then serves until SIGINT or SIGTERM; SIGHUP is logged and
/// ignored.
pub async fn run(config: config::Config) -> Result<(), String> {
    // First, so a SIGHUP from now on cannot end the process (its default action).
    ignore_sighup()?;
    let mut plan = collectors::from_config(&config)?;
    let names: Vec<&str> = plan.collectors.iter().map(|c| c.name()).collect();
    log::info!(
        "starting llm-exporter {} with collectors [{}] and {} configured servers",
        env!("CARGO_PKG_VERSION"),
        names.join(", "),
        config.servers.len()
    );
    for warning in &config.warnings {
        log::warn!("{warning}");
    }
    let fd_limit = server::table::raise_fd_limit();
    let (cap, lowered) = server::table::connection_cap(config.max_connections, fd_limit);
    if let Some(lowered) = lowered {
        log::warn!("{lowered}");
    }
    let limit = fd_limit.map_or("unknown".to_string(), |n| n.to_string());
    log::debug!("open files limit {limit}; at most {cap} client connections");
    let web = config.web_config.clone();
    let tls = web.as_ref().and_then(|w| w.tls.clone());
    let options = server::listen::ServeOptions {
        timeouts: server::conn::Timeouts { read_header: config.read_header_timeout, idle: config.idle_timeout },
        tls: tls.clone(),
        http2: web.as_ref().is_none_or(|w| w.http2),
        // Long enough for a scrape in flight to finish.
        grace: config.scrape_timeout + std::time::Duration::from_secs(5),
    };
    let mode = match (&tls, web.as_ref().is_some_and(|w| w.basic_auth.is_some())) {
        (Some(_), true) => ", TLS, basic auth",
        (Some(_), false) => ", TLS",
        (None, true) => ", basic auth",
        (None, false) => "",
    };
    let mut listeners = Vec::new();
    for address in &config.listen_addresses {
        let listener = bind(address).await?;
        let local = listener.local_addr().map_err(|e| format!("{address}: {e}"))?;
        log::info!("listening on {local}, telemetry path {}{mode}", config.telemetry_path);
        listeners.push(listener);
    }
    if !config.proxies.is_empty() {
        plan.collectors.push(Arc::new(proxy::start(&config.proxies, &plan.facts).await?));
    }
    let app = Arc::new(server::App { scraper: scrape::Scraper::new(plan.collectors, plan.scanner), config });
    let routes = server::routes(app);
    let table = server::table::ConnectionTable::new(cap);
    let servers = listeners.into_iter().map(|listener| {
        let serve =
            server::listen::serve(listener, Arc::clone(&table), options.clone(), routes.clone(), shutdown_signal());
        tokio::spawn(serve)
    });
    futures::future::join_all(servers).await;
    log::info!("stopped");
    Ok(())
}

/// Replaces SIGHUP's default action (ending the process, exit 129, which `Restart=on-failure`
/// does not restart) by a log line: many tools send SIGHUP to ask for a reload, and this
/// exporter has no configuration to reload.
#[cfg(unix)]
fn ignore_sighup() -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = signal(SignalKind::hangup()).map_err(|e| format!("cannot handle SIGHUP: {e}"))?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            log::info!("SIGHUP ignored: there is no configuration reload; restart to apply changes");
        }
    });
    Ok(())
}

#[cfg(not(unix))]
fn ignore_sighup() -> Result<(), String> {
    Ok(())
}

/// Binds `HOST:PORT`, or `:PORT` on every interface (IPv6 and IPv4 where the host has IPv6).
async fn bind(address: &str) -> Result<TcpListener, String> {
    let fail = |e: std::io::Error| format!("cannot listen on {address}: {e}");
    if let Some(port) = address.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| format!("cannot listen on {address}: bad port"))?;
        let any6 = SocketAddr::from(([0u16; 8], port));
        return match TcpListener::bind(any6).await {
            Ok(listener) => Ok(listener),
            Err(_) => TcpListener::bind(SocketAddr::from(([0u8; 4], port))).await.map_err(fail),
        };
    }
    TcpListener::bind(address).await.map_err(fail)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
