//! The Lambda Runtime API of one execution environment, as the `bootstrap` inside it sees it.
//!
//! Like Lambda, every execution environment has its own API endpoint (`AWS_LAMBDA_RUNTIME_API`):
//! `GET /2018-06-01/runtime/invocation/next` hands out one invocation at a time, the runtime
//! answers it with `POST …/invocation/{id}/response` or `…/{id}/error`, and a runtime that cannot
//! start reports `POST /2018-06-01/runtime/init/error`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::http::{Reply, json, read_body, serve};

/// Lambda's limit on a synchronous response payload: 6 MiB and 100 bytes (6,291,556, as Lambda
/// reports it in `Function.ResponseSizeTooLarge`).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024 + 100;
const API_PREFIX: &str = "/2018-06-01/runtime";

/// An error a runtime reported, in the Runtime API's JSON shape.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Diagnostic {
    /// `errorType`, e.g. `Runtime.InitError` or the handler's error type.
    #[serde(rename = "errorType", default)]
    pub error_type: String,
    /// `errorMessage`.
    #[serde(rename = "errorMessage", default)]
    pub error_message: String,
}

/// How a runtime answered an invocation.
#[derive(Debug)]
pub(crate) enum Outcome {
    Response(Bytes),
    Error(Diagnostic),
}

/// One invocation waiting for the runtime's `/next`.
#[derive(Debug)]
pub(crate) struct Invocation {
    pub request_id: String,
    pub payload: Bytes,
    pub timeout: Duration,
    /// When the invocation must be done; `None`: its timeout from when the runtime takes it. (An
    /// init retried within the invocation counts against the timeout, as on Lambda.)
    pub deadline: Option<Instant>,
    /// Receives the invocation's deadline when the runtime takes it.
    pub taken: oneshot::Sender<Instant>,
    pub outcome: oneshot::Sender<Outcome>,
}

/// The running API of one environment; stops serving when dropped.
#[derive(Debug)]
pub(crate) struct RuntimeApi {
    address: SocketAddr,
    invocations: mpsc::Sender<Invocation>,
    init_error: watch::Receiver<Option<Diagnostic>>,
    waiting: watch::Receiver<bool>,
    server: JoinHandle<()>,
}

struct State {
    function_arn: String,
    next: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: watch::Sender<Option<Diagnostic>>,
    /// Whether the runtime is inside `/next`, waiting for work (where Lambda freezes it).
    waiting: watch::Sender<bool>,
}

impl RuntimeApi {
    /// Starts the API for a function on a free loopback port.
    pub(crate) async fn start(function_arn: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let (invocations, next) = mpsc::channel(1);
        let (init_error, init_error_rx) = watch::channel(None);
        let (waiting, waiting_rx) = watch::channel(false);
        let state = Arc::new(State {
            function_arn: function_arn.to_owned(),
            next: tokio::sync::Mutex::new(next),
            in_flight: Mutex::new(HashMap::new()),
            init_error,
            waiting,
        });
        let server = serve(listener, move |request, _peer| {
            let state = state.clone();
            async move { route(&state, request).await }
        });
        Ok(RuntimeApi {
            address,
            invocations,
            init_error: init_error_rx,
            waiting: waiting_rx,
            server,
        })
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API` (host:port).
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// Queues an invocation for the runtime's next `/next`; false if the API has stopped.
    pub(crate) async fn offer(&self, invocation: Invocation) -> bool {
        self.invocations.send(invocation).await.is_ok()
    }

    /// Watches whether the runtime is inside `/next`, waiting for an invocation.
    pub(crate) fn waiting(&self) -> watch::Receiver<bool> {
        self.waiting.clone()
    }

    /// Watches for an error reported on `/init/error`.
    pub(crate) fn init_errors(&self) -> watch::Receiver<Option<Diagnostic>> {
        self.init_error.clone()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn route(state: &State, request: Request<Incoming>) -> Reply {
    let path = request.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(API_PREFIX) else {
        return not_found(&path);
    };
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match (request.method(), segments.as_slice()) {
        (&Method::GET, ["invocation", "next"]) => next_invocation(state).await,
        (&Method::POST, ["invocation", id, "response"]) => {
            let id = id.to_string();
            match read_body(request.into_body(), MAX_RESPONSE_BYTES).await {
                Some(body) => finish(state, &id, Outcome::Response(body)),
                None => {
                    let too_large = Diagnostic {
                        error_type: "Function.ResponseSizeTooLarge".into(),
                        error_message: format!(
                            "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
                        ),
                    };
                    finish(state, &id, Outcome::Error(too_large));
                    json(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        &json!({"errorType": "RequestEntityTooLarge", "errorMessage": "response too large"}),
                    )
                }
            }
        }
        (&Method::POST, ["invocation", id, "error"]) => {
            let id = id.to_string();
            let diagnostic = diagnostic(request).await;
            finish(state, &id, Outcome::Error(diagnostic))
        }
        (&Method::POST, ["init", "error"]) => {
            let diagnostic = diagnostic(request).await;
            state.init_error.send_replace(Some(diagnostic));
            accepted()
        }
        _ => not_found(&path),
    }
}

/// Blocks until an invocation is queued, then hands it to the runtime with Lambda's headers.
async fn next_invocation(state: &State) -> Reply {
    let mut next = state.next.lock().await;
    loop {
        state.waiting.send_replace(true);
        let received = next.recv().await;
        state.waiting.send_replace(false);
        let Some(invocation) = received else {
            // The environment is being shut down.
            return json(
                StatusCode::GONE,
                &json!({"errorType": "EnvironmentStopped", "errorMessage": "the execution environment is stopping"}),
            );
        };
        let now = Instant::now();
        let deadline = invocation.deadline.unwrap_or(now + invocation.timeout);
        if invocation.taken.send(deadline).is_err() {
            // The caller gave up before the runtime asked; wait for the next one.
            continue;
        }
        let deadline_ms = (SystemTime::now() + deadline.saturating_duration_since(now))
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        state
            .in_flight
            .lock()
            .expect("in-flight table")
            .insert(invocation.request_id.clone(), invocation.outcome);
        let mut reply = Reply::new(invocation.payload.into());
        let headers = reply.headers_mut();
        let mut set = |name: &'static str, value: String| {
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        };
        set("lambda-runtime-aws-request-id", invocation.request_id);
        set("lambda-runtime-deadline-ms", deadline_ms.to_string());
        set(
            "lambda-runtime-invoked-function-arn",
            state.function_arn.clone(),
        );
        set(
            "lambda-runtime-trace-id",
            format!(
                "Root=1-{:08x}-{};Sampled=0",
                deadline_ms / 1000,
                &uuid::Uuid::new_v4().simple().to_string()[..24]
            ),
        );
        set("content-type", "application/json".into());
        return reply;
    }
}

fn finish(state: &State, request_id: &str, outcome: Outcome) -> Reply {
    let waiting = state
        .in_flight
        .lock()
        .expect("in-flight table")
        .remove(request_id);
    match waiting {
        Some(waiting) => {
            let _ = waiting.send(outcome);
            accepted()
        }
        None => json(
            StatusCode::BAD_REQUEST,
            &json!({"errorType": "InvalidRequestID", "errorMessage": format!("no invocation {request_id} is in flight")}),
        ),
    }
}

async fn diagnostic(request: Request<Incoming>) -> Diagnostic {
    let header_type = request
        .headers()
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = read_body(request.into_body(), MAX_RESPONSE_BYTES)
        .await
        .unwrap_or_default();
    let mut diagnostic: Diagnostic = serde_json::from_slice(&body).unwrap_or_else(|_| Diagnostic {
        error_type: String::new(),
        error_message: String::from_utf8_lossy(&body).into_owned(),
    });
    if diagnostic.error_type.is_empty() {
        diagnostic.error_type = header_type.unwrap_or_else(|| "Unhandled".into());
    }
    diagnostic
}

fn accepted() -> Reply {
    json(StatusCode::ACCEPTED, &json!({"status": "OK"}))
}

fn not_found(path: &str) -> Reply {
    json(
        StatusCode::NOT_FOUND,
        &json!({"errorType": "NotFound", "errorMessage": format!("no Runtime API route {path}")}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// One raw HTTP/1.1 exchange (the API closes nothing, so read until the body is complete).
    async fn call(address: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response[9..12].parse().unwrap();
        (status, response)
    }

    #[tokio::test]
    async fn init_errors_unknown_ids_and_next_follow_the_runtime_api() {
        let api = RuntimeApi::start("arn:aws:lambda:us-east-1:1:function:f")
            .await
            .unwrap();
        let address = api.address();
        let mut init_errors = api.init_errors();

        let (status, _) = call(
            address,
            "POST",
            "/2018-06-01/runtime/init/error",
            r#"{"errorType":"Runtime.InitError","errorMessage":"no config"}"#,
        )
        .await;
        assert_eq!(status, 202);
        let reported = init_errors.wait_for(Option::is_some).await.unwrap().clone();
        assert_eq!(
            reported,
            Some(Diagnostic {
                error_type: "Runtime.InitError".into(),
                error_message: "no config".into()
            })
        );

        let (status, _) = call(
            address,
            "POST",
            "/2018-06-01/runtime/invocation/nope/response",
            "{}",
        )
        .await;
        assert_eq!(status, 400, "an unknown request id is refused");

        let (taken, taken_rx) = oneshot::channel();
        let (outcome, outcome_rx) = oneshot::channel();
        assert!(
            api.offer(Invocation {
                request_id: "req-1".into(),
                payload: Bytes::from_static(b"{\"n\":1}"),
                timeout: Duration::from_secs(3),
                deadline: None,
                taken,
                outcome,
            })
            .await
        );
        let (status, next) = call(address, "GET", "/2018-06-01/runtime/invocation/next", "").await;
        assert_eq!(status, 200);
        let next = next.to_ascii_lowercase();
        assert!(
            next.contains("lambda-runtime-aws-request-id: req-1"),
            "{next}"
        );
        assert!(next.contains("lambda-runtime-deadline-ms: "), "{next}");
        assert!(
            next.contains("lambda-runtime-invoked-function-arn: arn:aws:lambda"),
            "{next}"
        );
        assert!(next.ends_with("{\"n\":1}"), "{next}");
        let deadline = taken_rx.await.unwrap();
        assert!(deadline > Instant::now() + Duration::from_secs(2));

        let (status, _) = call(
            address,
            "POST",
            "/2018-06-01/runtime/invocation/req-1/error",
            r#"{"errorType":"HandlerError","errorMessage":"boom"}"#,
        )
        .await;
        assert_eq!(status, 202);
        match outcome_rx.await.unwrap() {
            Outcome::Error(diagnostic) => assert_eq!(diagnostic.error_message, "boom"),
            other => panic!("expected an error outcome, got {other:?}"),
        }
    }
}
