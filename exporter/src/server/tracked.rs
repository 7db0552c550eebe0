//! Wrappers around a connection's stream, service and answer bodies that report to its
//! [`ConnState`] what the watchdog needs: bytes received, writes the client keeps waiting, and
//! requests in flight until their answer is written out.
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use warp::http::{Request, Response};
use warp::hyper::body::{Body, Frame, SizeHint};

use super::conn::ConnState;

/// A connection's byte stream, reporting received bytes to its [`ConnState`].
pub struct TrackedIo<T> {
    inner: T,
    state: Arc<ConnState>,
}

impl<T> TrackedIo<T> {
    pub fn new(inner: T, state: Arc<ConnState>) -> TrackedIo<T> {
        TrackedIo { inner, state }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.state.bytes_received(Instant::now());
        }
        polled
    }
}

impl<T> TrackedIo<T> {
    /// Passes a write's outcome on after noting whether the client kept it waiting.
    fn note<R>(&self, polled: Poll<R>) -> Poll<R> {
        self.state.write_polled(polled.is_pending(), Instant::now());
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.note(polled)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        // A flush that is ready says nothing about the client reading (a TCP flush always is).
        if polled.is_pending() {
            this.state.write_polled(true, Instant::now());
        }
        polled
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.note(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Counts a request as in flight from its arrival until hyper drops its answer's body, which
/// it does once the body is written out (at once for HEAD).
pub(super) struct InFlight {
    state: Arc<ConnState>,
}

impl InFlight {
    pub(super) fn start(state: &Arc<ConnState>) -> InFlight {
        state.request_started();
        InFlight { state: Arc::clone(state) }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.state.request_finished(Instant::now());
    }
}

/// A response body that keeps its request counted as in flight while it exists.
pub struct TrackedBody<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B: Body + Unpin> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A hyper service that counts the requests of one connection in its [`ConnState`].
#[derive(Clone)]
pub struct TrackedService<S> {
    inner: S,
    state: Arc<ConnState>,
}

impl<S> TrackedService<S> {
    pub fn new(inner: S, state: Arc<ConnState>) -> TrackedService<S> {
        TrackedService { inner, state }
    }
}

type BoxedResponse<B, E> = Pin<Box<dyn Future<Output = Result<Response<TrackedBody<B>>, E>> + Send>>;

impl<S, R, B> warp::hyper::service::Service<Request<R>> for TrackedService<S>
where
    S: warp::hyper::service::Service<Request<R>, Response = Response<B>>,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = BoxedResponse<B, S::Error>;

    fn call(&self, request: Request<R>) -> Self::Future {
        let in_flight = InFlight::start(&self.state);
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|inner| TrackedBody { inner, _in_flight: in_flight }))
        })
    }
}
