//! What the bench sends: ~2 KB GitHub push webhooks signed as GitHub signs them, the API Gateway
//! proxy events the pre-queue function receives for them, the envelopes it queues, and SQS events
//! of those envelopes as the event source mapping delivers them (some of them redeliveries).

use std::collections::BTreeMap;

use aws_sdk_sqs::types::Message;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use nami_contract::envelope::{Body, Envelope, SignatureCheck};
use nami_handlers::mongo::envelope_document;
use nami_harness::webhooks::{Webhook, github_signature};
use serde_json::{Value, json};

use crate::functions::{PIPELINE, SECRET};

/// Bytes of each webhook's body.
pub(crate) const WEBHOOK_BYTES: usize = 2048;

/// A GitHub push event of exactly [`WEBHOOK_BYTES`] bytes, delivery `id`, signed with the bench's
/// secret: shaped like GitHub's (nested objects, ~90 fields), so parsing and converting it costs
/// what a real one does.
pub(crate) fn webhook(id: &str) -> Webhook {
    let after = format!("{:040x}", hash(id));
    let user = |login: &str, id: u64| {
        json!({
            "login": login, "id": id, "node_id": format!("MDQ6VXNlcj{id}"), "type": "User", "site_admin": false,
            "html_url": format!("https://github.com/{login}"), "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        })
    };
    let commit = |n: u64| {
        json!({
            "id": format!("{:040x}", hash(id) ^ u128::from(n)),
            "distinct": true, "message": format!("Change {n}"), "timestamp": "2026-12-02T10:00:00Z",
            "author": {"name": "Mona Octocat", "email": "mona@example.com", "username": "mona"},
            "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
            "added": [], "removed": [], "modified": [format!("src/module_{n}.rs")],
        })
    };
    let mut body = json!({
        "ref": "refs/heads/main", "before": format!("{:040x}", hash(id) >> 1), "after": after,
        "created": false, "deleted": false, "forced": false, "base_ref": null,
        "compare": format!("https://github.com/nami-serverless/bench/compare/{}", &after[..12]),
        "commits": [commit(1)],
        "head_commit": commit(3),
        "repository": {
            "id": 4242, "node_id": "R_kgDOBench", "name": "bench", "full_name": "nami-serverless/bench",
            "private": false, "owner": user("nami-serverless", 9000), "html_url": "https://github.com/nami-serverless/bench",
            "description": "", "fork": false, "created_at": 1_700_000_000, "updated_at": "2026-12-01T09:00:00Z",
            "pushed_at": 1_764_669_600, "size": 1234, "stargazers_count": 42, "watchers_count": 42,
            "language": "Rust", "has_issues": true, "has_projects": false, "has_wiki": false, "forks_count": 3,
            "archived": false, "disabled": false, "open_issues_count": 7, "topics": ["webhooks", "terraform"],
            "visibility": "public", "default_branch": "main", "master_branch": "main",
        },
        "pusher": {"name": "mona", "email": "mona@example.com"},
        "sender": user("mona", 583231),
    });
    let room = WEBHOOK_BYTES.saturating_sub(body.to_string().len());
    body["repository"]["description"] = Value::String("x".repeat(room));
    let bytes = body.to_string().into_bytes();
    Webhook {
        delivery_id: id.to_owned(),
        content_type: "application/json".into(),
        signature: github_signature(SECRET, &bytes),
        body: bytes,
        event: "push".into(),
    }
}

fn hash(id: &str) -> u128 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325u128, |h, b| {
        (h ^ u128::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The API Gateway REST proxy event for `webhook`, as the local ingress builds it.
pub(crate) fn proxy_event(webhook: &Webhook, request_id: &str) -> Bytes {
    let headers = json!({
        "content-type": webhook.content_type,
        "user-agent": "GitHub-Hookshot/bench",
        "x-github-event": webhook.event,
        "x-github-delivery": webhook.delivery_id,
        "x-hub-signature-256": webhook.signature,
        "x-forwarded-for": "127.0.0.1",
    });
    let multi: serde_json::Map<String, Value> = headers
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), json!([v])))
        .collect();
    let event = json!({
        "resource": "/",
        "path": "/",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": multi,
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "resourcePath": "/",
            "httpMethod": "POST",
            "path": "/prod/",
            "stage": "prod",
            "requestId": request_id,
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "GitHub-Hookshot/bench"},
            "protocol": "HTTP/1.1",
            "apiId": "bench",
            "accountId": "123456789012",
        },
        "body": String::from_utf8_lossy(&webhook.body),
        "isBase64Encoded": false,
    });
    Bytes::from(event.to_string())
}

/// The `store-only` function's message for `envelope`: the document the post-queue function
/// stores for it, in BSON, base64.
pub(crate) fn stored_document_message(envelope: &Envelope) -> String {
    BASE64.encode(envelope_document(envelope).as_bytes())
}

/// The envelope the pre-queue function queues for `webhook`.
pub(crate) fn envelope(webhook: &Webhook) -> Envelope {
    let headers: BTreeMap<String, String> = [
        ("content-type", webhook.content_type.as_str()),
        ("user-agent", "GitHub-Hookshot/bench"),
        ("x-github-event", webhook.event.as_str()),
        ("x-github-delivery", webhook.delivery_id.as_str()),
        ("x-hub-signature-256", webhook.signature.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut body = Body::new(&webhook.body, Some(&webhook.content_type));
    body.json = None;
    body.form = None;
    Envelope {
        version: 1,
        id: webhook.delivery_id.clone(),
        id_source: "header:x-github-delivery".into(),
        pipeline: PIPELINE.into(),
        received_at: chrono::Utc::now(),
        method: "POST".into(),
        path: "/".into(),
        query: BTreeMap::new(),
        source_ip: Some("127.0.0.1".into()),
        headers,
        body,
        signature: SignatureCheck {
            scheme: "github".into(),
            verified: true,
        },
        fields: Default::default(),
    }
}

/// The queue's messages for `unique` deliveries: every 20th message is a redelivery of one sent
/// about 500 messages earlier (the same envelope), so every batch size meets duplicates.
/// Returns the message bodies in order and how many are unique.
pub(crate) fn messages(prefix: &str, unique: usize) -> (Vec<String>, usize) {
    let originals: Vec<String> = (0..unique)
        .map(|n| envelope(&webhook(&format!("{prefix}-{n:06}"))).to_message_body())
        .collect();
    let mut bodies = Vec::with_capacity(unique + unique / 19);
    for (n, body) in originals.iter().enumerate() {
        bodies.push(body.clone());
        if n % 19 == 18 {
            bodies.push(originals[n.saturating_sub(500)].clone());
        }
    }
    (bodies, unique)
}

/// The SQS event of `bodies` (message ids `<offset + index>`), as the event source mapping sends it.
pub(crate) fn sqs_event(bodies: &[String], offset: usize) -> Bytes {
    let batch: Vec<Message> = bodies
        .iter()
        .enumerate()
        .map(|(n, body)| {
            Message::builder()
                .message_id(format!("00000000-0000-4000-8000-{:012}", offset + n))
                .receipt_handle(format!("bench-{}", offset + n))
                .body(body)
                .attributes(
                    aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                    "1",
                )
                .build()
        })
        .collect();
    let event = nami_dataplane::poller::sqs_event(
        &batch,
        &format!("arn:aws:sqs:us-east-1:123456789012:nami-{PIPELINE}"),
        "us-east-1",
    );
    Bytes::from(event.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_are_two_kilobytes_and_signed() {
        let webhook = webhook("d-1");
        assert_eq!(webhook.body.len(), WEBHOOK_BYTES);
        assert_eq!(webhook.signature, github_signature(SECRET, &webhook.body));
    }

    #[test]
    fn queued_envelopes_read_back_and_every_twentieth_is_a_redelivery() {
        let (bodies, unique) = messages("m", 40);
        assert_eq!(unique, 40);
        assert_eq!(bodies.len(), 42);
        assert_eq!(bodies[19], bodies[0]);
        let envelope = Envelope::from_message_body(&bodies[1]).unwrap();
        assert_eq!(envelope.id, "m-000001");
        assert!(envelope.body.json.is_some());
    }
}
