//! The HTTP ingress: API Gateway (REST, `AWS_PROXY`) in front of the pre-queue function.
//!
//! `POST /<stage>/webhook` becomes a REST proxy event (headers and multi-value headers, query
//! parameters, base64 bodies for binary media types, request id, source IP); the function's
//! proxy response becomes the HTTP response. Like API Gateway and Lambda: 10 MB request limit
//! (413), an event over Lambda's 6 MB invoke limit never reaches the function (413), 29 s
//! integration timeout (504), a failed invocation or a response over 6 MB is a 502, an unknown
//! route a 403. An invocation runs to its end even when the client gives up or the integration
//! times out, as on Lambda: its work (an enqueued message) stays done, and it is counted.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{HeaderMap, Method, Request, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::discovery::PipelineSpec;
use crate::function::FunctionHost;
use crate::http::{Reply, json, read_body, serve};

/// API Gateway's payload limit for REST APIs.
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;
/// Lambda's limit on a synchronous invocation's event (6 MiB): a larger event is refused
/// (`RequestEntityTooLargeException`) before the function runs.
pub const MAX_INVOKE_REQUEST_BYTES: usize = 6 * 1024 * 1024;
/// API Gateway's default integration timeout.
pub const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);
/// The one resource a pipeline's API has.
pub const RESOURCE_PATH: &str = "/webhook";

/// Requests answered, by outcome.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IngressStats {
    /// Requests answered with a 2xx.
    pub accepted: u64,
    /// Requests answered with a 4xx.
    pub rejected: u64,
    /// Requests answered with a 5xx.
    pub failed: u64,
    /// Invocations that ran to their end after their request was gone (the client gave up, or
    /// the integration timed out): whatever they did, nobody was told.
    pub abandoned: u64,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    abandoned: AtomicU64,
}

/// The running ingress; stops when dropped.
#[derive(Debug)]
pub struct Ingress {
    address: SocketAddr,
    stage: String,
    counters: Arc<Counters>,
    server: JoinHandle<()>,
}

struct Route {
    pipeline: PipelineSpec,
    function: FunctionHost,
    counters: Arc<Counters>,
}

impl Ingress {
    /// Listens on `listener` and sends webhooks to `function`.
    pub fn start(
        listener: TcpListener,
        pipeline: &PipelineSpec,
        function: FunctionHost,
    ) -> std::io::Result<Self> {
        let address = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let route = Arc::new(Route {
            pipeline: pipeline.clone(),
            function,
            counters: counters.clone(),
        });
        let server = serve(listener, move |request, peer| {
            let route = route.clone();
            async move {
                let reply = handle(&route, request, peer).await;
                let counter = match reply.status().as_u16() {
                    200..=299 => &route.counters.accepted,
                    400..=499 => &route.counters.rejected,
                    _ => &route.counters.failed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                reply
            }
        });
        Ok(Ingress {
            address,
            stage: pipeline.stage.clone(),
            counters,
            server,
        })
    }

    /// The webhook URL: `http://127.0.0.1:<port>/<stage>/webhook`.
    pub fn url(&self) -> String {
        format!("http://{}/{}{RESOURCE_PATH}", self.address, self.stage)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> IngressStats {
        IngressStats {
            accepted: self.counters.accepted.load(Ordering::Relaxed),
            rejected: self.counters.rejected.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
            abandoned: self.counters.abandoned.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Ingress {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn gateway_error(status: StatusCode, message: &str, request_id: &str) -> Reply {
    let mut reply = json(status, &json!({ "message": message }));
    if let Ok(value) = http::HeaderValue::from_str(request_id) {
        reply.headers_mut().insert("x-amzn-requestid", value);
    }
    reply
}

/// API Gateway's answer to a body over its 10 MB limit: plain text, no JSON.
fn content_length_exceeded() -> Reply {
    let text = format!("HTTP content length exceeded {MAX_REQUEST_BYTES} bytes.");
    let mut reply = Reply::new(Full::new(Bytes::from(text)));
    *reply.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
    reply.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    reply
}

async fn handle(route: &Route, request: Request<Incoming>, peer: SocketAddr) -> Reply {
    let request_id = uuid::Uuid::new_v4().to_string();
    let stage_path = format!("/{}{RESOURCE_PATH}", route.pipeline.stage);
    if request.uri().path() != stage_path || request.method() != Method::POST {
        return gateway_error(
            StatusCode::FORBIDDEN,
            "Missing Authentication Token",
            &request_id,
        );
    }
    let (parts, body) = request.into_parts();
    let Some(body) = read_body(body, MAX_REQUEST_BYTES).await else {
        return content_length_exceeded();
    };
    let event = proxy_event(
        &route.pipeline,
        &parts.method,
        &parts.headers,
        parts.uri.query(),
        &body,
        peer,
        &request_id,
    )
    .to_string();
    if event.len() > MAX_INVOKE_REQUEST_BYTES {
        // Lambda refuses the invocation; API Gateway answers 413 with a BadRequestException.
        let mut reply = gateway_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request Too Long",
            &request_id,
        );
        reply.headers_mut().insert(
            "x-amzn-errortype",
            http::HeaderValue::from_static("BadRequestException"),
        );
        return reply;
    }
    // The invocation is a task of its own: a client that hangs up (which drops this future) or
    // the integration timeout ends the request, never the invocation.
    let (answer, answered) = tokio::sync::oneshot::channel();
    let (function, counters) = (route.function.clone(), route.counters.clone());
    tokio::spawn(async move {
        let output = function.invoke(Bytes::from(event)).await;
        if answer.send(output).is_err() {
            counters.abandoned.fetch_add(1, Ordering::Relaxed);
        }
    });
    let output = match tokio::time::timeout(INTEGRATION_TIMEOUT, answered).await {
        Err(_) => {
            return gateway_error(
                StatusCode::GATEWAY_TIMEOUT,
                "Endpoint request timed out",
                &request_id,
            );
        }
        Ok(Err(_) | Ok(Err(_))) => {
            return gateway_error(
                StatusCode::BAD_GATEWAY,
                "Internal server error",
                &request_id,
            );
        }
        Ok(Ok(Ok(output))) => output,
    };
    proxy_response(&output, &request_id).unwrap_or_else(|| {
        gateway_error(
            StatusCode::BAD_GATEWAY,
            "Internal server error",
            &request_id,
        )
    })
}

/// Whether API Gateway passes a body of `content_type` base64-encoded.
pub fn is_binary(content_type: Option<&str>, binary_media_types: &[String]) -> bool {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    binary_media_types.iter().any(|pattern| {
        let pattern = pattern.to_ascii_lowercase();
        match (pattern.split_once('/'), media.split_once('/')) {
            (Some(("*", "*")), _) => true,
            (Some((p_type, "*")), Some((m_type, _))) => p_type == m_type,
            _ => pattern == media,
        }
    })
}

/// The REST proxy event (payload format 1.0) API Gateway sends for a request.
pub fn proxy_event(
    pipeline: &PipelineSpec,
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
    peer: SocketAddr,
    request_id: &str,
) -> Value {
    let mut single = BTreeMap::<String, String>::new();
    let mut multi = BTreeMap::<String, Vec<String>>::new();
    for (name, value) in headers {
        // API Gateway passes header names as the client sent them; hyper has lower-cased them.
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        single.insert(name.as_str().to_owned(), value.clone());
        multi
            .entry(name.as_str().to_owned())
            .or_default()
            .push(value);
    }
    for (name, value) in [
        ("x-forwarded-for", peer.ip().to_string()),
        ("x-forwarded-proto", "https".to_owned()),
        ("x-forwarded-port", "443".to_owned()),
    ] {
        single
            .entry(name.to_owned())
            .or_insert_with(|| value.clone());
        multi.entry(name.to_owned()).or_insert_with(|| vec![value]);
    }
    let mut query_single = BTreeMap::<String, String>::new();
    let mut query_multi = BTreeMap::<String, Vec<String>>::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        query_single.insert(key.to_string(), value.to_string());
        query_multi
            .entry(key.to_string())
            .or_default()
            .push(value.to_string());
    }
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    // Exactly as the API's binary media types say: a body they do not match is passed as text,
    // bytes that are not UTF-8 replaced (U+FFFD), as API Gateway does — so a deployment without
    // them breaks binary bodies here too.
    let (body, is_base64) = if is_binary(content_type, &pipeline.binary_media_types) {
        (
            Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
            true,
        )
    } else {
        (
            Value::String(String::from_utf8_lossy(body).into_owned()),
            false,
        )
    };
    let body = if body == "" && !is_base64 {
        Value::Null
    } else {
        body
    };
    let optional = |map: Value| {
        if map.as_object().is_some_and(|m| m.is_empty()) {
            Value::Null
        } else {
            map
        }
    };
    let now = chrono::Utc::now();
    json!({
        "resource": RESOURCE_PATH,
        "path": RESOURCE_PATH,
        "httpMethod": method.as_str(),
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": optional(json!(query_single)),
        "multiValueQueryStringParameters": optional(json!(query_multi)),
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "accountId": pipeline.pre_queue.arn.split(':').nth(4).unwrap_or("123456789012"),
            "apiId": pipeline.api_id,
            "resourceId": "webhook",
            "resourcePath": RESOURCE_PATH,
            "httpMethod": method.as_str(),
            "path": format!("/{}{RESOURCE_PATH}", pipeline.stage),
            "stage": pipeline.stage,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "requestTimeEpoch": now.timestamp_millis(),
            "protocol": "HTTP/1.1",
            "domainName": format!("{}.execute-api.localhost", pipeline.api_id),
            "identity": {
                "sourceIp": peer.ip().to_string(),
                "userAgent": headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()),
            },
        },
        "body": body,
        "isBase64Encoded": is_base64,
    })
}

/// The HTTP response for a proxy integration's output; `None` when the output is malformed
/// (API Gateway answers 502 then): not a JSON object, no valid `statusCode`, a `body` that is not
/// a string, base64 that does not decode. A header in both `headers` and `multiValueHeaders` gets
/// the values of both, a value written in both once (API Gateway merges them).
pub fn proxy_response(output: &[u8], request_id: &str) -> Option<Reply> {
    let output: Value = serde_json::from_slice(output).ok()?;
    let status = StatusCode::from_u16(u16::try_from(output["statusCode"].as_u64()?).ok()?).ok()?;
    let body = match &output["body"] {
        Value::Null => Bytes::new(),
        Value::String(body) if output["isBase64Encoded"].as_bool() == Some(true) => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .ok()?,
        ),
        Value::String(body) => Bytes::from(body.clone()),
        _ => return None,
    };
    let mut merged = BTreeMap::<String, Vec<String>>::new();
    if let Some(map) = output["multiValueHeaders"].as_object() {
        for (name, values) in map {
            let values = values.as_array().into_iter().flatten().map(header_text);
            merged
                .entry(name.to_ascii_lowercase())
                .or_default()
                .extend(values);
        }
    }
    if let Some(map) = output["headers"].as_object() {
        for (name, value) in map {
            let values = merged.entry(name.to_ascii_lowercase()).or_default();
            let value = header_text(value);
            if !values.contains(&value) {
                values.push(value);
            }
        }
    }
    let mut reply = Reply::new(Full::new(body));
    *reply.status_mut() = status;
    let headers = reply.headers_mut();
    for (name, values) in &merged {
        for value in values {
            append(headers, name, value);
        }
    }
    if let Ok(value) = http::HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    Some(reply)
}

fn header_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn append(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        http::HeaderName::from_bytes(name.as_bytes()),
        http::HeaderValue::from_str(value),
    ) {
        headers.append(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_media_types_match_like_api_gateway() {
        let all = vec!["*/*".to_owned()];
        assert!(is_binary(Some("application/json"), &all));
        assert!(is_binary(None, &all));
        let images = vec!["image/*".to_owned(), "application/octet-stream".to_owned()];
        assert!(is_binary(Some("image/png"), &images));
        assert!(is_binary(Some("Application/Octet-Stream; q=1"), &images));
        assert!(!is_binary(Some("application/json"), &images));
        assert!(!is_binary(Some("text/plain"), &[]));
    }

    fn pipeline(binary_media_types: &[&str]) -> PipelineSpec {
        use crate::discovery::{FunctionSpec, MappingSpec, QueueSpec};
        let function = FunctionSpec {
            name: "nami-p-pre-queue".into(),
            arn: "arn:aws:lambda:us-east-1:123456789012:function:nami-p-pre-queue".into(),
            role_arn: "arn:aws:iam::123456789012:role/nami-test".into(),
            timeout: Duration::from_secs(10),
            memory_mb: 128,
            code_sha256: String::new(),
            environment: BTreeMap::new(),
        };
        let queue = QueueSpec {
            url: "http://q".into(),
            arn: "arn:aws:sqs:us-east-1:123456789012:nami-p".into(),
            visibility_timeout: Duration::from_secs(60),
        };
        PipelineSpec {
            name: "p".into(),
            api_id: "a1".into(),
            stage: "prod".into(),
            binary_media_types: binary_media_types.iter().map(|t| (*t).to_owned()).collect(),
            pre_queue: function.clone(),
            post_queue: function,
            mapping: MappingSpec {
                uuid: "m".into(),
                batch_size: 10,
                batching_window: Duration::ZERO,
                max_concurrency: None,
                report_batch_item_failures: true,
                enabled: true,
            },
            queue,
            dead_letter_queue: None,
        }
    }

    fn event_for(binary_media_types: &[&str], content_type: &str, body: &[u8]) -> Value {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, content_type.parse().unwrap());
        let peer = SocketAddr::from(([127, 0, 0, 1], 9));
        proxy_event(
            &pipeline(binary_media_types),
            &Method::POST,
            &headers,
            None,
            body,
            peer,
            "r",
        )
    }

    #[test]
    fn bodies_are_base64_exactly_when_a_binary_media_type_matches() {
        let bytes = [0xff, 0xfe, b'{', 0x80];
        let all = event_for(&["*/*"], "application/json", &bytes);
        assert_eq!(all["isBase64Encoded"], true);
        assert_eq!(
            all["body"],
            base64::engine::general_purpose::STANDARD.encode(bytes)
        );
        // Without a matching binary media type the body is text, as API Gateway passes it: bytes
        // that are not UTF-8 are replaced.
        let none = event_for(&[], "application/octet-stream", &bytes);
        assert_eq!(none["isBase64Encoded"], false);
        assert_eq!(none["body"], "\u{fffd}\u{fffd}{\u{fffd}");
        let images = event_for(&["image/*"], "application/octet-stream", &bytes);
        assert_eq!(images["isBase64Encoded"], false);
        let text = event_for(&[], "application/json", br#"{"a":1}"#);
        assert_eq!(
            (text["body"].as_str(), text["isBase64Encoded"].as_bool()),
            (Some(r#"{"a":1}"#), Some(false))
        );
    }

    #[test]
    fn a_malformed_proxy_response_is_rejected() {
        assert!(proxy_response(b"not json", "id").is_none());
        assert!(proxy_response(br#"{"body":"x"}"#, "id").is_none());
        let reply = proxy_response(
            br#"{"statusCode":401,"headers":{"content-type":"application/json"},"multiValueHeaders":{"x-a":["1","2"]},"body":"{}"}"#,
            "req-1",
        )
        .unwrap();
        assert_eq!(reply.status(), 401);
        assert_eq!(reply.headers().get_all("x-a").iter().count(), 2);
        assert_eq!(reply.headers()["x-amzn-requestid"], "req-1");
    }

    #[test]
    fn a_body_that_is_not_a_string_is_a_bad_gateway() {
        assert!(proxy_response(br#"{"statusCode":200,"body":{"ok":true}}"#, "id").is_none());
        assert!(proxy_response(br#"{"statusCode":200,"body":42}"#, "id").is_none());
        assert!(
            proxy_response(
                br#"{"statusCode":200,"body":"%%","isBase64Encoded":true}"#,
                "id"
            )
            .is_none()
        );
        let empty = proxy_response(br#"{"statusCode":204}"#, "id").unwrap();
        assert_eq!(empty.status(), 204);
        assert!(proxy_response(br#"{"statusCode":200,"body":null}"#, "id").is_some());
    }

    #[test]
    fn headers_and_multi_value_headers_are_merged() {
        let reply = proxy_response(
            br#"{"statusCode":200,"headers":{"X-A":"single","x-b":"same"},"multiValueHeaders":{"x-a":["one","two"],"X-B":["same"]},"body":""}"#,
            "id",
        )
        .unwrap();
        let values = |name: &str| -> Vec<&str> {
            (reply.headers().get_all(name).iter())
                .map(|v| v.to_str().unwrap())
                .collect()
        };
        assert_eq!(values("x-a"), ["one", "two", "single"]);
        assert_eq!(values("x-b"), ["same"], "a pair in both appears once");
    }
}
