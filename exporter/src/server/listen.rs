//! The accept loop, for plain HTTP and TLS alike: each accepted connection gets its own task,
//! in which the TLS handshake (when configured) is one step before hyper serves HTTP/1 or
//! HTTP/2 with the warp filter. The connection's watchdog ([`super::conn`]) closes it when its
//! timeouts run out, and the [`ConnectionTable`] caps how many are open, so idle or
//! half-finished connections cannot use up the process's file descriptors: at the cap, the
//! oldest connection that is not serving a request is closed to make room, and Prometheus
//! still gets its answer.
//!
//! On shutdown the loop stops accepting, idle connections close, and requests in flight may
//! finish within a bounded grace period.
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use warp::{Filter, Reply};

use super::conn::{watchdog, Closed, ConnState, Timeouts};
use super::table::ConnectionTable;
use super::tracked::{TrackedIo, TrackedService};

/// How the server treats its connections.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub timeouts: Timeouts,
    /// TLS, when the web config has it.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Offer HTTP/2 (the web config's `http_server_config.http2`, default on).
    pub http2: bool,
    /// How long requests in flight may take to finish once shutdown starts.
    pub grace: Duration,
}

/// Serves `filter` on `listener` until `shutdown` resolves, then stops accepting and lets
/// requests in flight finish for at most `options.grace`.
pub async fn serve<F, R>(
    listener: TcpListener,
    table: Arc<ConnectionTable>,
    options: ServeOptions,
    filter: F,
    shutdown: impl Future<Output = ()>,
) where
    F: Filter<Extract = (R,), Error = Infallible> + Clone + Send + Sync + 'static,
    R: Reply,
{
    let acceptor = options.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some((seat, state)) = table.seat(&mut shutdown).await else { break };
        let connection = Connection { peer, state, timeouts: options.timeouts, http2: options.http2 };
        let service = TowerToHyperService::new(warp::service(filter.clone()));
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _seat = seat;
            connection.run(tcp, acceptor, service, watcher).await;
        });
    }
    drop(listener);
    // Connections that wait for a request (or for the rest of one) would hold shutdown until
    // their timeout; hyper's graceful shutdown closes only those between requests.
    table.evict_idle();
    if tokio::time::timeout(options.grace, graceful.shutdown()).await.is_err() {
        log::info!("requests still running after {:?} of shutdown were cut off", options.grace);
    }
}

/// Out of file descriptors and the like: wait instead of spinning. A client that gave up
/// before it was accepted is not news.
async fn accept_failed(e: std::io::Error) {
    if matches!(e.kind(), std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset) {
        log::debug!("accept: {e}");
        return;
    }
    log::error!("accept error: {e}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// One accepted connection, before its TLS handshake and HTTP.
struct Connection {
    peer: SocketAddr,
    state: Arc<ConnState>,
    timeouts: Timeouts,
    http2: bool,
}

impl Connection {
    /// Serves the connection until it ends or its watchdog closes it. Whatever a client does
    /// wrong (hangs up mid-request, speaks TLS to the plain port, never finishes a handshake)
    /// costs only its own connection and is logged at debug: it is the client's problem, and
    /// anyone who can connect could otherwise flood the log.
    async fn run<S>(
        self,
        tcp: TcpStream,
        tls: Option<tokio_rustls::TlsAcceptor>,
        service: TowerToHyperService<S>,
        watcher: Watcher,
    ) where
        TowerToHyperService<S>: ServiceBound,
    {
        let io = TrackedIo::new(tcp, Arc::clone(&self.state));
        let service = TrackedService::new(service, Arc::clone(&self.state));
        let http2 = self.http2;
        let served = async move {
            match tls {
                Some(acceptor) => match acceptor.accept(io).await {
                    Ok(stream) => serve_http(stream, service, http2, watcher).await,
                    Err(e) => Err(format!("TLS handshake failed: {e}")),
                },
                None => serve_http(io, service, http2, watcher).await,
            }
        };
        let peer = self.peer;
        tokio::select! {
            outcome = served => if let Err(e) = outcome {
                log::debug!("connection from {peer}: {e}");
            },
            why = watchdog(&self.state, self.timeouts) => {
                let why = match why {
                    Closed::HeaderTimeout => "no complete request head within the header timeout",
                    Closed::IdleTimeout => "idle for the idle timeout",
                    Closed::WriteStalled => "it read none of the answer for the idle timeout",
                    Closed::Evicted => "evicted to make room under the connection cap",
                };
                log::debug!("connection from {peer} closed: {why}");
            }
        }
    }
}

/// The hyper service warp's filters make, as [`serve_http`] needs it.
pub trait ServiceBound:
    warp::hyper::service::Service<
        warp::http::Request<warp::hyper::body::Incoming>,
        Response = warp::reply::Response,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<T> ServiceBound for T where
    T: warp::hyper::service::Service<
            warp::http::Request<warp::hyper::body::Incoming>,
            Response = warp::reply::Response,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// HTTP/1 or (when allowed) HTTP/2 on an established stream. hyper's own header timeout is
/// off: the watchdog applies ours.
async fn serve_http<I, S>(io: I, service: TrackedService<S>, http2: bool, watcher: Watcher) -> Result<(), String>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: ServiceBound,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().header_read_timeout(None);
    if !http2 {
        builder = builder.http1_only();
    }
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    watcher.watch(connection.into_owned()).await.map_err(|e| e.to_string())
}
