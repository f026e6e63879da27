//! Fault injection: per-endpoint latency, fail-next-N with a status, connection resets, truncated
//! and slow bodies — so tests and benchmarks can prove retries, timeouts and deadlines.
//!
//! Set from Rust through [`crate::RunningEmulator::faults`], or over HTTP:
//! `POST /_emulator/faults {"endpoint":"google-sts","fail_next":2,"status":503}`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State as AxState};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::Endpoint;
use crate::state::{State, lock};

/// One endpoint's fault plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Fault {
    /// Added before every response.
    #[serde(with = "millis")]
    pub latency: Duration,
    /// The next N requests fail with `status`.
    pub fail_next: u32,
    /// The status of injected failures (default 503).
    pub status: Option<u16>,
    /// `Retry-After` seconds on injected failures.
    pub retry_after: Option<u64>,
    /// The next N requests get their connection dropped without a response.
    pub reset_next: u32,
    /// Delay between the response head and its body.
    #[serde(with = "millis")]
    pub slow_body: Duration,
    /// The next N responses promise their whole body (`Content-Length`) but send only the first
    /// half of it before the connection drops: a proxy or network cut mid-body.
    pub truncate_next: u32,
}

impl Fault {
    /// No fault.
    pub fn none() -> Self {
        Self::default()
    }
    /// Fails the next `n` requests with `status`.
    pub fn fail_next(n: u32, status: u16) -> Self {
        Fault {
            fail_next: n,
            status: Some(status),
            ..Self::default()
        }
    }
    /// Adds `latency` to every response.
    pub fn latency(latency: Duration) -> Self {
        Fault {
            latency,
            ..Self::default()
        }
    }
    /// Drops the connection of the next `n` requests.
    pub fn reset_next(n: u32) -> Self {
        Fault {
            reset_next: n,
            ..Self::default()
        }
    }
    /// Cuts the body of the next `n` responses in half, then drops the connection.
    pub fn truncate_next(n: u32) -> Self {
        Fault {
            truncate_next: n,
            ..Self::default()
        }
    }
    /// Sets `Retry-After` on injected failures.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// Fault plans of all endpoints.
#[derive(Debug, Default)]
pub struct Faults {
    plans: Mutex<HashMap<Endpoint, Fault>>,
}

enum Action {
    Pass {
        latency: Duration,
        slow_body: Duration,
    },
    Fail {
        latency: Duration,
        status: u16,
        retry_after: Option<u64>,
    },
    Reset,
    Truncate {
        latency: Duration,
    },
}

impl Faults {
    /// Replaces `endpoint`'s plan.
    pub fn set(&self, endpoint: Endpoint, fault: Fault) {
        lock(&self.plans).insert(endpoint, fault);
    }

    /// Clears every plan.
    pub fn clear(&self) {
        lock(&self.plans).clear();
    }

    fn next(&self, endpoint: Endpoint) -> Action {
        let mut plans = lock(&self.plans);
        let Some(f) = plans.get_mut(&endpoint) else {
            return Action::Pass {
                latency: Duration::ZERO,
                slow_body: Duration::ZERO,
            };
        };
        if f.reset_next > 0 {
            f.reset_next -= 1;
            return Action::Reset;
        }
        if f.fail_next > 0 {
            f.fail_next -= 1;
            return Action::Fail {
                latency: f.latency,
                status: f.status.unwrap_or(503),
                retry_after: f.retry_after,
            };
        }
        if f.truncate_next > 0 {
            f.truncate_next -= 1;
            return Action::Truncate { latency: f.latency };
        }
        Action::Pass {
            latency: f.latency,
            slow_body: f.slow_body,
        }
    }
}

/// Counts the request, then applies the endpoint's fault plan.
pub(crate) async fn middleware(
    AxState(state): AxState<Arc<State>>,
    request: Request,
    next: Next,
) -> Response {
    let endpoint = Endpoint::of_path(request.uri().path());
    state.count(endpoint);
    if endpoint == Endpoint::Control {
        return next.run(request).await;
    }
    match state.faults.next(endpoint) {
        Action::Reset => {
            // Dropping the connection mid-request is what a reset looks like to the client:
            // answer nothing and let hyper close it.
            tokio::time::sleep(Duration::from_millis(5)).await;
            ResetConnection.into_response()
        }
        Action::Fail {
            latency,
            status,
            retry_after,
        } => {
            pause(latency).await;
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut response = crate::state::rpc_error(code, "UNAVAILABLE", "injected fault", None);
            if let Some(s) = retry_after
                && let Ok(v) = s.to_string().parse()
            {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
            response
        }
        Action::Truncate { latency } => {
            pause(latency).await;
            truncated(next.run(request).await).await
        }
        Action::Pass { latency, slow_body } => {
            pause(latency).await;
            let response = next.run(request).await;
            if slow_body.is_zero() {
                return response;
            }
            let (parts, body) = response.into_parts();
            let stream = async_stream_body(body, slow_body);
            Response::from_parts(parts, stream)
        }
    }
}

/// Waits `latency`, and not at all when it is zero: `sleep(ZERO)` still waits for the timer's
/// next 1 ms tick, which added ~1 ms to every emulated request (and to every benchmark's round
/// trip).
async fn pause(latency: Duration) {
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
}

/// `response` with a `Content-Length` of its whole body but only the first half sent, then a
/// body error, which makes hyper abort the connection mid-body.
async fn truncated(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(whole) = axum::body::to_bytes(body, usize::MAX).await else {
        return ResetConnection.into_response();
    };
    parts.headers.insert(
        axum::http::header::CONTENT_LENGTH,
        axum::http::HeaderValue::from(whole.len()),
    );
    let half = whole.slice(..whole.len() / 2);
    let cut = futures::stream::once(async {
        // Give hyper time to flush the head and the first half before the connection drops.
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "injected truncated body",
        ))
    });
    let stream = futures::StreamExt::chain(futures::stream::iter([Ok(half)]), cut);
    Response::from_parts(parts, Body::from_stream(stream))
}

/// A response whose body errors immediately, which makes hyper abort the connection.
struct ResetConnection;

impl IntoResponse for ResetConnection {
    fn into_response(self) -> Response {
        let stream = error_stream();
        let mut r = Response::new(stream);
        // Claim a body so the client waits for it, then fail it.
        r.headers_mut().insert(
            axum::http::header::CONTENT_LENGTH,
            axum::http::HeaderValue::from_static("64"),
        );
        r
    }
}

fn error_stream() -> Body {
    Body::from_stream(ErrorOnce(false))
}

struct ErrorOnce(bool);

impl futures::Stream for ErrorOnce {
    type Item = Result<axum::body::Bytes, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.0 {
            return std::task::Poll::Ready(None);
        }
        self.0 = true;
        std::task::Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected connection reset",
        ))))
    }
}

fn async_stream_body(body: Body, delay: Duration) -> Body {
    let delayed = async move {
        tokio::time::sleep(delay).await;
        body
    };
    Body::from_stream(DelayedBody::Waiting(Box::pin(delayed)))
}

enum DelayedBody {
    Waiting(std::pin::Pin<Box<dyn std::future::Future<Output = Body> + Send>>),
    Streaming(axum::body::BodyDataStream),
}

impl futures::Stream for DelayedBody {
    type Item = Result<axum::body::Bytes, axum::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        loop {
            match &mut *self {
                DelayedBody::Waiting(fut) => match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(body) => {
                        *self = DelayedBody::Streaming(body.into_data_stream())
                    }
                    std::task::Poll::Pending => return std::task::Poll::Pending,
                },
                DelayedBody::Streaming(s) => return std::pin::Pin::new(s).poll_next(cx),
            }
        }
    }
}
