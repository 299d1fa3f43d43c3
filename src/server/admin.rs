//! The admin listener: plain HTTP on a separate address (loopback by default in
//! `smc server`), for the operator's tools, never for clients.
//!
//! | path | answer |
//! | --- | --- |
//! | `GET /metrics` | every metric of [`super::metrics`], Prometheus text format |
//! | `GET /healthz` | `200 ready` when the server can take messages (its store answers, its committer runs and, in a cluster, its bus is connected), else `503` and why |
//!
//! Anything else is `404` (`405` for another method on those paths). The listener is
//! bounded like the client port: 16 connections waiting for their request at a time,
//! the oldest closed to make room for a new one (peers that connect and stall cannot
//! keep `/healthz` from a health checker, and a connection whose request arrived is
//! answered, never closed for a newcomer), headers within 5 s, one request per
//! connection, a connection within 30 s; it stops with the server.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::server::admission::Admission;
use crate::server::hub::until_closed;
use crate::server::metrics::{self, Snapshot};
use crate::server::Shared;

/// Admin connections served at once; a new one closes the oldest beyond it.
const MAX_CONNECTIONS: usize = 16;
/// Time for a request's headers to arrive.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for a whole connection.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

const TEXT: &str = "text/plain; charset=utf-8";

/// Serves `listener` until `shutdown` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let places = Arc::new(Admission::of("admin"));
    loop {
        let accepted = tokio::select! {
            _ = until_closed(&mut shutdown) => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let place = places.admit(MAX_CONNECTIONS, None);
        let mut evicted = place.evicted.clone();
        // Given up once the request has arrived: a connection being answered is not
        // evicted (so a flood of stalled connections cannot close a health checker's,
        // which asks at once), and its answer is small and ends the connection.
        let place = Arc::new(std::sync::Mutex::new(Some(place)));
        let shared = shared.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                drop(place.lock().unwrap_or_else(|e| e.into_inner()).take());
                answer(request, shared.clone())
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            // Ends with the server: nothing here may hold the server's state past it.
            tokio::select! {
                _ = until_closed(&mut shutdown) => {}
                _ = until_evicted(&mut evicted) => {}
                _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection) => {}
            }
        });
    }
}

/// Returns when the connection is evicted; never once its place was given up.
async fn until_evicted(evicted: &mut watch::Receiver<bool>) {
    if evicted.wait_for(|e| *e).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn answer(
    request: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path();
    let (status, content_type, body) = match (request.method(), path) {
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            metrics::CONTENT_TYPE,
            shared.metrics.render(snapshot(&shared)),
        ),
        (&Method::GET, "/healthz") => match ready(&shared).await {
            Ok(()) => (StatusCode::OK, TEXT, "ready\n".to_string()),
            Err(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                TEXT,
                format!("not ready: {why}\n"),
            ),
        },
        (_, "/metrics" | "/healthz") => (
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            "only GET\n".to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            TEXT,
            "not found: /metrics and /healthz are served here\n".to_string(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}

/// The gauges' current values.
fn snapshot(shared: &Shared) -> Snapshot {
    let commits = &shared.commits;
    Snapshot {
        connections: shared
            .connections
            .load(std::sync::atomic::Ordering::Acquire),
        sessions: shared.hub.session_count(),
        commit_queue: commits.max_capacity() - commits.capacity(),
    }
}

/// Whether the server can take messages: its committer runs, its store answers, and
/// in a cluster its bus to the other nodes is connected (without it, a member on
/// another node would hear of a message only at the next sweep).
async fn ready(shared: &Shared) -> Result<(), String> {
    if shared.commits.is_closed() {
        return Err("the committer has stopped".into());
    }
    if shared.bus.as_ref().is_some_and(|b| !b.is_connected()) {
        return Err("the bus to the other nodes is not connected".into());
    }
    let store = shared.store.clone();
    match tokio::task::spawn_blocking(move || store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("the store does not answer: {e}")),
        Err(_) => Err("the store check failed".into()),
    }
}
