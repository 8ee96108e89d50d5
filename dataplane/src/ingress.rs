//! The HTTP ingress: API Gateway (REST, `AWS_PROXY`) in front of the pre-queue function.
//!
//! `POST /<stage>/webhook` becomes a REST proxy event (headers and multi-value headers, query
//! parameters, base64 bodies for binary media types, request id, source IP); the function's
//! proxy response becomes the HTTP response. Like API Gateway: 10 MB request limit (413), 29 s
//! integration timeout (504), a failed invocation is a 502, an unknown route a 403.

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
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
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
        return gateway_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request Too Long",
            &request_id,
        );
    };
    let event = proxy_event(
        &route.pipeline,
        &parts.method,
        &parts.headers,
        parts.uri.query(),
        &body,
        peer,
        &request_id,
    );
    let invocation = route.function.invoke(Bytes::from(event.to_string()));
    let output = match tokio::time::timeout(INTEGRATION_TIMEOUT, invocation).await {
        Err(_) => {
            return gateway_error(
                StatusCode::GATEWAY_TIMEOUT,
                "Endpoint request timed out",
                &request_id,
            );
        }
        Ok(Err(_)) => {
            return gateway_error(
                StatusCode::BAD_GATEWAY,
                "Internal server error",
                &request_id,
            );
        }
        Ok(Ok(output)) => output,
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
    let text = std::str::from_utf8(body).ok();
    let (body, is_base64) = match text {
        Some(text) if !is_binary(content_type, &pipeline.binary_media_types) => {
            (Value::String(text.to_owned()), false)
        }
        _ => (
            Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
            true,
        ),
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
/// (API Gateway answers 502 then).
pub fn proxy_response(output: &[u8], request_id: &str) -> Option<Reply> {
    let output: Value = serde_json::from_slice(output).ok()?;
    let status = StatusCode::from_u16(u16::try_from(output["statusCode"].as_u64()?).ok()?).ok()?;
    let body = match output["body"].as_str() {
        None => Bytes::new(),
        Some(body) if output["isBase64Encoded"].as_bool() == Some(true) => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .ok()?,
        ),
        Some(body) => Bytes::from(body.to_owned()),
    };
    let mut reply = Reply::new(Full::new(body));
    *reply.status_mut() = status;
    let headers = reply.headers_mut();
    if let Some(map) = output["multiValueHeaders"].as_object() {
        for (name, values) in map {
            for value in values.as_array().into_iter().flatten() {
                append(headers, name, value);
            }
        }
    }
    if let Some(map) = output["headers"].as_object() {
        for (name, value) in map {
            if !headers.contains_key(name.as_str()) {
                append(headers, name, value);
            }
        }
    }
    if let Ok(value) = http::HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    Some(reply)
}

fn append(headers: &mut HeaderMap, name: &str, value: &Value) {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if let (Ok(name), Ok(value)) = (
        http::HeaderName::from_bytes(name.as_bytes()),
        http::HeaderValue::from_str(&text),
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
}
