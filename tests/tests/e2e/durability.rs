//! The slow durability suite (`make testdurability`, not part of `make test`): a burst through
//! the local data plane with the store stopped in the middle, every accepted delivery accounted
//! for by its id. Its figures go to `target/reliability/`, rendered into docs/reliability.md.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nami_harness::webhooks::{Burst, quantile, send_all};
use serde_json::json;

use crate::support::{SECRET, dead_letters, deploy, drained, envelope_id, eventually};

const WEBHOOKS: usize = 10_000;
const CONNECTIONS: usize = 64;
const OUTAGE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "slow (minutes): make testdurability"]
async fn ten_thousand_webhooks_with_the_store_stopped_thirty_seconds_lose_nothing() {
    // A batch may take 2 s; a failed one comes back after 12 s; five receives before the DLQ.
    let mut deployed = deploy(
        "e2e-durable",
        "  post_queue {\n    timeout = 2\n  }\n  queue {\n    visibility_timeout_seconds = 12\n    max_receive_count = 5\n  }\n",
    )
    .await;
    let data_plane = deployed.start(None).await;
    let burst = Burst::github(SECRET, "durable", WEBHOOKS, 0, 0, false);
    let answered = Arc::new(AtomicUsize::new(0));
    let progress = answered.clone();
    let url = data_plane.ingress_url();
    let webhooks = burst.webhooks.clone();
    let started = Instant::now();
    let sending = tokio::spawn(async move {
        send_all(&url, &webhooks, CONNECTIONS, move |done| {
            progress.store(done, Ordering::Relaxed)
        })
        .await
    });

    // A third into the burst, the store goes away for 30 s; the ingress keeps accepting.
    eventually("a third of the burst", Duration::from_secs(300), || {
        answered.load(Ordering::Relaxed) >= WEBHOOKS / 3
    })
    .await;
    deployed.mongo.stop();
    let stopped_at = started.elapsed();
    tokio::time::sleep(OUTAGE).await;
    deployed.mongo.restart().expect("SecantusDB restarts");
    let restarted = Instant::now();

    let answers = sending.await.unwrap();
    let burst_seconds = answers.iter().map(|a| a.latency).max().unwrap_or_default();
    let accepted: BTreeSet<String> = answers
        .iter()
        .filter(|a| a.status == 200)
        .map(|a| burst.webhooks[a.index].delivery_id.clone())
        .collect();
    let refused = answers.iter().filter(|a| a.status != 200).count();
    let latencies: Vec<Duration> = answers
        .iter()
        .filter(|a| a.status == 200)
        .map(|a| a.latency)
        .collect();

    let sqs = aws_sdk_sqs::Client::new(&deployed.sdk);
    drained(&data_plane, &sqs, Duration::from_secs(600)).await;
    let drained_after = restarted.elapsed();
    let stored = deployed.stored_ids().await;
    let documents = deployed
        .collection()
        .await
        .count_documents(mongodb::bson::doc! {})
        .await
        .unwrap();
    let in_dlq: BTreeSet<String> = dead_letters(&data_plane, &sqs)
        .await
        .iter()
        .filter_map(|body| envelope_id(body))
        .collect();
    let accounted: BTreeSet<String> = stored.union(&in_dlq).cloned().collect();
    let missing = accepted.difference(&accounted).count();
    let extra = accounted.difference(&accepted).count();
    let stats = data_plane.poller_stats();

    let figures = json!({
        "webhooks": WEBHOOKS,
        "connections": CONNECTIONS,
        "outage_seconds": OUTAGE.as_secs(),
        "store_stopped_after_seconds": stopped_at.as_secs_f64(),
        "accepted": accepted.len(),
        "refused": refused,
        "stored": stored.len(),
        "documents": documents,
        "in_dlq": in_dlq.len(),
        "missing": missing,
        "extra": extra,
        "ack_p50_ms": quantile(&latencies, 0.5).as_secs_f64() * 1000.0,
        "ack_p99_ms": quantile(&latencies, 0.99).as_secs_f64() * 1000.0,
        "slowest_answer_seconds": burst_seconds.as_secs_f64(),
        "drained_seconds_after_restart": drained_after.as_secs_f64(),
        "received": stats.received,
        "retried": stats.retried,
    });
    nami_harness::record_figures("outage-burst", &figures);

    assert_eq!(
        accepted.len(),
        WEBHOOKS,
        "the ingress does not depend on the store: {figures}"
    );
    assert_eq!((missing, extra), (0, 0), "{figures}");
    assert_eq!(
        documents,
        stored.len() as u64,
        "one document per delivery id"
    );
    assert!(
        stats.retried > 0,
        "the outage failed some batches: {figures}"
    );
    data_plane.shutdown(Duration::from_secs(5)).await;
}
