//! Webhooks as a provider sends them: GitHub-signed deliveries, bursts of them with duplicates
//! and bad signatures, and a keep-alive HTTP/1.1 sender that measures each acknowledgement.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hmac::{Hmac, Mac as _};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use tokio::sync::Mutex;

/// One HTTP request to the webhook URL.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// `X-GitHub-Delivery`.
    pub delivery_id: String,
    /// `Content-Type`.
    pub content_type: String,
    /// The exact bytes sent.
    pub body: Vec<u8>,
    /// `X-Hub-Signature-256`.
    pub signature: String,
    /// `X-GitHub-Event`.
    pub event: String,
}

impl Webhook {
    /// A delivery signed with `secret` as GitHub signs it.
    pub fn github(secret: &str, delivery_id: &str, content_type: &str, body: Vec<u8>) -> Self {
        Webhook {
            delivery_id: delivery_id.to_owned(),
            content_type: content_type.to_owned(),
            signature: github_signature(secret, &body),
            body,
            event: "push".to_owned(),
        }
    }
}

/// `sha256=<hex HMAC-SHA256 of body>`.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What a burst consists of, and what should come of it.
#[derive(Debug, Clone)]
pub struct Burst {
    /// Every request, in sending order.
    pub webhooks: Vec<Webhook>,
    /// Delivery ids that must end up stored (or, on failure, in the DLQ) exactly once.
    pub valid_ids: Vec<String>,
    /// How many requests repeat an earlier delivery (same id and bytes).
    pub duplicates: usize,
    /// How many requests carry a wrong signature.
    pub bad_signatures: usize,
}

impl Burst {
    /// `unique` JSON push events, `duplicates` redeliveries of some of them, `bad_signatures`
    /// forged requests, plus (when `extras`) one form-encoded and one binary delivery, mixed
    /// in a fixed pseudo-random order.
    pub fn github(
        secret: &str,
        prefix: &str,
        unique: usize,
        duplicates: usize,
        bad_signatures: usize,
        extras: bool,
    ) -> Self {
        let mut webhooks = Vec::new();
        let mut valid_ids = Vec::new();
        for n in 0..unique {
            let id = format!("{prefix}-{n:05}");
            let body = serde_json::json!({
                "ref": "refs/heads/main",
                "after": format!("{:040x}", n as u128 * 0x9e37_79b9_7f4a_7c15),
                "repository": {"full_name": "nami-serverless/demo", "id": 4242},
                "pusher": {"name": "octocat"},
                "commits": [{"id": n, "message": format!("commit number {n}")}],
            });
            webhooks.push(Webhook::github(
                secret,
                &id,
                "application/json",
                body.to_string().into_bytes(),
            ));
            valid_ids.push(id);
        }
        if extras {
            let form_id = format!("{prefix}-form");
            let payload = serde_json::json!({"zen": "Keep it logically awesome.", "hook_id": 1});
            let form: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("payload", &payload.to_string())
                .finish();
            webhooks.push(Webhook::github(
                secret,
                &form_id,
                "application/x-www-form-urlencoded",
                form.into_bytes(),
            ));
            valid_ids.push(form_id);
            let binary_id = format!("{prefix}-binary");
            let bytes: Vec<u8> = (0..=255u8).chain([0xff, 0xfe, 0x00, 0x80]).collect();
            webhooks.push(Webhook::github(
                secret,
                &binary_id,
                "application/octet-stream",
                bytes,
            ));
            valid_ids.push(binary_id);
        }
        let originals = webhooks.len().max(1);
        for n in 0..duplicates {
            let again = webhooks[(n * 7919) % originals].clone();
            webhooks.push(again);
        }
        for n in 0..bad_signatures {
            let mut forged = Webhook::github(
                "not-the-secret",
                &format!("{prefix}-forged-{n:04}"),
                "application/json",
                format!("{{\"forged\":{n}}}").into_bytes(),
            );
            forged.event = "push".into();
            webhooks.push(forged);
        }
        shuffle(&mut webhooks);
        Burst {
            webhooks,
            valid_ids,
            duplicates,
            bad_signatures,
        }
    }
}

/// A deterministic shuffle (no RNG dependency; the order only needs to be mixed).
fn shuffle<T>(items: &mut [T]) {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let bound = u64::try_from(i + 1).expect("a slice's length fits in u64");
        let j = usize::try_from(state % bound).expect("below a slice index");
        items.swap(i, j);
    }
}

/// The answer to one request.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Index into the sent list.
    pub index: usize,
    /// HTTP status (0 when the request could not be sent).
    pub status: u16,
    /// Time from sending the request to the full response.
    pub latency: Duration,
    /// The response body.
    pub body: Bytes,
}

/// Sends every webhook to `url` over `connections` keep-alive connections; `progress` is
/// called with the number answered so far after each answer.
pub async fn send_all(
    url: &str,
    webhooks: &[Webhook],
    connections: usize,
    progress: impl Fn(usize) + Send + Sync + 'static,
) -> Vec<Answer> {
    let uri: http::Uri = url.parse().expect("a webhook URL");
    let authority = uri.authority().expect("host:port").to_string();
    let next = Arc::new(AtomicUsize::new(0));
    let answers = Arc::new(Mutex::new(Vec::with_capacity(webhooks.len())));
    let webhooks: Arc<Vec<Webhook>> = Arc::new(webhooks.to_vec());
    let progress = Arc::new(progress);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..connections.max(1) {
        let (uri, authority) = (uri.clone(), authority.clone());
        let (next, answers, webhooks, progress) = (
            next.clone(),
            answers.clone(),
            webhooks.clone(),
            progress.clone(),
        );
        workers.spawn(async move {
            let mut sender = None;
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(webhook) = webhooks.get(index) else {
                    return;
                };
                let started = Instant::now();
                let (status, body) = match send_one(&mut sender, &authority, &uri, webhook).await {
                    Ok(answer) => answer,
                    Err(_) => {
                        sender = None;
                        (0, Bytes::new())
                    }
                };
                let mut answers = answers.lock().await;
                answers.push(Answer {
                    index,
                    status,
                    latency: started.elapsed(),
                    body,
                });
                progress(answers.len());
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let mut answers = std::mem::take(&mut *answers.lock().await);
    answers.sort_by_key(|a| a.index);
    answers
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn send_one(
    sender: &mut Option<Sender>,
    authority: &str,
    uri: &http::Uri,
    webhook: &Webhook,
) -> Result<(u16, Bytes), Box<dyn std::error::Error + Send + Sync>> {
    if sender.as_ref().is_none_or(|s| s.is_closed()) {
        let stream = tokio::net::TcpStream::connect(authority).await?;
        let (new_sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        *sender = Some(new_sender);
    }
    let sender = sender.as_mut().expect("connected");
    sender.ready().await?;
    let request = http::Request::post(uri.path())
        .header(http::header::HOST, authority)
        .header(http::header::CONTENT_TYPE, &webhook.content_type)
        .header(http::header::USER_AGENT, "GitHub-Hookshot/nami-demo")
        .header("x-github-event", &webhook.event)
        .header("x-github-delivery", &webhook.delivery_id)
        .header("x-hub-signature-256", &webhook.signature)
        .body(Full::new(Bytes::from(webhook.body.clone())))?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// The `q`-quantile (0..=1) of `latencies`.
pub fn quantile(latencies: &[Duration], q: f64) -> Duration {
    if latencies.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = latencies.to_vec();
    sorted.sort();
    // The nearest rank, round(q × (n − 1)): non-negative and below n for q in 0..=1.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
