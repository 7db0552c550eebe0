//! Bodies that pass every frame through unchanged while the proxy watches: [`RequestTap`]
//! keeps the first bytes of a request (for its `model`), [`ResponseTap`] feeds the response
//! to a [`Meter`] frame by frame, at the moment the frame goes to the client.
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use super::meter::Meter;

/// How much of a request body is kept to find its `model` (clients put it near the start; the
/// bound times the connection cap is what all requests in flight may hold).
const REQUEST_PREFIX_BYTES: usize = 16 * 1024;

/// The request body, forwarded as it arrives; its first bytes are copied aside. `aborted`
/// turns true when the client's body broke off (it hung up mid-upload), so the failed upstream
/// request is counted as the client's cancel, not as the upstream's error.
pub struct RequestTap {
    inner: Incoming,
    prefix: Option<Arc<Mutex<Vec<u8>>>>,
    aborted: Arc<AtomicBool>,
}

impl RequestTap {
    pub fn new(inner: Incoming, prefix: Option<Arc<Mutex<Vec<u8>>>>, aborted: Arc<AtomicBool>) -> RequestTap {
        RequestTap { inner, prefix, aborted }
    }
}

impl Body for RequestTap {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Err(_))) = &polled {
            self.aborted.store(true, Ordering::Relaxed);
        }
        if let (Poll::Ready(Some(Ok(frame))), Some(prefix)) = (&polled, &self.prefix) {
            if let Some(data) = frame.data_ref() {
                let mut prefix = prefix.lock().unwrap_or_else(|p| p.into_inner());
                let room = REQUEST_PREFIX_BYTES.saturating_sub(prefix.len());
                prefix.extend_from_slice(&data[..room.min(data.len())]);
                if prefix.len() >= REQUEST_PREFIX_BYTES {
                    drop(prefix);
                    self.prefix = None;
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The response body, forwarded frame by frame; each frame is read by the meter as it goes.
pub struct ResponseTap {
    inner: Source,
    meter: Option<Meter>,
}

enum Source {
    Upstream(Incoming),
    /// The proxy's own answer (502).
    Fixed(Option<Bytes>),
}

impl ResponseTap {
    pub fn upstream(inner: Incoming, meter: Option<Meter>) -> ResponseTap {
        ResponseTap { inner: Source::Upstream(inner), meter }
    }

    pub fn fixed(body: String) -> ResponseTap {
        ResponseTap { inner: Source::Fixed(Some(Bytes::from(body))), meter: None }
    }
}

impl Body for ResponseTap {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let polled = match &mut this.inner {
            Source::Upstream(body) => Pin::new(body).poll_frame(cx),
            Source::Fixed(body) => return Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
        };
        if let Some(meter) = this.meter.as_mut() {
            match &polled {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        meter.read(Some(data));
                    }
                    // A body of known length ends with its last frame: hyper polls no further.
                    if let Source::Upstream(body) = &this.inner {
                        if body.is_end_stream() {
                            meter.finish(None);
                        }
                    }
                }
                Poll::Ready(Some(Err(_))) => meter.finish(Some("upstream_error")),
                Poll::Ready(None) => meter.finish(None),
                Poll::Pending => {}
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Source::Upstream(body) => body.is_end_stream(),
            Source::Fixed(body) => body.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Source::Upstream(body) => body.size_hint(),
            Source::Fixed(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Source::Fixed(None) => SizeHint::with_exact(0),
        }
    }
}

impl Drop for ResponseTap {
    /// An empty body of known length is never polled: it ended, it was not canceled.
    fn drop(&mut self) {
        if let (Some(meter), Source::Upstream(body)) = (self.meter.as_mut(), &self.inner) {
            if body.is_end_stream() {
                meter.finish(None);
            }
        }
    }
}
