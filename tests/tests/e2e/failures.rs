//! Messages that cannot be stored go to the DLQ after max_receive_count receives; invocations
//! that overrun the function timeout are killed and their batches delivered again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nami_harness::webhooks::{Burst, send_all};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{SECRET, dead_letters, deploy, drained, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_reaches_the_dlq_after_max_receive_count_and_nothing_else_does() {
    let deployed = deploy(
        "e2e-poison",
        "  post_queue {\n    timeout = 2\n  }\n  queue {\n    visibility_timeout_seconds = 12\n    max_receive_count = 2\n  }\n",
    )
    .await;
    let data_plane = deployed.start(None).await;
    let sqs = aws_sdk_sqs::Client::new(&deployed.sdk);
    let poison = "this is not an envelope";
    sqs.send_message()
        .queue_url(&data_plane.pipeline().queue.url)
        .message_body(poison)
        .send()
        .await
        .unwrap();
    let burst = Burst::github(SECRET, "p", 20, 0, 0, false);
    let answers = send_all(&data_plane.ingress_url(), &burst.webhooks, 4, |_| {}).await;
    assert!(answers.iter().all(|a| a.status == 200));

    drained(&data_plane, &sqs, Duration::from_secs(60)).await;
    assert_eq!(dead_letters(&data_plane, &sqs).await, [poison]);
    assert_eq!(deployed.stored_ids().await.len(), 20);
    // Every receive ended in a delete or a retry, and the poison was retried max_receive_count
    // (2) times at least: exact counts would depend on no batch outliving its timeout, which a
    // loaded machine cannot promise.
    let stats = data_plane.poller_stats();
    assert_eq!(stats.received, stats.deleted + stats.retried, "{stats:?}");
    assert!(stats.retried >= 2, "{stats:?}");
    assert!(stats.deleted >= 20, "{stats:?}");
    data_plane.shutdown(Duration::from_secs(5)).await;
}

/// A TCP front for the store that either swallows connections (a hung store) or forwards them.
async fn switchable_store(target: String) -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let forward = Arc::new(AtomicBool::new(false));
    let forwarding = forward.clone();
    tokio::spawn(async move {
        let mut swallowed = Vec::new();
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            if forwarding.load(Ordering::Relaxed) {
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(mut store) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut store).await;
                    }
                });
            } else {
                swallowed.push(client);
            }
        }
    });
    (port, forward)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_past_the_timeout_is_killed_and_its_batch_redelivered() {
    let deployed = deploy(
        "e2e-timeout",
        "  post_queue {\n    timeout = 1\n  }\n  queue {\n    visibility_timeout_seconds = 6\n    max_receive_count = 5\n  }\n",
    )
    .await;
    // The function waits for the store far longer than it may run (as with a store timeout
    // misconfigured above the function timeout).
    let lambda = aws_sdk_lambda::Client::new(&deployed.sdk);
    let function = format!("nami-{}-post-queue", deployed.name);
    let mut variables = lambda
        .get_function_configuration()
        .function_name(&function)
        .send()
        .await
        .unwrap()
        .environment
        .and_then(|e| e.variables)
        .unwrap();
    variables.insert("NAMI_MONGODB_TIMEOUT_MS".into(), "30000".into());
    lambda
        .update_function_configuration()
        .function_name(&function)
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .set_variables(Some(variables))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let store_address = deployed
        .mongo
        .uri()
        .trim_start_matches("mongodb://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let (port, forward) = switchable_store(store_address).await;
    let data_plane = deployed
        .start(Some(format!(
            "mongodb://127.0.0.1:{port}/?directConnection=true"
        )))
        .await;

    let burst = Burst::github(SECRET, "t", 10, 0, 0, false);
    let answers = send_all(&data_plane.ingress_url(), &burst.webhooks, 2, |_| {}).await;
    assert!(answers.iter().all(|a| a.status == 200));
    eventually("a post-queue timeout", Duration::from_secs(30), || {
        data_plane.post_queue().stats().timeouts >= 1
    })
    .await;
    let first = data_plane.post_queue().stats();
    forward.store(true, Ordering::Relaxed);

    let sqs = aws_sdk_sqs::Client::new(&deployed.sdk);
    drained(&data_plane, &sqs, Duration::from_secs(90)).await;
    let expected: std::collections::BTreeSet<String> = burst.valid_ids.iter().cloned().collect();
    assert_eq!(deployed.stored_ids().await, expected);
    assert!(dead_letters(&data_plane, &sqs).await.is_empty());
    let stats = data_plane.post_queue().stats();
    assert!(
        stats.cold_starts > first.cold_starts,
        "the killed environment was replaced: {first:?} → {stats:?}"
    );
    let logs = crate::support::log_text(data_plane.logs());
    assert!(
        logs.contains("Task timed out after 1.00 seconds"),
        "the log stream says so"
    );
    data_plane.shutdown(Duration::from_secs(5)).await;
}
