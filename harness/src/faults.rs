//! A fault-injecting proxy on loopback in front of moto: it answers a chosen share of AWS calls
//! itself — with the service's throttling error, an HTTP 500, or a dropped connection — and
//! forwards the rest, holding one chosen operation for a while if asked (a slow AWS). Every fault is injected *before* the call reaches moto, as AWS's own
//! throttling and front-end failures happen, so a faulted call changed nothing.
//!
//! The service of each call is read from its SigV4 credential scope, so a throttling error has
//! the shape that service's protocol uses (EC2's `RequestLimitExceeded`, the query protocols'
//! `Throttling`, the JSON protocols' `x-amzn-errortype`). Retries are counted from the SDK's
//! `amz-sdk-request: attempt=N` header, and a call's sixth attempt is always forwarded: six faults
//! in a row would be an outage (whose one-sentence error is tested elsewhere), and with a
//! reproducible sequence a run would otherwise fail on the ~1-in-15,000 call it hits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

/// Attempts of one call the proxy may fault: the provider's default `max_retries` (5).
const LAST_FAULTED_ATTEMPT: u32 = 5;

/// What the proxy does to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Forward,
    Throttle,
    ServerError,
    Drop,
}

/// Counts of what the proxy saw and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests received (first attempts and retries).
    pub requests: u64,
    /// Requests that were retries (`attempt` > 1).
    pub retries: u64,
    /// Requests answered with the service's throttling error.
    pub throttled: u64,
    /// Requests answered with HTTP 500.
    pub server_errors: u64,
    /// Requests whose connection was closed without an answer.
    pub dropped: u64,
    /// Requests forwarded to moto.
    pub forwarded: u64,
}

impl Counts {
    /// Every fault injected.
    pub fn faults(&self) -> u64 {
        self.throttled + self.server_errors + self.dropped
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    server_errors: AtomicU64,
    dropped: AtomicU64,
    forwarded: AtomicU64,
}

struct Shared {
    upstream: SocketAddr,
    /// Calls (by their `x-amz-target`) held this long before they are forwarded.
    delay: Mutex<Option<(String, std::time::Duration)>>,
    /// Faulted calls per million.
    share_ppm: AtomicU64,
    /// Held while a call is forwarded when calls go one after another ([`FaultProxy::one_at_a_time`]).
    serial: tokio::sync::Mutex<()>,
    one_at_a_time: std::sync::atomic::AtomicBool,
    random: Mutex<u64>,
    counters: Counters,
}

impl Shared {
    /// The next pseudo-random number (xorshift64*: reproducible from the seed).
    fn next(&self) -> u64 {
        let mut state = self.random.lock().unwrap_or_else(|e| e.into_inner());
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fate(&self) -> Fate {
        let roll = self.next() % 1_000_000;
        let share = self.share_ppm.load(Ordering::Relaxed);
        if roll >= share {
            return Fate::Forward;
        }
        // The faulted share, split evenly three ways.
        match roll * 3 / share.max(1) {
            0 => Fate::Throttle,
            1 => Fate::ServerError,
            _ => Fate::Drop,
        }
    }
}

/// The proxy, serving until dropped.
pub struct FaultProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `upstream` (moto's `http://host:port`),
    /// faulting `percent` of the calls (0–100), reproducibly from `seed`.
    pub async fn start(upstream: &str, percent: u32, seed: u64) -> std::io::Result<FaultProxy> {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            share_ppm: AtomicU64::new(ppm(percent)),
            serial: tokio::sync::Mutex::new(()),
            one_at_a_time: std::sync::atomic::AtomicBool::new(false),
            delay: Mutex::new(None),
            random: Mutex::new(seed | 1),
            counters: Counters::default(),
        });
        let serving = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let shared = shared.clone();
                        async move { handle(&shared, request).await }
                    });
                    // A dropped call ends its connection: that error is the point.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(FaultProxy {
            address,
            shared,
            task,
        })
    }

    /// The URL to point every service's endpoint at.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Holds every call of JSON-protocol operation `target` (its `x-amz-target`, e.g.
    /// `AmazonSQS.SendMessage`) for `delay` before forwarding it: a slow AWS, for the callers'
    /// timeouts. The call still happens.
    pub fn delay(&self, target: &str, delay: std::time::Duration) {
        *self.shared.delay.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((target.to_owned(), delay));
    }

    /// Forwards calls one after another (`true`) or as they come: with one at a time, calls a
    /// client makes concurrently wait for each other, as if it made its steps in sequence.
    pub fn one_at_a_time(&self, serial: bool) {
        self.shared.one_at_a_time.store(serial, Ordering::Relaxed);
    }

    /// What the proxy has seen and done so far.
    pub fn counts(&self) -> Counts {
        let c = &self.shared.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Counts {
            requests: load(&c.requests),
            retries: load(&c.retries),
            throttled: load(&c.throttled),
            server_errors: load(&c.server_errors),
            dropped: load(&c.dropped),
            forwarded: load(&c.forwarded),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `percent` (capped at 100) in calls per million.
fn ppm(percent: u32) -> u64 {
    u64::from(percent.min(100)) * 10_000
}

/// An error that makes hyper close the connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by the fault proxy")]
struct Dropped;

async fn handle(
    shared: &Shared,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let counters = &shared.counters;
    counters.requests.fetch_add(1, Ordering::Relaxed);
    let attempt = request
        .headers()
        .get("amz-sdk-request")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').find_map(|p| p.trim().strip_prefix("attempt=")))
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(1);
    if attempt > 1 {
        counters.retries.fetch_add(1, Ordering::Relaxed);
    }
    let service = service_of(&request);
    // The last attempt the provider's SDK makes (max_retries 5 by default) goes through: six faults
    // in a row on one call would be an outage, not the faults this proxy stands for.
    let fate = if attempt > LAST_FAULTED_ATTEMPT {
        Fate::Forward
    } else {
        shared.fate()
    };
    match fate {
        Fate::Forward => {
            let target = request
                .headers()
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok());
            let held = (shared
                .delay
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone())
            .filter(|(delayed, _)| target == Some(delayed.as_str()))
            .map(|(_, delay)| delay);
            if let Some(delay) = held {
                tokio::time::sleep(delay).await;
            }
            counters.forwarded.fetch_add(1, Ordering::Relaxed);
            let _turn = if shared.one_at_a_time.load(Ordering::Relaxed) {
                Some(shared.serial.lock().await)
            } else {
                None
            };
            Ok(forward(shared.upstream, request)
                .await
                .unwrap_or_else(|error| {
                    plain(StatusCode::BAD_GATEWAY, format!("upstream: {error}"))
                }))
        }
        Fate::Throttle => {
            counters.throttled.fetch_add(1, Ordering::Relaxed);

            Ok(throttled(&service))
        }
        Fate::ServerError => {
            counters.server_errors.fetch_add(1, Ordering::Relaxed);
            Ok(plain(StatusCode::INTERNAL_SERVER_ERROR, String::new()))
        }
        Fate::Drop => {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
            Err(Dropped)
        }
    }
}

/// The service a SigV4-signed request is for: `Credential=AKID/date/region/<service>/aws4_request`.
fn service_of<B>(request: &Request<B>) -> String {
    request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .and_then(|scope| scope.split('/').nth(3))
        .unwrap_or_default()
        .to_owned()
}

/// The throttling error of `service`, in its protocol's shape.
fn throttled(service: &str) -> Response<Full<Bytes>> {
    let (status, content_type, body, header) = match service {
        "ec2" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/xml",
            "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>".to_owned(),
            None,
        ),
        // CloudWatch signs as `monitoring`; like IAM and STS it speaks the query protocol.
        "iam" | "sts" | "monitoring" => (
            StatusCode::BAD_REQUEST,
            "text/xml",
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>".to_owned(),
            None,
        ),
        "apigateway" | "lambda" => (
            StatusCode::TOO_MANY_REQUESTS,
            "application/json",
            r#"{"message":"Rate exceeded"}"#.to_owned(),
            Some("TooManyRequestsException"),
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            "application/x-amz-json-1.0",
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_owned(),
            Some("ThrottlingException"),
        ),
    };
    let mut response = Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, content_type);
    if let Some(code) = header {
        response = response.header("x-amzn-errortype", code);
    }
    response
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, String::new()))
}

fn plain(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

/// Sends `request` to moto as it came and returns moto's answer.
async fn forward(
    upstream: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let stream = TcpStream::connect(upstream).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = sender
        .send_request(Request::from_parts(parts, Full::new(body)))
        .await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_faulted_share_is_split_three_ways_and_reproducible() {
        let shared = |seed| Shared {
            upstream: "127.0.0.1:1".parse().unwrap(),
            share_ppm: AtomicU64::new(ppm(20)),
            serial: tokio::sync::Mutex::new(()),
            one_at_a_time: std::sync::atomic::AtomicBool::new(false),
            delay: Mutex::new(None),
            random: Mutex::new(seed),
            counters: Counters::default(),
        };
        let (a, b) = (shared(7), shared(7));
        let fates: Vec<Fate> = (0..30_000).map(|_| a.fate()).collect();
        assert!(
            fates
                .iter()
                .zip((0..).map(|_| b.fate()))
                .all(|(x, y)| *x == y)
        );
        let count = |fate| fates.iter().filter(|f| **f == fate).count() as f64 / 30_000.0;
        assert!((count(Fate::Forward) - 0.8).abs() < 0.01);
        for fate in [Fate::Throttle, Fate::ServerError, Fate::Drop] {
            assert!((count(fate) - 0.2 / 3.0).abs() < 0.01, "{fate:?}");
        }
    }
}
