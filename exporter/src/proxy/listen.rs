//! Accepts client connections for one proxy: at most a configured number open at once (the
//! next waits in the kernel's backlog), each given a deadline for its request head, so
//! half-open connections cannot pile up; every request goes to the [`Forwarder`].
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::forward::Forwarder;

/// Time a client has to send a request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn serve(listener: TcpListener, forwarder: Arc<Forwarder>, max_connections: usize) {
    let permits = Arc::new(Semaphore::new(max_connections.max(1)));
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { return };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                log::debug!("proxy: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let forwarder = Arc::clone(&forwarder);
        tokio::spawn(async move {
            let service = service_fn(move |request| Arc::clone(&forwarder).handle(request));
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                log::debug!("proxy: connection from {peer}: {e}");
            }
            drop(permit);
        });
    }
}
