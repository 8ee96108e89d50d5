//! Shared helpers: clients for the emulators, request and event builders.

use aws_config::{Region, SdkConfig};
use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use aws_sdk_sqs::config::Credentials;
use hmac::{Hmac, Mac};
use nami_handlers::post_queue::{QueueBatch, QueueRecord};
use nami_harness::Moto;
use sha2::Sha256;

/// SDK configuration for moto, with the handlers' own timeouts and retries.
pub(crate) async fn sdk_config(moto: &Moto) -> SdkConfig {
    nami_handlers::aws::sdk_config_loader()
        .endpoint_url(moto.endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "nami-tests",
        ))
        .load()
        .await
}

/// A GitHub-signed API Gateway REST proxy request.
pub(crate) fn github_request(
    body: &[u8],
    secret: &str,
    delivery: &str,
    content_type: &str,
) -> ApiGatewayProxyRequest {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let mut request = ApiGatewayProxyRequest::default();
    request.http_method = http::Method::POST;
    request.path = Some("/webhook".into());
    request.request_context.request_id = Some(format!("req-{delivery}"));
    request.request_context.identity.source_ip = Some("192.0.2.10".into());
    match std::str::from_utf8(body) {
        Ok(text) => request.body = Some(text.to_owned()),
        Err(_) => {
            use base64::Engine as _;
            request.body = Some(base64::engine::general_purpose::STANDARD.encode(body));
            request.is_base64_encoded = true;
        }
    }
    for (name, value) in [
        ("x-hub-signature-256", signature.as_str()),
        ("x-github-delivery", delivery),
        ("content-type", content_type),
    ] {
        request
            .headers
            .insert(http::HeaderName::from_static(name), value.parse().unwrap());
    }
    request
}

/// An SQS event as the post-queue function reads it, one record per `(message id, body)`.
pub(crate) fn sqs_event(records: impl IntoIterator<Item = (String, String)>) -> QueueBatch {
    QueueBatch {
        records: (records.into_iter())
            .map(|(id, body)| QueueRecord::new(id, body))
            .collect(),
    }
}

pub(crate) use nami_harness::aws::receive_all as drain;
