//! Every accepted webhook is stored exactly once — also across a store outage.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nami_contract::naming::{Function, log_group_name};
use nami_harness::webhooks::{Burst, send_all};

use crate::support::{
    SECRET, cloudwatch_log_text, dead_letters, deploy, drained, envelope_id, log_text,
    metric_totals,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_webhooks_are_stored_exactly_once_and_forgeries_rejected() {
    let deployed = deploy("e2e-thousand", "").await;
    let data_plane = deployed.start(None).await;
    let burst = Burst::github(SECRET, "k", 940, 40, 20, false);
    assert_eq!(burst.webhooks.len(), 1000);

    let answers = send_all(&data_plane.ingress_url(), &burst.webhooks, 16, |_| {}).await;
    for answer in &answers {
        let webhook = &burst.webhooks[answer.index];
        let forged = webhook.delivery_id.contains("forged");
        let expected = if forged { 401 } else { 200 };
        assert_eq!(
            answer.status,
            expected,
            "{}: {}",
            webhook.delivery_id,
            String::from_utf8_lossy(&answer.body)
        );
        if !forged {
            let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
            assert_eq!(body["id"], webhook.delivery_id.as_str());
        }
    }

    let sqs = aws_sdk_sqs::Client::new(&deployed.sdk);
    drained(&data_plane, &sqs, Duration::from_secs(120)).await;
    let expected: BTreeSet<String> = burst.valid_ids.iter().cloned().collect();
    assert_eq!(deployed.stored_ids().await, expected);
    let documents = deployed
        .collection()
        .await
        .count_documents(mongodb::bson::Document::new())
        .await
        .unwrap();
    assert_eq!(documents, 940, "no other document");
    assert!(dead_letters(&data_plane, &sqs).await.is_empty());
    let stats = data_plane.poller_stats();
    assert_eq!(
        stats.received, 980,
        "each accepted request was one message: {stats:?}"
    );
    assert_eq!(stats.deleted, 980, "{stats:?}");
    assert_eq!(data_plane.ingress_stats().rejected, 20);
    let logs = data_plane.logs().to_path_buf();
    data_plane.shutdown(Duration::from_secs(5)).await;

    // The functions' metrics (Embedded Metric Format lines in their logs) tell the same tally,
    // in the local files and in the functions' CloudWatch Logs groups, where nami-local ships
    // their lines as Lambda does.
    let shipped = async || {
        let mut text = String::new();
        for function in Function::ALL {
            let group = log_group_name("e2e-thousand", function);
            text += &cloudwatch_log_text(&deployed.sdk, &group).await;
        }
        text
    };
    let local = metric_totals(&log_text(&logs), "e2e-thousand");
    let started = std::time::Instant::now();
    let mut in_cloudwatch = metric_totals(&shipped().await, "e2e-thousand");
    while in_cloudwatch != local && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        in_cloudwatch = metric_totals(&shipped().await, "e2e-thousand");
    }
    assert_eq!(in_cloudwatch, local, "every line reached CloudWatch Logs");
    let totals = local;
    let total = |name: &str| totals.get(name).copied().unwrap_or(0.0);
    let tally = [
        "Accepted",
        "RejectedSignature",
        "EnqueueFailed",
        "BatchSize",
        "Stored",
        "DuplicatesSquashed",
        "Conflicts",
        "Unparseable",
        "FailedRecords",
    ]
    .map(|name| (name, total(name)));
    assert_eq!(
        tally,
        [
            ("Accepted", 980.0),
            ("RejectedSignature", 20.0),
            ("EnqueueFailed", 0.0),
            ("BatchSize", 980.0),
            ("Stored", 940.0),
            ("DuplicatesSquashed", 40.0),
            ("Conflicts", 0.0),
            ("Unparseable", 0.0),
            ("FailedRecords", 0.0),
        ],
        "{totals:?}"
    );
    assert!(total("InsertLatency") > 0.0, "{totals:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_longer_than_the_visibility_timeout_loses_nothing() {
    let mut deployed = deploy(
        "e2e-outage",
        "  post_queue {\n    timeout = 1\n  }\n  queue {\n    visibility_timeout_seconds = 6\n    max_receive_count = 4\n  }\n",
    )
    .await;
    let data_plane = deployed.start(None).await;
    let burst = Burst::github(SECRET, "o", 300, 0, 0, false);
    let answered = Arc::new(AtomicUsize::new(0));
    let progress = answered.clone();
    let url = data_plane.ingress_url();
    let webhooks = burst.webhooks.clone();
    let sending = tokio::spawn(async move {
        send_all(&url, &webhooks, 4, move |done| {
            progress.store(done, Ordering::Relaxed)
        })
        .await
    });

    crate::support::eventually("a third of the burst", Duration::from_secs(60), || {
        answered.load(Ordering::Relaxed) >= 100
    })
    .await;
    deployed.mongo.stop();
    // Down for longer than one visibility timeout: batches fail, come back, and fail again. The
    // evidence, not a clock: at most 300 − deleted distinct messages can be received from now
    // on, so more receives than that mean a message came back after failing.
    let at_stop = data_plane.poller_stats();
    let undeleted = 300 - at_stop.deleted;
    crate::support::eventually(
        "a message received again while the store is down",
        Duration::from_secs(120),
        || data_plane.poller_stats().received - at_stop.received > undeleted,
    )
    .await;
    deployed.mongo.restart().expect("SecantusDB restarts");

    let answers = sending.await.unwrap();
    let accepted: BTreeSet<String> = answers
        .iter()
        .filter(|a| a.status == 200)
        .map(|a| burst.webhooks[a.index].delivery_id.clone())
        .collect();
    assert_eq!(
        accepted.len(),
        300,
        "the ingress does not depend on the store"
    );

    let sqs = aws_sdk_sqs::Client::new(&deployed.sdk);
    drained(&data_plane, &sqs, Duration::from_secs(120)).await;
    let stored = deployed.stored_ids().await;
    let in_dlq: BTreeSet<String> = dead_letters(&data_plane, &sqs)
        .await
        .iter()
        .filter_map(|body| envelope_id(body))
        .collect();
    let both: BTreeSet<String> = stored.union(&in_dlq).cloned().collect();
    assert_eq!(
        both,
        accepted,
        "stored {} + in the DLQ {}",
        stored.len(),
        in_dlq.len()
    );
    assert!(
        data_plane.poller_stats().retried > 0,
        "the outage must have failed some batches: {:?}",
        data_plane.poller_stats()
    );
    data_plane.shutdown(Duration::from_secs(5)).await;
}
