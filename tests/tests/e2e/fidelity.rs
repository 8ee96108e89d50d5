//! Where `nami-local` used to be kinder than AWS, and now behaves as AWS does (issue 14): each
//! test shows, with the real artifacts, what a sender or a function meets on AWS.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use nami_harness::faults::FaultProxy;
use nami_harness::webhooks::{Webhook, send_all};

use crate::support::{SECRET, deploy, eventually};

/// Sends `webhook` to `url` on a raw connection and hangs up after `patience`, as a sender whose
/// own timeout fires does.
fn post_and_hang_up(url: &str, webhook: &Webhook, patience: Duration) {
    let uri: http::Uri = url.parse().unwrap();
    let authority = uri.authority().unwrap().to_string();
    let mut stream = std::net::TcpStream::connect(&authority).unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
         X-GitHub-Event: push\r\nX-GitHub-Delivery: {}\r\nX-Hub-Signature-256: {}\r\n\r\n",
        uri.path(),
        webhook.content_type,
        webhook.body.len(),
        webhook.delivery_id,
        webhook.signature,
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&webhook.body).unwrap();
    stream.set_read_timeout(Some(patience)).unwrap();
    let mut answer = [0_u8; 64];
    let read = stream.read(&mut answer);
    assert!(
        read.is_err(),
        "the sender was answered within its patience: {:?}",
        String::from_utf8_lossy(&answer)
    );
    // Dropping the stream closes the connection: the sender has given up.
}

/// On AWS an invocation runs to its end when the sender disconnects (or the 29 s integration
/// timeout fires): the webhook can be enqueued although the sender saw an error. Locally the
/// function process used to be killed mid-call, so that case never showed up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_runs_to_its_end_after_the_sender_gives_up() {
    let deployed = deploy("e2e-hang-up", "").await;
    // The functions' AWS calls go through a proxy that holds every SendMessage for 2 s.
    let proxy = FaultProxy::start(&deployed.moto.endpoint(), 0, 1)
        .await
        .unwrap();
    proxy.delay("AmazonSQS.SendMessage", Duration::from_secs(2));
    let endpoint = proxy.endpoint();
    let data_plane = deployed
        .start_with(|options| options.endpoint = Some(endpoint))
        .await;
    let body = br#"{"ref":"refs/heads/main"}"#.to_vec();
    let webhook = Webhook::github(SECRET, "d-gave-up", "application/json", body);
    let url = data_plane.ingress_url();
    tokio::task::spawn_blocking(move || {
        post_and_hang_up(&url, &webhook, Duration::from_millis(400))
    })
    .await
    .unwrap();

    let mut stored = std::collections::BTreeSet::new();
    let started = std::time::Instant::now();
    while stored.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the webhook whose sender gave up was never stored: {:?}, {:?}; logs in {}",
            data_plane.pre_queue().stats(),
            data_plane.poller_stats(),
            data_plane.logs().display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        stored = deployed.stored_ids().await;
    }
    assert_eq!(stored.into_iter().collect::<Vec<_>>(), ["d-gave-up"]);
    eventually(
        "the invocation counted as abandoned",
        Duration::from_secs(5),
        || data_plane.ingress_stats().abandoned == 1,
    )
    .await;
    let pre = data_plane.pre_queue().stats();
    assert_eq!((pre.invocations, pre.errors), (1, 0), "it ran to its end");
    data_plane.shutdown(Duration::from_secs(5)).await;
}

/// Lambda refuses a synchronous event over 6 MB, so a body that API Gateway takes (under 10 MB)
/// but whose event does not fit (base64 makes it 4/3 larger) never reaches the handler: the sender
/// gets API Gateway's 413, not the handler's. Locally the event used to reach the function.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_sender_sees_at_each_body_size() {
    let deployed = deploy("e2e-sizes", "").await;
    let data_plane = deployed.start(None).await;
    let url = data_plane.ingress_url();
    let sized = |id: &str, bytes: usize| {
        // A JSON string of `bytes` bytes.
        let mut body = vec![b'a'; bytes];
        (body[0], body[bytes - 1]) = (b'"', b'"');
        Webhook::github(SECRET, id, "application/json", body)
    };
    let cases = [
        ("small", 1_000),
        ("over-the-queue", 2_000_000),
        ("over-lambda", 5_000_000),
        ("over-api-gateway", 11 * 1024 * 1024),
    ];
    let mut seen = Vec::new();
    for (id, bytes) in cases {
        let answer = send_all(&url, &[sized(id, bytes)], 1, |_| {})
            .await
            .remove(0);
        seen.push((
            id,
            answer.status,
            String::from_utf8_lossy(&answer.body).into_owned(),
        ));
    }
    let status = |id: &str| seen.iter().find(|(i, ..)| *i == id).unwrap().1;
    let body = |id: &str| seen.iter().find(|(i, ..)| *i == id).unwrap().2.clone();
    assert_eq!(status("small"), 200, "{seen:?}");
    // The handler's own 413: the envelope does not fit the queue's maximum message size.
    assert_eq!(status("over-the-queue"), 413);
    assert!(
        body("over-the-queue").contains("maximum message size"),
        "{}",
        body("over-the-queue")
    );
    // Lambda's invoke limit: API Gateway's 413; the function never ran for it.
    assert_eq!(status("over-lambda"), 413);
    assert_eq!(body("over-lambda"), r#"{"message":"Request Too Long"}"#);
    // API Gateway's own limit.
    assert_eq!(status("over-api-gateway"), 413);
    assert_eq!(
        body("over-api-gateway"),
        "HTTP content length exceeded 10485760 bytes."
    );
    assert_eq!(
        data_plane.pre_queue().stats().invocations,
        2,
        "only the small body and the one over the queue's limit reached the function"
    );
    data_plane.shutdown(Duration::from_secs(5)).await;
}

/// API Gateway base64-encodes a body only when the API's binary media types match it; otherwise
/// it passes text, and bytes that are not UTF-8 do not survive. A deployment whose binary media
/// types do not cover a sender's content type breaks its binary webhooks on AWS — and now locally
/// too (non-UTF-8 bodies used to be encoded anyway).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_matching_binary_media_type_a_binary_body_does_not_arrive_intact() {
    let deployed = deploy("e2e-no-binary", "").await;
    let apigateway = aws_sdk_apigateway::Client::new(&deployed.sdk);
    let apis = apigateway.get_rest_apis().send().await.unwrap();
    let api_id = (apis.items().iter())
        .find(|api| api.name() == Some("nami-e2e-no-binary"))
        .and_then(|api| api.id())
        .unwrap()
        .to_owned();
    apigateway
        .update_rest_api()
        .rest_api_id(&api_id)
        .patch_operations(
            // Images only, instead of the provider's */*.
            aws_sdk_apigateway::types::PatchOperation::builder()
                .op(aws_sdk_apigateway::types::Op::Replace)
                .path("/binaryMediaTypes/*~1*")
                .value("image/png")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let data_plane = deployed.start(None).await;
    assert_eq!(data_plane.pipeline().binary_media_types, ["image/png"]);
    let url = data_plane.ingress_url();
    let binary = Webhook::github(
        SECRET,
        "d-binary",
        "application/octet-stream",
        (0..=255).collect(),
    );
    let text = Webhook::github(
        SECRET,
        "d-text",
        "application/json",
        br#"{"ok":true}"#.to_vec(),
    );
    let answers = send_all(&url, &[binary, text], 1, |_| {}).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [401, 200],
        "the binary body reached the function altered, so its signature no longer matches"
    );
    data_plane.shutdown(Duration::from_secs(5)).await;
}

/// When the batching window and the function's timeout outlast the queue's visibility timeout,
/// Lambda extends the visibility of the messages it holds. Locally a message used to reappear
/// during a long window and be received again (a duplicate, an early step towards the DLQ).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_held_through_a_long_window_do_not_reappear() {
    let deployed = deploy(
        "e2e-held",
        "  post_queue {\n    batching_window_seconds = 4\n    timeout = 3\n  }\n",
    )
    .await;
    let sqs = aws_sdk_sqs::Client::new(&deployed.sdk);
    let queue_url = crate::support::queue_url(&sqs, "e2e-held").await;
    // Shorter than the window, out of band (the provider would refuse it).
    sqs.set_queue_attributes()
        .queue_url(&queue_url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "2",
        )
        .send()
        .await
        .unwrap();
    let data_plane = deployed.start(None).await;
    assert_eq!(
        data_plane.pipeline().queue.visibility_timeout,
        Duration::from_secs(2)
    );
    let webhook = Webhook::github(SECRET, "d-held", "application/json", br#"{"a":1}"#.to_vec());
    let answers = send_all(&data_plane.ingress_url(), &[webhook], 1, |_| {}).await;
    assert_eq!(answers[0].status, 200);
    crate::support::drained(&data_plane, &sqs, Duration::from_secs(30)).await;
    let stats = data_plane.poller_stats();
    assert_eq!(
        stats.received, 1,
        "received once, not again during the window: {stats:?}"
    );
    assert!(stats.extended >= 1, "{stats:?}");
    assert_eq!(deployed.stored_ids().await.len(), 1);
    data_plane.shutdown(Duration::from_secs(5)).await;
}

/// Lambda's 6 MB cap is on the whole event: a batch stops before the record that would take the
/// event over it, and that record waits for the next batch. Locally only the bodies used to be
/// counted, after the fact, so a 6.4 MB event reached the function.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_event_never_exceeds_six_megabytes() {
    let deployed = deploy(
        "e2e-six-mb",
        "  queue {\n    max_message_bytes = 1048576\n  }\n  post_queue {\n    batch_size = 10\n    batching_window_seconds = 2\n  }\n",
    )
    .await;
    let sqs = aws_sdk_sqs::Client::new(&deployed.sdk);
    let queue_url = crate::support::queue_url(&sqs, "e2e-six-mb").await;
    // Eight messages of 800 KB are waiting when the pollers start: one receive takes them all.
    for i in 0..8 {
        sqs.send_message()
            .queue_url(&queue_url)
            .message_body(format!("{i}{}", "x".repeat(800_000)))
            .send()
            .await
            .unwrap();
    }
    let data_plane = deployed.start(None).await;
    eventually(
        "all eight received in two batches at least",
        Duration::from_secs(30),
        || {
            let stats = data_plane.poller_stats();
            stats.received >= 8 && stats.batches >= 2
        },
    )
    .await;
    let stats = data_plane.poller_stats();
    assert!(
        stats.largest_event_bytes <= nami_dataplane::poller::MAX_BATCH_BYTES as u64,
        "an event of {} bytes reached the function: {stats:?}",
        stats.largest_event_bytes
    );
    assert!(
        stats.largest_event_bytes > 5_000_000,
        "batches were filled: {stats:?}"
    );
    data_plane.shutdown(Duration::from_secs(5)).await;
}

/// Each function acts with its execution role's credentials (STS `AssumeRole`), as on Lambda;
/// locally it used to act with the caller's, so a permission its role lacked never showed. With
/// moto enforcing IAM for those credentials, a missing grant fails here as on AWS — for the calls
/// moto evaluates faithfully (`sqs:SendMessage` among them; the others are listed in
/// docs/local-parts.md). A pipeline with scheme `none` (no secret to read) shows it on the
/// pre-queue side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permission_the_execution_role_lacks_fails_locally() {
    let moto = nami_harness::Moto::start_enforcing_roles().unwrap();
    let deployed = crate::support::deploy_on(moto, "e2e-iam", "    scheme = \"none\"", "").await;
    let data_plane = deployed.start(None).await;
    let sqs = aws_sdk_sqs::Client::new(&deployed.sdk);
    let queue_url = data_plane.pipeline().queue.url.clone();
    let in_queue = || async {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        let count = |name| {
            attributes
                .get(&name)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            + count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
    };
    let webhook = |id: &str| Webhook {
        delivery_id: id.to_owned(),
        content_type: "application/json".into(),
        body: br#"{"event":"ping"}"#.to_vec(),
        signature: String::new(),
        event: "ping".into(),
    };
    let url = data_plane.ingress_url();
    let first = send_all(&url, &[webhook("d-allowed")], 1, |_| {}).await;
    assert_eq!(
        first[0].status,
        200,
        "{:?}",
        String::from_utf8_lossy(&first[0].body)
    );
    assert_eq!(in_queue().await, 1, "enqueued with the role's own grant");

    // The pre-queue role loses sqs:SendMessage.
    let iam = aws_sdk_iam::Client::new(&deployed.sdk);
    let role = "nami-e2e-iam-pre-queue";
    let document = iam
        .get_role_policy()
        .role_name(role)
        .policy_name("nami")
        .send()
        .await
        .unwrap()
        .policy_document;
    let mut policy = nami_harness::aws::decode_policy(&document);
    for statement in policy["Statement"].as_array_mut().unwrap() {
        if let Some(actions) = statement["Action"].as_array_mut() {
            actions.retain(|action| action != "sqs:SendMessage");
        }
    }
    policy["Statement"]
        .as_array_mut()
        .unwrap()
        .retain(|statement| {
            statement["Action"].as_array().is_none_or(|a| !a.is_empty())
                && statement["Action"] != "sqs:SendMessage"
        });
    iam.put_role_policy()
        .role_name(role)
        .policy_name("nami")
        .policy_document(policy.to_string())
        .send()
        .await
        .unwrap();
    let second = send_all(&url, &[webhook("d-denied")], 1, |_| {}).await;
    assert!(
        second[0].status >= 500,
        "without the grant the webhook cannot be accepted: {} {:?}",
        second[0].status,
        String::from_utf8_lossy(&second[0].body)
    );
    assert_eq!(in_queue().await, 1, "nothing more was enqueued");
    data_plane.shutdown(Duration::from_secs(5)).await;
}
