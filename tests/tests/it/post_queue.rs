//! The post-queue function against SecantusDB (MongoDB wire protocol).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::DateTime;
use mongodb::bson::{Bson, doc};
use nami_handlers::envelope::{Body, ENVELOPE_VERSION, Envelope, SignatureCheck};
use nami_handlers::mongo::MongoStore;
use nami_handlers::post_queue::PostQueue;
use nami_harness::Mongo;

use crate::support::sqs_event;

fn envelope(id: &str, body: &[u8], content_type: &str) -> Envelope {
    Envelope {
        version: ENVELOPE_VERSION,
        id: id.into(),
        id_source: "header:x-github-delivery".into(),
        pipeline: "orders".into(),
        received_at: DateTime::from_timestamp_millis(1_763_900_000_000 + id.len() as i64).unwrap(),
        method: "POST".into(),
        path: "/webhook".into(),
        query: BTreeMap::new(),
        source_ip: Some("192.0.2.10".into()),
        headers: BTreeMap::from([("content-type".into(), content_type.into())]),
        body: Body::new(body, Some(content_type)),
        signature: SignatureCheck {
            scheme: "github".into(),
            verified: true,
        },
    }
}

async fn store(mongo: &Mongo, collection: &str, timeout: Duration) -> MongoStore {
    MongoStore::connect(&mongo.uri(), "nami", collection, timeout)
        .await
        .unwrap()
}

fn failures(response: &aws_lambda_events::sqs::SqsBatchResponse) -> Vec<String> {
    let mut ids: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn fifty_records_with_duplicates_and_a_poison_record_are_each_stored_once() {
    let mongo = Mongo::start().unwrap();
    let store = store(&mongo, "orders", Duration::from_secs(5)).await;
    let function = PostQueue::new("orders", store.clone());

    // 40 distinct deliveries; 9 of them sent twice within the batch; one record is not an envelope.
    let mut records = Vec::new();
    for n in 0..40 {
        let body = format!(r#"{{"n":{n}}}"#);
        records.push((
            format!("m{n}"),
            envelope(&format!("d{n}"), body.as_bytes(), "application/json").to_message_body(),
        ));
    }
    for n in 0..9 {
        let body = format!(r#"{{"n":{n}}}"#);
        records.push((
            format!("m-dup{n}"),
            envelope(&format!("d{n}"), body.as_bytes(), "application/json").to_message_body(),
        ));
    }
    records.push(("m-poison".into(), "{\"not\": \"an envelope\"".into()));
    assert_eq!(records.len(), 50);

    let (response, outcome) = function.process(&sqs_event(records.clone())).await.unwrap();
    assert_eq!(failures(&response), vec!["m-poison"]);
    assert_eq!(
        (outcome.stored, outcome.duplicates, outcome.unparseable),
        (40, 9, 1)
    );
    assert_eq!(
        store.collection().count_documents(doc! {}).await.unwrap(),
        40
    );
    for n in 0..40 {
        assert_eq!(
            store
                .collection()
                .count_documents(doc! {"_id": format!("d{n}")})
                .await
                .unwrap(),
            1
        );
    }

    // SQS redelivers the whole batch (at-least-once): still stored once, still only the poison fails.
    let (response, outcome) = function.process(&sqs_event(records)).await.unwrap();
    assert_eq!(failures(&response), vec!["m-poison"]);
    assert_eq!((outcome.stored, outcome.duplicates), (0, 49));
    assert_eq!(
        store.collection().count_documents(doc! {}).await.unwrap(),
        40
    );
}

#[tokio::test]
async fn stored_document_keeps_the_raw_body_byte_exact_and_a_bson_date() {
    let mongo = Mongo::start().unwrap();
    let store = store(&mongo, "shapes", Duration::from_secs(5)).await;
    let function = PostQueue::new("shapes", store.clone());
    let binary: Vec<u8> = (0..=255u8).rev().collect();
    let cases = [
        envelope(
            "json",
            br#"{"id":"evt_1","$custom":{"nested":[1,2.5,null]}}"#,
            "application/json",
        ),
        envelope(
            "form",
            b"text=hello+world&channel=C1",
            "application/x-www-form-urlencoded",
        ),
        envelope("binary", &binary, "application/octet-stream"),
        envelope("empty", b"", "text/plain"),
    ];
    let records = cases
        .iter()
        .map(|e| (format!("m-{}", e.id), e.to_message_body()));
    let (response, _) = function.process(&sqs_event(records)).await.unwrap();
    assert!(response.batch_item_failures.is_empty());

    for expected in &cases {
        let stored = store
            .collection()
            .find_one(doc! {"_id": &expected.id})
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.get("received_at"),
            Some(&Bson::DateTime(mongodb::bson::DateTime::from_millis(
                expected.received_at.timestamp_millis()
            )))
        );
        assert_eq!(stored.get_str("pipeline").unwrap(), "orders");
        let body = stored.get_document("body").unwrap();
        let round_trip = Body {
            content_type: body.get_str("content_type").ok().map(str::to_owned),
            size: body.get_i32("size").unwrap() as usize,
            encoding: serde_json::from_value(serde_json::json!(body.get_str("encoding").unwrap()))
                .unwrap(),
            raw: body.get_str("raw").unwrap().to_owned(),
            json: None,
            form: None,
        };
        assert_eq!(
            round_trip.raw_bytes().unwrap(),
            expected.body.raw_bytes().unwrap(),
            "{}",
            expected.id
        );
    }
    let json = store
        .collection()
        .find_one(doc! {"_id": "json"})
        .await
        .unwrap()
        .unwrap();
    let parsed = json
        .get_document("body")
        .unwrap()
        .get_document("json")
        .unwrap();
    assert_eq!(parsed.get_str("id").unwrap(), "evt_1");
    assert_eq!(
        parsed
            .get_document("$custom")
            .unwrap()
            .get_array("nested")
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn store_down_reports_every_record_and_nothing_is_lost_once_it_is_back() {
    let mut mongo = Mongo::start().unwrap();
    let store = store(&mongo, "outage", Duration::from_millis(700)).await;
    let function = PostQueue::new("outage", store.clone());
    let records: Vec<(String, String)> = (0..12)
        .map(|n| {
            (
                format!("m{n}"),
                envelope(&format!("d{n}"), b"{}", "application/json").to_message_body(),
            )
        })
        .collect();

    // Warm the connection pool first, so the outage is met by a client that had a live server.
    let (response, _) = function
        .process(&sqs_event(records[..2].to_vec()))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());

    mongo.stop();
    let started = std::time::Instant::now();
    let (response, outcome) = function.process(&sqs_event(records.clone())).await.unwrap();
    let mut all: Vec<String> = records.iter().map(|(id, _)| id.clone()).collect();
    all.sort();
    assert_eq!(
        failures(&response),
        all,
        "nothing is acknowledged that is not stored"
    );
    assert_eq!(outcome.failed, 12);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "fails fast, well inside a function timeout"
    );

    mongo.restart().unwrap();
    let (response, outcome) = function.process(&sqs_event(records)).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!((outcome.stored, outcome.duplicates), (10, 2));
    assert_eq!(
        store.collection().count_documents(doc! {}).await.unwrap(),
        12
    );
}

#[tokio::test]
async fn a_batch_with_a_record_without_message_id_is_retried_whole() {
    let mongo = Mongo::start().unwrap();
    let function = PostQueue::new(
        "orders",
        store(&mongo, "orders", Duration::from_secs(5)).await,
    );
    let mut event = sqs_event([(
        "m1".to_owned(),
        envelope("d1", b"{}", "application/json").to_message_body(),
    )]);
    event.records[0].message_id = None;
    assert!(function.process(&event).await.is_err());
}
