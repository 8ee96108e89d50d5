//! The pre-queue function against moto's SQS, Secrets Manager and SSM.

use aws_sdk_sqs::types::QueueAttributeName;
use chrono::Utc;
use nami_handlers::envelope::{Envelope, RawEncoding};
use nami_handlers::pre_queue::{
    DEFAULT_MAX_MESSAGE_BYTES, PreQueue, PreQueueSettings, SQS_MAX_MESSAGE_BYTES,
};
use nami_handlers::secrets::{SecretError, SecretSource};
use nami_handlers::signature::Scheme;
use nami_handlers::sqs::SqsQueue;
use nami_harness::Moto;

use crate::support::{drain, github_request, sdk_config};

const SECRET: &str = "gh-webhook-secret";

fn settings(queue_url: &str, max_message_bytes: usize) -> PreQueueSettings {
    PreQueueSettings {
        pipeline: "orders".into(),
        queue_url: queue_url.into(),
        max_message_bytes,
        scheme: Scheme::Github,
        secret: None,
        tolerance_seconds: 300,
        delivery_id: None,
        replay: None,
    }
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str, max_message_bytes: usize) -> String {
    sqs.create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::MaximumMessageSize,
            max_message_bytes.to_string(),
        )
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .unwrap()
}

fn response_json(
    response: &aws_lambda_events::apigw::ApiGatewayProxyResponse,
) -> serde_json::Value {
    match &response.body {
        Some(aws_lambda_events::encodings::Body::Text(text)) => serde_json::from_str(text).unwrap(),
        other => panic!("expected a JSON text body, got {other:?}"),
    }
}

#[tokio::test]
async fn enqueues_exactly_the_envelope_for_every_kind_of_body() {
    let moto = Moto::start().unwrap();
    let sqs = aws_sdk_sqs::Client::new(&sdk_config(&moto).await);
    let url = queue(&sqs, "orders", SQS_MAX_MESSAGE_BYTES).await;
    let function = PreQueue::new(
        settings(&url, SQS_MAX_MESSAGE_BYTES),
        Some(SECRET),
        SqsQueue::new(sqs.clone(), &url),
    )
    .unwrap();

    let binary: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let huge_but_allowed = format!("{{\"blob\":\"{}\"}}", "z".repeat(600_000));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "json",
            br#"{"action":"opened","number":7}"#.to_vec(),
            "application/json",
        ),
        (
            "form",
            b"payload=%7B%22a%22%3A1%7D&token=x".to_vec(),
            "application/x-www-form-urlencoded",
        ),
        ("binary", binary, "application/octet-stream"),
        ("empty", Vec::new(), "text/plain"),
        ("huge", huge_but_allowed.into_bytes(), "application/json"),
    ];
    let now = Utc::now();
    let mut expected = Vec::new();
    for (delivery, body, content_type) in &cases {
        let request = github_request(body, SECRET, delivery, content_type);
        expected.push(function.admit(&request, now).unwrap());
        let response = function.handle(&request, now).await;
        assert_eq!(response.status_code, 200, "{delivery}: {:?}", response.body);
        assert_eq!(response_json(&response)["id"], *delivery);
    }

    let mut queued: Vec<Envelope> = drain(&sqs, &url)
        .await
        .iter()
        .map(|body| Envelope::from_message_body(body).unwrap())
        .collect();
    queued.sort_by(|a, b| a.id.cmp(&b.id));
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(
        queued, expected,
        "the queue holds exactly the admitted envelopes"
    );
    let find = |id: &str| queued.iter().find(|e| e.id == id).unwrap();
    for (delivery, body, _) in &cases {
        assert_eq!(
            &find(delivery).body.raw_bytes().unwrap(),
            body,
            "{delivery}: raw body byte-exact"
        );
    }
    assert_eq!(find("binary").body.encoding, RawEncoding::Base64);
    assert_eq!(
        find("form").body.form.as_ref().unwrap()["payload"],
        vec![r#"{"a":1}"#]
    );
    assert_eq!(find("json").body.json.as_ref().unwrap()["number"], 7);
}

#[tokio::test]
async fn refused_requests_enqueue_nothing() {
    let moto = Moto::start().unwrap();
    let sqs = aws_sdk_sqs::Client::new(&sdk_config(&moto).await);
    let url = queue(&sqs, "refusals", DEFAULT_MAX_MESSAGE_BYTES).await;
    let function = PreQueue::new(
        settings(&url, DEFAULT_MAX_MESSAGE_BYTES),
        Some(SECRET),
        SqsQueue::new(sqs.clone(), &url),
    )
    .unwrap();
    let now = Utc::now();

    let wrong_secret = github_request(b"{}", "not-the-secret", "d1", "application/json");
    let response = function.handle(&wrong_secret, now).await;
    assert_eq!(response.status_code, 401);
    assert_eq!(
        response_json(&response)["error"],
        "invalid signature: signature does not match"
    );

    let mut tampered = github_request(b"{\"amount\":1}", SECRET, "d2", "application/json");
    tampered.body = Some("{\"amount\":1000}".into());
    assert_eq!(function.handle(&tampered, now).await.status_code, 401);

    let mut unsigned = github_request(b"{}", SECRET, "d3", "application/json");
    unsigned.headers.remove("x-hub-signature-256");
    let response = function.handle(&unsigned, now).await;
    assert_eq!(response.status_code, 401);
    assert_eq!(
        response_json(&response)["error"],
        "invalid signature: missing header x-hub-signature-256"
    );

    let too_big = format!("{{\"blob\":\"{}\"}}", "z".repeat(DEFAULT_MAX_MESSAGE_BYTES));
    let response = function
        .handle(
            &github_request(too_big.as_bytes(), SECRET, "d4", "application/json"),
            now,
        )
        .await;
    assert_eq!(response.status_code, 413);
    let error = response_json(&response)["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.contains(&format!(
            "maximum message size is {DEFAULT_MAX_MESSAGE_BYTES} bytes"
        )),
        "{error}"
    );

    assert!(
        drain(&sqs, &url).await.is_empty(),
        "nothing refused reaches the queue"
    );
}

#[tokio::test]
async fn queue_failures_answer_503_with_retry_after_and_leave_nothing_behind() {
    let mut moto = Moto::start().unwrap();
    let sqs = aws_sdk_sqs::Client::new(&sdk_config(&moto).await);
    let url = queue(&sqs, "kept", DEFAULT_MAX_MESSAGE_BYTES).await;
    let request = github_request(b"{}", SECRET, "d1", "application/json");

    // The queue this function sends to does not exist: SendMessage fails, nothing half-done.
    let missing = url.replace("/kept", "/deleted");
    let function = PreQueue::new(
        settings(&missing, DEFAULT_MAX_MESSAGE_BYTES),
        Some(SECRET),
        SqsQueue::new(sqs.clone(), &missing),
    )
    .unwrap();
    let response = function.handle(&request, Utc::now()).await;
    assert_eq!(response.status_code, 503);
    assert_eq!(response.headers.get("retry-after").unwrap(), "5");
    assert!(drain(&sqs, &url).await.is_empty());

    // SQS is down altogether.
    let function = PreQueue::new(
        settings(&url, DEFAULT_MAX_MESSAGE_BYTES),
        Some(SECRET),
        SqsQueue::new(sqs.clone(), &url),
    )
    .unwrap();
    moto.process().stop();
    let response = function.handle(&request, Utc::now()).await;
    assert_eq!(response.status_code, 503);
    assert_eq!(response.headers.get("retry-after").unwrap(), "5");
}

#[tokio::test]
async fn secrets_are_read_by_arn_from_secrets_manager_and_ssm() {
    let moto = Moto::start().unwrap();
    let sdk = sdk_config(&moto).await;
    let secret_arn = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name("nami/github")
        .secret_string("from-secrets-manager")
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    aws_sdk_ssm::Client::new(&sdk)
        .put_parameter()
        .name("/nami/github")
        .value("from-ssm")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let parameter_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/nami/github";

    let from_sm = SecretSource::arn(&secret_arn)
        .unwrap()
        .resolve(&sdk)
        .await
        .unwrap();
    assert_eq!(from_sm, "from-secrets-manager");
    let from_ssm = SecretSource::arn(parameter_arn)
        .unwrap()
        .resolve(&sdk)
        .await
        .unwrap();
    assert_eq!(from_ssm, "from-ssm");
    let missing =
        SecretSource::arn("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf")
            .unwrap();
    assert!(matches!(
        missing.resolve(&sdk).await,
        Err(SecretError::Fetch { .. })
    ));
}

/// The replay guard's conditional write against moto's DynamoDB: a signed body is accepted again
/// under its own delivery id (a retry), refused under another within the window, accepted once the
/// window has passed (before DynamoDB's lazy TTL deletion has removed the record).
#[tokio::test]
async fn the_replay_guard_refuses_a_body_under_a_new_delivery_id_within_its_window_only() {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    use nami_handlers::replay::{DynamoReplayGuard, ReplayGuard, Seen};
    let moto = Moto::start().unwrap();
    let sdk = sdk_config(&moto).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    dynamodb
        .create_table()
        .table_name("nami-orders-replay")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(nami_contract::replay::KEY)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(nami_contract::replay::KEY)
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let window = std::time::Duration::from_secs(3600);
    let guard = DynamoReplayGuard::new(dynamodb.clone(), "nami-orders-replay".into(), window);
    let t0 = Utc::now();
    let check = |digest: &'static str, id: &'static str, at| {
        let guard = guard.clone();
        async move { guard.check(digest, id, at).await.unwrap() }
    };
    assert_eq!(check("aaaa", "d-1", t0).await, Seen::First);
    assert_eq!(
        check("aaaa", "d-1", t0).await,
        Seen::First,
        "the sender's retry"
    );
    assert_eq!(check("aaaa", "d-2", t0).await, Seen::Replayed);
    assert_eq!(check("bbbb", "d-2", t0).await, Seen::First, "another body");
    let later = t0 + chrono::Duration::seconds(3599);
    assert_eq!(check("aaaa", "d-3", later).await, Seen::Replayed);
    let after = t0 + chrono::Duration::seconds(3601);
    assert_eq!(
        check("aaaa", "d-3", after).await,
        Seen::First,
        "the window has passed"
    );
    assert_eq!(
        check("aaaa", "d-4", after).await,
        Seen::Replayed,
        "a new window"
    );

    // No table: not an answer either way.
    let missing = DynamoReplayGuard::new(dynamodb, "nami-gone-replay".into(), window);
    assert!(missing.check("aaaa", "d-1", t0).await.is_err());
}

#[tokio::test]
async fn a_hooks_message_group_and_attributes_reach_the_queue() {
    use aws_sdk_sqs::types::MessageSystemAttributeName;
    use nami_handlers::hooks::{MessageOptions, Verdict};

    let moto = Moto::start().unwrap();
    let sqs = aws_sdk_sqs::Client::new(&sdk_config(&moto).await);
    let url = queue(&sqs, "tagged", DEFAULT_MAX_MESSAGE_BYTES).await;
    let function = PreQueue::new(
        settings(&url, DEFAULT_MAX_MESSAGE_BYTES),
        Some(SECRET),
        SqsQueue::new(sqs.clone(), &url),
    )
    .unwrap()
    .with_hook(|_: &mut Envelope, options: &mut MessageOptions| {
        options.set_group_id("octo/hello").unwrap();
        options.set_attribute("github_event", "push").unwrap();
        options.set_attribute("tier", "gold").unwrap();
        Verdict::Enqueue
    });
    let request = github_request(b"{}", SECRET, "d-1", "application/json");
    assert_eq!(function.handle(&request, Utc::now()).await.status_code, 200);

    let received = sqs
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("ReceiveMessage");
    let message = &received.messages.unwrap()[0];
    let attributes: Vec<(String, String, String)> = (message.message_attributes.iter())
        .flatten()
        .map(|(name, value)| {
            let value = value.clone();
            (name.clone(), value.data_type, value.string_value.unwrap())
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        attributes,
        [
            ("github_event".into(), "String".into(), "push".into()),
            ("tier".into(), "String".into(), "gold".into())
        ]
    );
    let system = message.attributes.clone().unwrap_or_default();
    assert_eq!(
        system
            .get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
            .map(String::as_str),
        Some("octo/hello")
    );
}
