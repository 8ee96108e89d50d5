//! A captured GitHub request replayed with a fresh delivery id, through the local data plane
//! with the real artifacts: refused with 409 inside the replay window, while the sender's own
//! retry of the delivery goes through — and only the one delivery is stored. A signed request
//! reusing the delivery id with another body is accepted (its signature is new) and lands in the
//! conflicts collection, not over the stored event.

use std::time::Duration;

use nami_harness::webhooks::{Webhook, send_all};

use crate::support::{SECRET, deploy_signed, drained};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_github_signature_with_a_fresh_delivery_id_gets_409() {
    let deployed = deploy_signed("e2e-replay", "    replay_window_seconds = 3600", "").await;
    let data_plane = deployed.start(None).await;
    let url = data_plane.ingress_url();
    let body = br#"{"ref":"refs/heads/main","after":"4f2c"}"#.to_vec();
    let original = Webhook::github(SECRET, "d-original", "application/json", body.clone());
    // The attacker has the bytes and the signature, and invents a delivery id (it is unsigned).
    let replayed = Webhook {
        delivery_id: "d-forged".into(),
        ..original.clone()
    };
    let other_body = Webhook::github(
        SECRET,
        "d-original",
        "application/json",
        br#"{"ref":"refs/heads/main","after":"9e1d"}"#.to_vec(),
    );
    let mut statuses = Vec::new();
    for webhook in [&original, &replayed, &original, &other_body] {
        let answers = send_all(&url, std::slice::from_ref(webhook), 1, |_| {}).await;
        statuses.push(answers[0].status);
    }
    assert_eq!(
        statuses,
        [200, 409, 200, 200],
        "original, replay, the sender's retry, another body under the same id"
    );

    let sqs = aws_sdk_sqs::Client::new(&deployed.sdk);
    drained(&data_plane, &sqs, Duration::from_secs(60)).await;
    data_plane.shutdown(Duration::from_secs(5)).await;
    let stored = deployed.stored_ids().await;
    assert_eq!(
        stored.iter().collect::<Vec<_>>(),
        ["d-original"],
        "the replay is not stored as a new event"
    );
    let conflicts = deployed
        .conflicts()
        .await
        .count_documents(mongodb::bson::Document::new())
        .await
        .unwrap();
    assert_eq!(conflicts, 1, "the other body is a recorded conflict");
    nami_harness::record_figures(
        "replay",
        &serde_json::json!({
            "statuses": statuses,
            "stored": stored.len(),
            "conflicts": conflicts,
        }),
    );
}
