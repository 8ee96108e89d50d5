//! Destroy keeps queued data: without `force_destroy` it refuses while a queue holds messages,
//! after taking the API down and giving the queue the time to drain.

use std::time::Duration;

use aws_config::SdkConfig;
use nami_harness::Moto;
use terraform_provider_nami::components::{api, queue};

use crate::support::{Terraform, assert_destroyed, pipeline, provider_clients, sdk};

/// A pipeline whose destroy may wait `delete` for its queue to drain.
fn held(force_destroy: bool, delete: &str) -> String {
    pipeline(
        "held",
        &format!(
            "  force_destroy = {force_destroy}\n\n  timeouts {{\n    delete = \"{delete}\"\n  }}\n"
        ),
    )
}

async fn send(sdk: &SdkConfig, url: &str, count: usize) {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    for n in 0..count {
        sqs.send_message()
            .queue_url(url)
            .message_body(format!("{{\"n\":{n}}}"))
            .send()
            .await
            .unwrap();
    }
}

/// Receives and deletes everything visible in `url`, as the post-queue function would.
async fn consume(sdk: &SdkConfig, url: &str) -> usize {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut consumed = 0;
    loop {
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return consumed;
        }
        for message in messages {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle.unwrap())
                .send()
                .await
                .unwrap();
            consumed += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_refuses_while_the_queues_hold_messages_and_force_destroy_deletes_them() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let clients = provider_clients(&sdk);
    let tf = Terraform::new("queued-data", &moto);
    tf.write(&held(false, "6s"));
    tf.apply();
    let state = tf.resource_values("nami_webhook_pipeline.this");
    assert_eq!(state["force_destroy"], false, "the default");
    let (queue_url, dlq_url) = (
        state["queue_url"].as_str().unwrap(),
        state["dlq_url"].as_str().unwrap(),
    );
    let api_id = state["api_id"].as_str().unwrap();

    // Messages in the DLQ never drain by themselves: refused before anything is touched.
    send(&sdk, dlq_url, 3).await;
    let refused = tf.fails(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        refused.contains(
            "pipeline \"held\" still holds 0 message(s) in its queue nami-held and 3 in its dead-letter queue nami-held-dlq; destroying it would delete them, so nothing was deleted"
        ),
        "{refused}"
    );
    assert!(refused.contains("set force_destroy = true"), "{refused}");
    assert!(api::find(&clients, api_id).await.unwrap().is_some());

    // Messages in the queue: the API goes (nothing new is acknowledged), the destroy waits half
    // of the delete timeout for the drain; nothing drains them here, so it refuses.
    assert_eq!(consume(&sdk, dlq_url).await, 3);
    send(&sdk, queue_url, 2).await;
    let refused = tf.fails(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        refused.contains(
            "still holds 2 message(s) in its queue nami-held and 0 in its dead-letter queue"
        ),
        "{refused}"
    );
    assert!(refused.contains("only its API was removed"), "{refused}");
    assert!(
        refused.contains("did not drain within half of timeouts.delete"),
        "{refused}"
    );
    assert!(api::find(&clients, api_id).await.unwrap().is_none());
    assert_eq!(queue::depth(&clients, queue_url).await.unwrap(), 2);

    // With force_destroy the queues go with their messages.
    tf.write(&held(true, "6s"));
    tf.apply();
    assert_eq!(
        tf.resource_values("nami_webhook_pipeline.this")["force_destroy"],
        true
    );
    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_destroyed(&sdk, &state).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_removes_the_api_first_and_waits_for_the_queue_to_drain() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let tf = Terraform::new("queue-drains", &moto);
    tf.write(&held(false, "2m"));
    tf.apply();
    let state = tf.resource_values("nami_webhook_pipeline.this");
    let queue_url = state["queue_url"].as_str().unwrap().to_owned();
    let api_id = state["api_id"].as_str().unwrap().to_owned();
    send(&sdk, &queue_url, 5).await;

    // A consumer that starts once the API is gone, as the post-queue function would keep going.
    let consumer = tokio::spawn({
        let (sdk, clients) = (sdk.clone(), provider_clients(&sdk));
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while api::find(&clients, &api_id).await.unwrap().is_some() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the API was never removed"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // The queue is still there: destroy is waiting for it.
            assert!(queue::find(&clients, &queue_url).await.unwrap().is_some());
            consume(&sdk, &queue_url).await
        }
    });
    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(consumer.await.unwrap(), 5);
    assert_destroyed(&sdk, &state).await;
}
