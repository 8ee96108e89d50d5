//! A pipeline deployed with functions of its own (`examples/custom-handlers`, built by
//! `make custom-handlers`), run by the local data plane: the custom rules show in the answers
//! and in the store, and the guarantees hold around them.

use std::time::Duration;

use mongodb::bson::{Document, doc};
use nami_harness::webhooks::{Webhook, send_all};
use nami_harness::workspace_root;

use crate::support::{SECRET, deploy, drained};

/// `id: fields.event` of every document in `collection`.
async fn events(collection: &mongodb::Collection<Document>) -> Vec<(String, String)> {
    let mut cursor = collection.find(doc! {}).await.unwrap();
    let mut found = Vec::new();
    while cursor.advance().await.unwrap() {
        let document = cursor.deserialize_current().unwrap();
        let event = (document.get_document("fields").ok())
            .and_then(|fields| fields.get_str("event").ok())
            .unwrap_or("(none)");
        found.push((
            document.get_str("_id").unwrap().to_owned(),
            event.to_owned(),
        ));
    }
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_functions_answer_pings_name_events_and_route_issues() {
    let package = |function: &str| {
        let path = workspace_root().join(format!("target/lambda/custom-{function}/bootstrap.zip"));
        assert!(path.exists(), "{} (make custom-handlers)", path.display());
        path.display().to_string()
    };
    let deployed = deploy(
        "e2e-custom",
        &format!(
            "  pre_queue {{\n    artifact = \"{}\"\n  }}\n  post_queue {{\n    artifact = \"{}\"\n  }}\n",
            package("pre-queue"),
            package("post-queue")
        ),
    )
    .await;
    let sqs = aws_sdk_sqs::Client::new(&deployed.sdk);
    let data_plane = deployed.start(None).await;

    let webhook = |secret: &str, id: &str, event: &str| {
        let mut webhook = Webhook::github(
            secret,
            id,
            "application/json",
            format!(r#"{{"delivery":"{id}"}}"#).into_bytes(),
        );
        webhook.event = event.to_owned();
        webhook
    };
    let sent = [
        webhook(SECRET, "ping-1", "ping"),
        webhook(SECRET, "push-1", "push"),
        webhook(SECRET, "issue-1", "issues"),
        webhook("not-the-secret", "ping-2", "ping"),
    ];
    let mut answers = send_all(&data_plane.ingress_url(), &sent, 1, |_| {}).await;
    answers.sort_by_key(|answer| answer.index);
    let statuses: Vec<u16> = answers.iter().map(|answer| answer.status).collect();
    // The ping answered by the rule; a forged ping refused before any rule runs.
    assert_eq!(statuses, [204, 200, 200, 401]);
    drained(&data_plane, &sqs, Duration::from_secs(60)).await;
    data_plane.shutdown(Duration::from_secs(5)).await;

    // Named, and routed: issues in their own collection, the rest in the pipeline's.
    assert_eq!(
        events(&deployed.collection().await).await,
        [("push-1".to_owned(), "push".to_owned())]
    );
    let issues = deployed.collection().await.client().database("nami");
    assert_eq!(
        events(&issues.collection("issues")).await,
        [("issue-1".to_owned(), "issues".to_owned())]
    );
}
