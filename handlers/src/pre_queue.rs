//! The pre-queue function: verify, build the envelope, enqueue, answer fast.
//!
//! The decision of what to do with a request ([`PreQueue::admit`]) is pure; the I/O is one
//! `SendMessage` through an [`Enqueue`] adapter — a 2xx is returned only after it succeeded — and,
//! with a replay window, one conditional write through a [`ReplayGuard`] before it.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body as ResponseBody;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use serde_json::json;

use nami_contract::limits::{MAX_MESSAGE_BYTES, REPLAY_WINDOW_SECONDS, TOLERANCE_SECONDS};
use nami_contract::log_lines;
use nami_contract::metrics::{self, Metric};

use crate::config::{ConfigError, Settings, vars};
use crate::delivery_id::{DeliveryIdRule, REQUEST_ID_SOURCE};
use crate::envelope::{self, Body, ENVELOPE_VERSION, Envelope, SignatureCheck};
use crate::hooks::{BeforeEnqueue, MessageOptions, NoHooks, Verdict};
use crate::replay::{NoReplayGuard, ReplayGuard, Seen};
use crate::secrets::SecretSource;
use crate::signature::{DEFAULT_TOLERANCE_SECONDS, Scheme, SignatureError, Verifier};

/// The queue's MaximumMessageSize when none is configured (the contract's).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = bytes(MAX_MESSAGE_BYTES.default);
/// The largest MaximumMessageSize SQS allows (the contract's).
pub const SQS_MAX_MESSAGE_BYTES: usize = bytes(MAX_MESSAGE_BYTES.max);

/// A byte count of the contract (positive and far below `u32::MAX`) as a `usize`.
#[allow(clippy::cast_possible_truncation)]
const fn bytes(count: i64) -> usize {
    count.unsigned_abs() as usize
}
/// Seconds a sender is asked to wait before retrying when the queue is unavailable.
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// Sends one message to the pipeline's queue.
pub trait Enqueue {
    /// Sends `body` with `options`; `Ok` only when the queue has accepted it.
    fn send(
        &self,
        body: String,
        options: &MessageOptions,
    ) -> impl Future<Output = Result<(), EnqueueError>> + Send;
}

/// The queue did not take the message.
#[derive(Debug, thiserror::Error)]
#[error("SendMessage failed: {0}")]
pub struct EnqueueError(pub String);

/// What the pre-queue function is configured with.
#[derive(Debug, Clone)]
pub struct PreQueueSettings {
    /// The pipeline's name.
    pub pipeline: String,
    /// The queue to send to.
    pub queue_url: String,
    /// The queue's MaximumMessageSize; larger envelopes get a 413.
    pub max_message_bytes: usize,
    /// How senders are verified.
    pub scheme: Scheme,
    /// The signing secret, by value or by ARN (none for scheme `none`).
    pub secret: Option<SecretSource>,
    /// Allowed distance of a signed timestamp from now.
    pub tolerance_seconds: u64,
    /// Where the delivery id comes from, when configured.
    pub delivery_id: Option<DeliveryIdRule>,
    /// The replay window and the table recording accepted signed bodies, when configured.
    pub replay: Option<ReplaySettings>,
}

/// A replay window (schemes without a signed timestamp).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaySettings {
    /// How long an accepted signed body is refused under another delivery id.
    pub window: std::time::Duration,
    /// The DynamoDB table recording accepted signed bodies.
    pub table: String,
}

impl PreQueueSettings {
    /// Reads the settings; an unknown or missing scheme is an error, never "accept everything".
    pub fn read<F: Fn(&str) -> Option<String>>(
        settings: &Settings<F>,
    ) -> Result<Self, ConfigError> {
        let scheme_name = settings.required(vars::SIGNATURE_SCHEME)?;
        let scheme = Scheme::parse(&scheme_name, |name| {
            let var = match name {
                "header" => vars::SIGNATURE_HEADER,
                "algorithm" => vars::SIGNATURE_ALGORITHM,
                "encoding" => vars::SIGNATURE_ENCODING,
                "prefix" => vars::SIGNATURE_PREFIX,
                _ => return None,
            };
            settings.optional(var)
        })?;
        let delivery_id = match settings.optional(vars::DELIVERY_ID) {
            None => None,
            Some(text) => {
                Some(
                    DeliveryIdRule::parse(&text).ok_or_else(|| ConfigError::Invalid {
                        var: vars::DELIVERY_ID,
                        value: text,
                        expected: "header:<name> or json:<pointer>".into(),
                    })?,
                )
            }
        };
        let replay = match settings.optional(vars::REPLAY_WINDOW_SECONDS) {
            None => None,
            Some(_) if scheme.uses_timestamp() => {
                return Err(ConfigError::Invalid {
                    var: vars::REPLAY_WINDOW_SECONDS,
                    value: scheme_name,
                    expected: "a scheme without a signed timestamp (github, shopify, hmac): the others refuse replays by their tolerance".into(),
                });
            }
            Some(_) => Some(ReplaySettings {
                window: std::time::Duration::from_secs(settings.number(
                    vars::REPLAY_WINDOW_SECONDS,
                    REPLAY_WINDOW_SECONDS.default.unsigned_abs(),
                    REPLAY_WINDOW_SECONDS.min.unsigned_abs()
                        ..=REPLAY_WINDOW_SECONDS.max.unsigned_abs(),
                )?),
                table: settings.required(vars::REPLAY_TABLE)?,
            }),
        };
        Ok(PreQueueSettings {
            pipeline: settings.required(vars::PIPELINE)?,
            queue_url: settings.required(vars::QUEUE_URL)?,
            max_message_bytes: settings.number(
                vars::MAX_MESSAGE_BYTES,
                DEFAULT_MAX_MESSAGE_BYTES,
                bytes(MAX_MESSAGE_BYTES.min)..=SQS_MAX_MESSAGE_BYTES,
            )?,
            secret: settings.secret(vars::SIGNATURE_SECRET, vars::SIGNATURE_SECRET_ARN)?,
            tolerance_seconds: settings.number(
                vars::SIGNATURE_TOLERANCE_SECONDS,
                DEFAULT_TOLERANCE_SECONDS,
                TOLERANCE_SECONDS.min.unsigned_abs()..=TOLERANCE_SECONDS.max.unsigned_abs(),
            )?,
            scheme,
            delivery_id,
            replay,
        })
    }
}

/// Why a request was refused; each maps to one 4xx status.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// The body could not be read.
    #[error("{0}")]
    BadRequest(String),
    /// The signature did not verify.
    #[error("invalid signature: {0}")]
    Unauthorized(#[from] SignatureError),
    /// The envelope would not fit in one queue message.
    #[error(
        "payload too large: the webhook's envelope is {size} bytes; the queue's maximum message size is {limit} bytes"
    )]
    TooLarge {
        /// The envelope's size in bytes.
        size: usize,
        /// The queue's limit.
        limit: usize,
    },
}

impl Rejection {
    /// The HTTP status answered for this rejection.
    pub fn status(&self) -> i64 {
        match self {
            Rejection::BadRequest(_) => 400,
            Rejection::Unauthorized(_) => 401,
            Rejection::TooLarge { .. } => 413,
        }
    }

    /// The metric that counts this rejection.
    pub fn metric(&self) -> Metric {
        match self {
            Rejection::BadRequest(_) => metrics::REJECTED_MALFORMED,
            Rejection::Unauthorized(_) => metrics::REJECTED_SIGNATURE,
            Rejection::TooLarge { .. } => metrics::REJECTED_SIZE,
        }
    }
}

/// The pre-queue function: its settings, its verifier, its queue, its replay guard and its
/// custom logic.
#[derive(Debug)]
pub struct PreQueue<Q, R = NoReplayGuard> {
    pipeline: String,
    max_message_bytes: usize,
    verifier: Verifier,
    delivery_id: Option<DeliveryIdRule>,
    queue: Q,
    replay: R,
    hook: Hook,
}

/// The custom logic run before enqueueing ([`NoHooks`] by default).
struct Hook(Arc<dyn BeforeEnqueue>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

impl<Q: Enqueue> PreQueue<Q> {
    /// Builds the function from settings and the already-resolved signing secret.
    pub fn new(
        settings: PreQueueSettings,
        secret: Option<&str>,
        queue: Q,
    ) -> Result<Self, ConfigError> {
        let verifier = Verifier::new(settings.scheme.clone(), secret, settings.tolerance_seconds)?;
        let delivery_id = settings
            .delivery_id
            .or_else(|| DeliveryIdRule::for_scheme(&settings.scheme));
        Ok(PreQueue {
            pipeline: settings.pipeline,
            max_message_bytes: settings.max_message_bytes,
            verifier,
            delivery_id,
            queue,
            replay: NoReplayGuard,
            hook: Hook(Arc::new(NoHooks)),
        })
    }

    /// The same function, refusing replays through `guard`.
    pub fn with_replay_guard<R: ReplayGuard>(self, guard: R) -> PreQueue<Q, R> {
        PreQueue {
            pipeline: self.pipeline,
            max_message_bytes: self.max_message_bytes,
            verifier: self.verifier,
            delivery_id: self.delivery_id,
            queue: self.queue,
            replay: guard,
            hook: self.hook,
        }
    }
}

impl<Q, R> PreQueue<Q, R> {
    /// The same function, running `hook` on each verified webhook before enqueueing it.
    pub fn with_hook(mut self, hook: impl BeforeEnqueue + 'static) -> Self {
        self.hook = Hook(Arc::new(hook));
        self
    }
}

impl<Q: Enqueue, R: ReplayGuard> PreQueue<Q, R> {
    /// Lambda entry point.
    pub async fn handle_event(
        &self,
        event: LambdaEvent<ApiGatewayProxyRequest>,
    ) -> Result<ApiGatewayProxyResponse, lambda_runtime::Error> {
        Ok(self.handle(&event.payload, Utc::now()).await)
    }

    /// Answers one request (see [`PreQueue::answer`]) and counts its outcome in the metrics.
    pub async fn handle(
        &self,
        request: &ApiGatewayProxyRequest,
        now: DateTime<Utc>,
    ) -> ApiGatewayProxyResponse {
        let (response, outcome) = self.answer(request, now).await;
        crate::logging::record_metrics(&self.pipeline, &[(outcome, 1.0)]);
        response
    }

    /// Answers one request: 200 `{"id"}` once enqueued, 4xx when refused (409 for a replay), 503
    /// when the queue or the replay guard failed; with the metric that counts the outcome.
    pub async fn answer(
        &self,
        request: &ApiGatewayProxyRequest,
        now: DateTime<Utc>,
    ) -> (ApiGatewayProxyResponse, Metric) {
        let mut envelope = match self.admit(request, now) {
            Ok(envelope) => envelope,
            Err(rejection) => {
                tracing::warn!(pipeline = %self.pipeline, outcome = "rejected", status = rejection.status(), reason = %rejection);
                let response = json_response(
                    rejection.status(),
                    &json!({ "error": rejection.to_string() }),
                    None,
                );
                return (response, rejection.metric());
            }
        };
        match self
            .replay
            .check(&envelope.body.sha256, &envelope.id, now)
            .await
        {
            Ok(Seen::First) => {}
            Ok(Seen::Replayed) => {
                tracing::warn!(pipeline = %self.pipeline, delivery_id = %envelope.id, outcome = "rejected", status = 409, reason = "replayed signature");
                let response = json_response(
                    409,
                    &json!({ "error": "replayed request: this signed body was already accepted under another delivery id within the replay window" }),
                    None,
                );
                return (response, metrics::REJECTED_REPLAY);
            }
            Err(error) => {
                tracing::error!(pipeline = %self.pipeline, delivery_id = %envelope.id, outcome = "replay_check_unavailable", error = %error);
                let response = json_response(
                    503,
                    &json!({ "error": "the replay check is unavailable; retry later" }),
                    Some(RETRY_AFTER_SECONDS),
                );
                return (response, metrics::REPLAY_CHECK_FAILED);
            }
        }
        let mut options = MessageOptions::default();
        if let Verdict::Answer(reply) = self.hook.0.before_enqueue(&mut envelope, &mut options) {
            tracing::info!(pipeline = %self.pipeline, delivery_id = %envelope.id, outcome = "answered_by_hook", status = reply.status());
            let status = i64::from(reply.status());
            let response = match reply.body() {
                Some(body) => json_response(status, body, None),
                None => empty_response(status),
            };
            return (response, metrics::ANSWERED_BY_HOOK);
        }
        // The hook may have made it larger; SQS counts the attributes in the size.
        let message = envelope.to_message_body();
        let size = message.len() + options.attribute_bytes();
        if size > self.max_message_bytes {
            let rejection = Rejection::TooLarge {
                size,
                limit: self.max_message_bytes,
            };
            tracing::warn!(pipeline = %self.pipeline, delivery_id = %envelope.id, outcome = "rejected", status = rejection.status(), reason = %rejection);
            let response = json_response(
                rejection.status(),
                &json!({ "error": rejection.to_string() }),
                None,
            );
            return (response, rejection.metric());
        }
        match self.queue.send(message, &options).await {
            Ok(()) => {
                tracing::info!(pipeline = %self.pipeline, delivery_id = %envelope.id, outcome = log_lines::ENQUEUED);
                let response = json_response(200, &json!({ "id": envelope.id }), None);
                (response, metrics::ACCEPTED)
            }
            Err(error) => {
                tracing::error!(pipeline = %self.pipeline, delivery_id = %envelope.id, outcome = "queue_unavailable", error = %error);
                let response = json_response(
                    503,
                    &json!({ "error": "the queue is unavailable; retry later" }),
                    Some(RETRY_AFTER_SECONDS),
                );
                (response, metrics::ENQUEUE_FAILED)
            }
        }
    }

    /// Decides what to enqueue for a request, without any I/O.
    pub fn admit(
        &self,
        request: &ApiGatewayProxyRequest,
        now: DateTime<Utc>,
    ) -> Result<Envelope, Rejection> {
        let bytes = match (&request.body, request.is_base64_encoded) {
            (None, _) => Vec::new(),
            (Some(text), false) => text.clone().into_bytes(),
            (Some(text), true) => BASE64.decode(text).map_err(|_| {
                Rejection::BadRequest(
                    "body is marked base64-encoded but is not valid base64".into(),
                )
            })?,
        };
        let header_source = if request.multi_value_headers.is_empty() {
            &request.headers
        } else {
            &request.multi_value_headers
        };
        let mut headers = envelope::normalize_headers(
            header_source
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_bytes())),
        );

        self.verifier.verify(&headers, &bytes, now)?;
        envelope::redact_headers(&mut headers);

        let body = Body::new(&bytes, headers.get("content-type").map(String::as_str));
        let found = self.delivery_id.as_ref().and_then(|rule| {
            rule.find(&headers, body.json.as_ref())
                .map(|id| (id, rule.source()))
        });
        let (id, id_source) = match found {
            Some(found) => found,
            None => (request_id(request), REQUEST_ID_SOURCE.to_owned()),
        };

        let query_source = if request.multi_value_query_string_parameters.is_empty() {
            &request.query_string_parameters
        } else {
            &request.multi_value_query_string_parameters
        };
        let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in query_source.iter() {
            query
                .entry(name.to_owned())
                .or_default()
                .push(value.to_owned());
        }

        let envelope = Envelope {
            version: ENVELOPE_VERSION,
            id,
            id_source,
            pipeline: self.pipeline.clone(),
            received_at: DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now),
            method: request.http_method.as_str().to_owned(),
            path: request.path.clone().unwrap_or_else(|| "/".into()),
            query,
            source_ip: request.request_context.identity.source_ip.clone(),
            headers,
            body,
            signature: SignatureCheck {
                scheme: self.verifier.scheme().name().to_owned(),
                verified: !matches!(self.verifier.scheme(), Scheme::None),
            },
            fields: Default::default(),
        };
        let size = envelope.to_message_body().len();
        if size > self.max_message_bytes {
            return Err(Rejection::TooLarge {
                size,
                limit: self.max_message_bytes,
            });
        }
        Ok(envelope)
    }
}

/// API Gateway's request id; a fresh random id if the event carries none.
fn request_id(request: &ApiGatewayProxyRequest) -> String {
    request
        .request_context
        .request_id
        .clone()
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// A response with `status` and no body.
fn empty_response(status: i64) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status;
    response
}

fn json_response(
    status: i64,
    body: &serde_json::Value,
    retry_after: Option<u32>,
) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status;
    response.headers.insert(
        "content-type",
        "application/json".parse().expect("static header value"),
    );
    if let Some(seconds) = retry_after {
        response.headers.insert("retry-after", seconds.into());
    }
    response.body = Some(ResponseBody::Text(body.to_string()));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::apigw::ApiGatewayProxyRequest;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    /// The queue is never reached by `admit`; this one proves it.
    struct Unreachable;
    impl Enqueue for Unreachable {
        async fn send(&self, _: String, _: &MessageOptions) -> Result<(), EnqueueError> {
            unreachable!("admit does no I/O")
        }
    }

    /// A queue that keeps what it is sent, or refuses everything.
    #[derive(Default)]
    struct Recorded {
        sent: std::sync::Mutex<Vec<String>>,
        options: std::sync::Mutex<Vec<MessageOptions>>,
        refuse: bool,
    }
    impl Enqueue for &Recorded {
        async fn send(&self, body: String, options: &MessageOptions) -> Result<(), EnqueueError> {
            if self.refuse {
                return Err(EnqueueError("throttled".into()));
            }
            self.sent.lock().unwrap().push(body);
            self.options.lock().unwrap().push(options.clone());
            Ok(())
        }
    }

    fn answer(response: &ApiGatewayProxyResponse) -> (i64, serde_json::Value, Option<String>) {
        let Some(ResponseBody::Text(text)) = &response.body else {
            panic!("a text body: {response:?}")
        };
        assert_eq!(response.headers["content-type"], "application/json");
        let retry_after = response
            .headers
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (
            response.status_code,
            serde_json::from_str(text).unwrap(),
            retry_after,
        )
    }

    #[tokio::test]
    async fn answers_200_with_the_id_only_once_enqueued_and_503_when_the_queue_refuses() {
        let queue = Recorded::default();
        let function = PreQueue::new(settings(Scheme::Github), Some("s3cret"), &queue).unwrap();
        let request = github_request(r#"{"action":"opened"}"#, "s3cret");
        let event = LambdaEvent::new(request.clone(), lambda_runtime::Context::default());
        let (status, body, retry_after) = answer(&function.handle_event(event).await.unwrap());
        assert_eq!(
            (status, body, retry_after),
            (
                200,
                json!({"id": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}),
                None
            )
        );
        let sent = queue.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            Envelope::from_message_body(&sent[0]).unwrap().id,
            "72d3162e-cc78-11e3-81ab-4c9367dc0958"
        );

        let refusing = Recorded {
            refuse: true,
            ..Recorded::default()
        };
        let function = PreQueue::new(settings(Scheme::Github), Some("s3cret"), &refusing).unwrap();
        let (status, body, retry_after) = answer(&function.handle(&request, now()).await);
        assert_eq!(status, 503);
        assert_eq!(body["error"], "the queue is unavailable; retry later");
        assert_eq!(retry_after.as_deref(), Some("5"));
    }

    #[tokio::test]
    async fn a_refused_request_is_answered_with_its_status_and_reason_and_not_enqueued() {
        let queue = Recorded::default();
        let function = PreQueue::new(settings(Scheme::Github), Some("s3cret"), &queue).unwrap();
        let forged = github_request("{}", "guessed");
        let (status, body, _) = answer(&function.handle(&forged, now()).await);
        assert_eq!(
            (status, body),
            (
                401,
                json!({"error": "invalid signature: signature does not match"})
            )
        );
        assert!(queue.sent.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn every_answer_is_counted_by_the_metric_of_its_outcome() {
        let signed = github_request(r#"{"action":"opened"}"#, "s3cret");
        let queue = Recorded::default();
        let refusing = Recorded {
            refuse: true,
            ..Recorded::default()
        };
        let accepting = PreQueue::new(settings(Scheme::Github), Some("s3cret"), &queue).unwrap();
        let failing = PreQueue::new(settings(Scheme::Github), Some("s3cret"), &refusing).unwrap();
        let forged = github_request("{}", "guessed");
        let mut undecodable = ApiGatewayProxyRequest::default();
        (undecodable.body, undecodable.is_base64_encoded) = (Some("*not base64*".into()), true);
        let mut small = settings(Scheme::None);
        small.max_message_bytes = 2048;
        let mut oversized = ApiGatewayProxyRequest::default();
        oversized.body = Some("x".repeat(4000));
        let (unsigned, limited) = (
            PreQueue::new(settings(Scheme::None), None, &queue).unwrap(),
            PreQueue::new(small, None, &queue).unwrap(),
        );
        let cases = [
            (
                accepting.answer(&signed, now()).await,
                200,
                metrics::ACCEPTED,
            ),
            (
                failing.answer(&signed, now()).await,
                503,
                metrics::ENQUEUE_FAILED,
            ),
            (
                accepting.answer(&forged, now()).await,
                401,
                metrics::REJECTED_SIGNATURE,
            ),
            (
                unsigned.answer(&undecodable, now()).await,
                400,
                metrics::REJECTED_MALFORMED,
            ),
            (
                limited.answer(&oversized, now()).await,
                413,
                metrics::REJECTED_SIZE,
            ),
        ];
        for ((response, metric), status, expected) in cases {
            assert_eq!((response.status_code, metric), (status, expected));
        }
        for (scripted, expected) in [
            (Ok(Seen::Replayed), metrics::REJECTED_REPLAY),
            (Err(()), metrics::REPLAY_CHECK_FAILED),
        ] {
            let guard = ScriptedGuard::answering(scripted);
            let function = PreQueue::new(settings(Scheme::Github), Some("s3cret"), &queue)
                .unwrap()
                .with_replay_guard(&guard);
            assert_eq!(function.answer(&signed, now()).await.1, expected);
        }
    }

    /// A guard answering as scripted, recording what it is asked.
    struct ScriptedGuard {
        answer: Result<Seen, ()>,
        asked: std::sync::Mutex<Vec<(String, String)>>,
    }
    impl ScriptedGuard {
        fn answering(answer: Result<Seen, ()>) -> Self {
            ScriptedGuard {
                answer,
                asked: Default::default(),
            }
        }
    }
    impl ReplayGuard for &ScriptedGuard {
        async fn check(
            &self,
            body_sha256: &str,
            delivery_id: &str,
            _: DateTime<Utc>,
        ) -> Result<Seen, crate::replay::ReplayError> {
            let asked = (body_sha256.to_owned(), delivery_id.to_owned());
            self.asked.lock().unwrap().push(asked);
            self.answer
                .map_err(|()| crate::replay::ReplayError("table unreachable".into()))
        }
    }

    #[tokio::test]
    async fn a_replay_is_refused_with_409_and_an_unanswered_check_with_503_neither_enqueued() {
        let request = github_request(r#"{"action":"opened"}"#, "s3cret");
        let digest = Body::new(br#"{"action":"opened"}"#, Some("application/json")).sha256;
        for (scripted, status) in [
            (Ok(Seen::Replayed), 409),
            (Err(()), 503),
            (Ok(Seen::First), 200),
        ] {
            let queue = Recorded::default();
            let guard = ScriptedGuard::answering(scripted);
            let function = PreQueue::new(settings(Scheme::Github), Some("s3cret"), &queue)
                .unwrap()
                .with_replay_guard(&guard);
            let (got, body, retry_after) = answer(&function.handle(&request, now()).await);
            assert_eq!(got, status, "{body}");
            assert_eq!(queue.sent.lock().unwrap().len(), usize::from(status == 200));
            assert_eq!(
                guard.asked.lock().unwrap().clone(),
                [(
                    digest.clone(),
                    "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_owned()
                )],
                "keyed by the signed body, with its delivery id"
            );
            assert_eq!(retry_after.is_some(), status == 503);
        }
        // A forged request never reaches the guard (it would poison the window).
        let guard = ScriptedGuard::answering(Ok(Seen::First));
        let queue = Recorded::default();
        let function = PreQueue::new(settings(Scheme::Github), Some("s3cret"), &queue)
            .unwrap()
            .with_replay_guard(&guard);
        let forged = github_request(r#"{"action":"opened"}"#, "guessed");
        assert_eq!(answer(&function.handle(&forged, now()).await).0, 401);
        assert!(guard.asked.lock().unwrap().is_empty());
    }

    #[test]
    fn a_replay_window_needs_a_scheme_without_a_signed_timestamp_and_a_table() {
        let read = |pairs: &[(&str, &str)]| {
            let map: BTreeMap<&str, &str> = pairs.iter().copied().collect();
            PreQueueSettings::read(&Settings(|var: &str| map.get(var).map(|v| (*v).to_owned())))
        };
        let base = [
            (vars::PIPELINE, "p"),
            (vars::QUEUE_URL, "http://q"),
            (vars::SIGNATURE_SECRET, "s"),
            (vars::REPLAY_WINDOW_SECONDS, "3600"),
        ];
        let github = read(
            &[
                &base[..],
                &[
                    (vars::SIGNATURE_SCHEME, "github"),
                    (vars::REPLAY_TABLE, "nami-p-replay"),
                ],
            ]
            .concat(),
        )
        .unwrap();
        assert_eq!(
            github.replay,
            Some(ReplaySettings {
                window: std::time::Duration::from_secs(3600),
                table: "nami-p-replay".into()
            })
        );
        assert!(matches!(
            read(&[&base[..], &[(vars::SIGNATURE_SCHEME, "github")]].concat()),
            Err(ConfigError::Missing(vars::REPLAY_TABLE))
        ));
        assert!(matches!(
            read(
                &[
                    &base[..],
                    &[
                        (vars::SIGNATURE_SCHEME, "stripe"),
                        (vars::REPLAY_TABLE, "t")
                    ]
                ]
                .concat()
            ),
            Err(ConfigError::Invalid {
                var: vars::REPLAY_WINDOW_SECONDS,
                ..
            })
        ));
    }

    #[test]
    fn hmac_settings_come_from_their_own_variables() {
        let map: BTreeMap<&str, &str> = BTreeMap::from([
            (vars::PIPELINE, "p"),
            (vars::QUEUE_URL, "http://q"),
            (vars::SIGNATURE_SCHEME, "hmac"),
            (vars::SIGNATURE_HEADER, "X-Sig"),
            (vars::SIGNATURE_ALGORITHM, "sha1"),
            (vars::SIGNATURE_ENCODING, "base64"),
            (vars::SIGNATURE_PREFIX, "v1="),
        ]);
        let read =
            PreQueueSettings::read(&Settings(|var: &str| map.get(var).map(|v| (*v).to_owned())))
                .unwrap();
        let Scheme::Hmac(hmac) = read.scheme else {
            panic!("hmac")
        };
        assert_eq!(
            (
                hmac.header.as_str(),
                hmac.algorithm,
                hmac.encoding,
                hmac.prefix.as_str()
            ),
            (
                "x-sig",
                crate::signature::HmacAlgorithm::Sha1,
                crate::signature::SignatureEncoding::Base64,
                "v1="
            )
        );
    }

    fn settings(scheme: Scheme) -> PreQueueSettings {
        PreQueueSettings {
            pipeline: "orders".into(),
            queue_url: "http://127.0.0.1:1/queue".into(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            scheme,
            secret: None,
            tolerance_seconds: 300,
            delivery_id: None,
            replay: None,
        }
    }

    /// GitHub's `ping` answered 204 by the pipeline's own rule, and never enqueued.
    fn ping_is_answered(envelope: &mut Envelope, _: &mut MessageOptions) -> Verdict {
        match envelope.headers.get("x-github-event").map(String::as_str) {
            Some("ping") => Verdict::Answer(crate::hooks::Reply::no_content()),
            _ => Verdict::Enqueue,
        }
    }

    #[tokio::test]
    async fn a_hook_answers_without_enqueueing_only_after_the_signature_verified() {
        let queue = Recorded::default();
        let function = PreQueue::new(settings(Scheme::Github), Some("s3cret"), &queue)
            .unwrap()
            .with_hook(ping_is_answered);
        let mut ping = github_request(r#"{"zen":"hi"}"#, "s3cret");
        ping.headers
            .insert("x-github-event", "ping".parse().unwrap());
        let (response, metric) = function.answer(&ping, now()).await;
        assert_eq!(
            (response.status_code, metric),
            (204, metrics::ANSWERED_BY_HOOK)
        );
        assert!(response.body.is_none());
        assert!(queue.sent.lock().unwrap().is_empty(), "nothing enqueued");

        // A forged ping is refused before the hook sees it.
        let mut forged = github_request(r#"{"zen":"hi"}"#, "not-the-secret");
        forged
            .headers
            .insert("x-github-event", "ping".parse().unwrap());
        let (response, metric) = function.answer(&forged, now()).await;
        assert_eq!(
            (response.status_code, metric),
            (401, metrics::REJECTED_SIGNATURE)
        );

        // Any other event is enqueued as before.
        let push = github_request(r#"{"ref":"main"}"#, "s3cret");
        let (response, metric) = function.answer(&push, now()).await;
        assert_eq!((response.status_code, metric), (200, metrics::ACCEPTED));
        assert_eq!(queue.sent.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn what_a_hook_changes_is_enqueued_and_what_it_grows_past_the_limit_is_refused() {
        let queue = Recorded::default();
        let renamed = PreQueue::new(settings(Scheme::Github), Some("s3cret"), &queue)
            .unwrap()
            .with_hook(|envelope: &mut Envelope, options: &mut MessageOptions| {
                envelope.id = format!("gh-{}", envelope.id);
                options.set_group_id("octo-org/octo-repo").unwrap();
                options.set_attribute("event", "push").unwrap();
                Verdict::Enqueue
            });
        let request = github_request(r#"{"ref":"main"}"#, "s3cret");
        let (status, body, _) = answer(&renamed.handle(&request, now()).await);
        assert_eq!(
            (status, body),
            (
                200,
                json!({"id": "gh-72d3162e-cc78-11e3-81ab-4c9367dc0958"})
            )
        );
        let sent = queue.sent.lock().unwrap().clone();
        assert_eq!(
            Envelope::from_message_body(&sent[0]).unwrap().id,
            "gh-72d3162e-cc78-11e3-81ab-4c9367dc0958"
        );
        let options = queue.options.lock().unwrap().clone();
        assert_eq!(options[0].group_id(), Some("octo-org/octo-repo"));
        assert_eq!(options[0].attributes()["event"], "push");

        let small_queue = Recorded::default();
        let mut small = settings(Scheme::Github);
        small.max_message_bytes = 4096;
        let grower = PreQueue::new(small, Some("s3cret"), &small_queue)
            .unwrap()
            .with_hook(|envelope: &mut Envelope, _: &mut MessageOptions| {
                envelope.path = "x".repeat(8192);
                Verdict::Enqueue
            });
        let (response, metric) = grower.answer(&request, now()).await;
        assert_eq!(
            (response.status_code, metric),
            (413, metrics::REJECTED_SIZE)
        );
        assert!(small_queue.sent.lock().unwrap().is_empty());

        // The attributes count in the size, as SQS counts them.
        let plain_queue = Recorded::default();
        PreQueue::new(settings(Scheme::Github), Some("s3cret"), &plain_queue)
            .unwrap()
            .handle(&request, now())
            .await;
        let plain_size = plain_queue.sent.lock().unwrap()[0].len();
        let mut tight = settings(Scheme::Github);
        tight.max_message_bytes = plain_size + 100;
        let tagged_queue = Recorded::default();
        let tagger = PreQueue::new(tight, Some("s3cret"), &tagged_queue)
            .unwrap()
            .with_hook(|_: &mut Envelope, options: &mut MessageOptions| {
                options.set_attribute("note", "n".repeat(100)).unwrap();
                Verdict::Enqueue
            });
        let (response, metric) = tagger.answer(&request, now()).await;
        assert_eq!(
            (response.status_code, metric),
            (413, metrics::REJECTED_SIZE)
        );
        assert!(tagged_queue.sent.lock().unwrap().is_empty());
    }

    fn github_request(body: &str, secret: &str) -> ApiGatewayProxyRequest {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let mut request = ApiGatewayProxyRequest::default();
        request.http_method = http::Method::POST;
        request.path = Some("/webhook".into());
        request.body = Some(body.into());
        request.request_context.request_id = Some("req-1".into());
        request.request_context.identity.source_ip = Some("192.0.2.7".into());
        for (name, value) in [
            ("X-Hub-Signature-256", signature.as_str()),
            ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer t0ken"),
        ] {
            request.headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        request.query_string_parameters =
            std::collections::HashMap::from([("a".to_owned(), "1".to_owned())]).into();
        request
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_763_900_000_123).unwrap()
    }

    #[test]
    fn admits_a_signed_request_into_a_complete_envelope() {
        let function =
            PreQueue::new(settings(Scheme::Github), Some("s3cret"), Unreachable).unwrap();
        let envelope = function
            .admit(&github_request(r#"{"action":"opened"}"#, "s3cret"), now())
            .unwrap();
        assert_eq!(envelope.id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
        assert_eq!(envelope.id_source, "header:x-github-delivery");
        assert_eq!(
            (
                envelope.pipeline.as_str(),
                envelope.method.as_str(),
                envelope.path.as_str()
            ),
            ("orders", "POST", "/webhook")
        );
        assert_eq!(envelope.received_at, now());
        assert_eq!(envelope.query["a"], vec!["1"]);
        assert_eq!(envelope.source_ip.as_deref(), Some("192.0.2.7"));
        assert_eq!(envelope.headers["authorization"], crate::envelope::REDACTED);
        assert!(
            envelope.headers.contains_key("x-hub-signature-256"),
            "kept so the signature can be re-checked"
        );
        assert_eq!(envelope.body.json.as_ref().unwrap()["action"], "opened");
        assert_eq!(
            envelope.signature,
            SignatureCheck {
                scheme: "github".into(),
                verified: true
            }
        );
    }

    #[test]
    fn refuses_a_bad_signature_with_401() {
        let function =
            PreQueue::new(settings(Scheme::Github), Some("s3cret"), Unreachable).unwrap();
        let rejection = function
            .admit(&github_request("{}", "other"), now())
            .unwrap_err();
        assert_eq!(rejection.status(), 401);
        assert_eq!(
            rejection.to_string(),
            "invalid signature: signature does not match"
        );
    }

    #[test]
    fn falls_back_to_the_request_id_without_a_delivery_id() {
        let function =
            PreQueue::new(settings(Scheme::Github), Some("s3cret"), Unreachable).unwrap();
        let mut request = github_request("{}", "s3cret");
        request.headers.remove("x-github-delivery");
        let envelope = function.admit(&request, now()).unwrap();
        assert_eq!(
            (envelope.id.as_str(), envelope.id_source.as_str()),
            ("req-1", "request_id")
        );
    }

    #[test]
    fn oversized_envelope_is_413_naming_the_limit() {
        let mut small = settings(Scheme::None);
        small.max_message_bytes = 2048;
        let function = PreQueue::new(small, None, Unreachable).unwrap();
        let mut request = ApiGatewayProxyRequest::default();
        request.body = Some("x".repeat(4000));
        let rejection = function.admit(&request, now()).unwrap_err();
        assert_eq!(rejection.status(), 413);
        assert!(
            rejection
                .to_string()
                .contains("maximum message size is 2048 bytes"),
            "{rejection}"
        );
    }

    #[test]
    fn the_size_check_is_on_the_whole_envelope_to_the_byte() {
        let mut request = ApiGatewayProxyRequest::default();
        request.body = Some("y".repeat(1500));
        let measure = PreQueue::new(settings(Scheme::None), None, Unreachable).unwrap();
        let size = measure
            .admit(&request, now())
            .unwrap()
            .to_message_body()
            .len();
        assert!(size > 1500, "the envelope is larger than its body");
        let with_limit = |limit: usize| {
            let mut limited = settings(Scheme::None);
            limited.max_message_bytes = limit;
            PreQueue::new(limited, None, Unreachable).unwrap()
        };
        // An envelope of exactly the limit fits; one byte less of limit, and it does not.
        assert!(with_limit(size).admit(&request, now()).is_ok());
        match with_limit(size - 1).admit(&request, now()) {
            Err(Rejection::TooLarge {
                size: reported,
                limit,
            }) => {
                assert_eq!((reported, limit), (size, size - 1));
            }
            other => panic!("expected 413, got {other:?}"),
        }
        // A body that fits the limit while its envelope does not is refused too.
        let body_fits = with_limit(1600);
        assert!(size > 1600);
        assert_eq!(body_fits.admit(&request, now()).unwrap_err().status(), 413);
    }

    #[test]
    fn base64_bodies_are_decoded_and_invalid_ones_are_400() {
        let function = PreQueue::new(settings(Scheme::None), None, Unreachable).unwrap();
        let mut request = ApiGatewayProxyRequest::default();
        request.is_base64_encoded = true;
        request.body = Some(BASE64.encode([0u8, 159, 146, 150]));
        let envelope = function.admit(&request, now()).unwrap();
        assert_eq!(envelope.body.raw_bytes().unwrap(), vec![0u8, 159, 146, 150]);
        assert_eq!(
            envelope.signature,
            SignatureCheck {
                scheme: "none".into(),
                verified: false
            }
        );
        request.body = Some("%%%".into());
        assert_eq!(function.admit(&request, now()).unwrap_err().status(), 400);
    }

    #[test]
    fn settings_fail_closed() {
        let read = |pairs: &[(&str, &str)]| {
            let map: BTreeMap<String, String> = pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect();
            PreQueueSettings::read(&Settings(move |var: &str| map.get(var).cloned()))
        };
        let base = [(vars::PIPELINE, "p"), (vars::QUEUE_URL, "http://q")];
        assert!(matches!(
            read(&base),
            Err(ConfigError::Missing(vars::SIGNATURE_SCHEME))
        ));
        let unknown = [base[0], base[1], (vars::SIGNATURE_SCHEME, "gitlab")];
        assert!(matches!(read(&unknown), Err(ConfigError::Scheme(_))));
        let both = [
            base[0],
            base[1],
            (vars::SIGNATURE_SCHEME, "github"),
            (vars::SIGNATURE_SECRET, "a"),
            (
                vars::SIGNATURE_SECRET_ARN,
                "arn:aws:ssm:us-east-1:1:parameter/x",
            ),
        ];
        assert!(matches!(read(&both), Err(ConfigError::Ambiguous(..))));
        let too_big = [
            base[0],
            base[1],
            (vars::SIGNATURE_SCHEME, "none"),
            (vars::MAX_MESSAGE_BYTES, "2000000"),
        ];
        assert!(matches!(
            read(&too_big),
            Err(ConfigError::Invalid {
                var: vars::MAX_MESSAGE_BYTES,
                ..
            })
        ));
        let ok = read(&[
            base[0],
            base[1],
            (vars::SIGNATURE_SCHEME, "github"),
            (vars::SIGNATURE_SECRET, "s"),
        ])
        .unwrap();
        // A scheme that signs but has no secret refuses to build.
        assert!(matches!(
            PreQueue::new(ok, None, Unreachable),
            Err(ConfigError::Scheme(_))
        ));
    }
}
