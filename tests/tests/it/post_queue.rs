//! The post-queue function against SecantusDB (MongoDB wire protocol).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::DateTime;
use mongodb::bson::{Bson, Document, doc};
use nami_handlers::envelope::{Body, ENVELOPE_VERSION, Envelope, SignatureCheck};
use nami_handlers::mongo::{MongoStore, durable_write_concern};
use nami_handlers::post_queue::PostQueue;
use nami_harness::Mongo;

use crate::support::sqs_event;

pub(crate) fn envelope(id: &str, body: &[u8], content_type: &str) -> Envelope {
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
        fields: Default::default(),
    }
}

async fn store(mongo: &Mongo, collection: &str, timeout: Duration) -> MongoStore {
    MongoStore::connect(&mongo.uri(), None, "nami", collection, timeout)
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

/// The admin connection a test uses to arm `failCommand` and watch operations.
async fn admin(mongo: &Mongo) -> mongodb::Database {
    mongodb::Client::with_uri_str(mongo.uri())
        .await
        .unwrap()
        .database("admin")
}

/// Arms `failCommand` on the post-queue function's inserts (its connections only, by app name).
async fn fail_inserts(admin: &mongodb::Database, mode: Bson, data: Document) {
    let mut data = data;
    data.insert("failCommands", vec!["insert"]);
    data.insert("appName", "nami-post-queue");
    admin
        .run_command(doc! {"configureFailPoint": "failCommand", "mode": mode, "data": data})
        .await
        .unwrap();
}

async fn disarm(admin: &mongodb::Database) {
    admin
        .run_command(doc! {"configureFailPoint": "failCommand", "mode": "off"})
        .await
        .unwrap();
}

fn numbered(range: std::ops::Range<usize>) -> Vec<(String, String)> {
    range
        .map(|n| {
            let body = format!(r#"{{"n":{n}}}"#);
            (
                format!("m{n}"),
                envelope(&format!("d{n}"), body.as_bytes(), "application/json").to_message_body(),
            )
        })
        .collect()
}

fn all_ids(records: &[(String, String)]) -> Vec<String> {
    let mut ids: Vec<String> = records.iter().map(|(id, _)| id.clone()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn writes_ask_for_a_majority_and_the_journal() {
    let mongo = Mongo::start().unwrap();
    let store = store(&mongo, "orders", Duration::from_secs(5)).await;
    assert_eq!(
        store.collection().write_concern(),
        Some(&durable_write_concern())
    );
    assert_eq!(
        store.conflicts().write_concern(),
        Some(&durable_write_concern())
    );
    assert_eq!(store.conflicts().name(), "orders_conflicts");
}

/// Record ids `m{n}` for each `n`, in the order `failures` reports them.
fn ids(numbers: &[usize]) -> Vec<String> {
    let mut ids: Vec<String> = numbers.iter().map(|n| format!("m{n}")).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn records_the_server_refuses_are_exactly_the_ones_reported() {
    let mongo = Mongo::start().unwrap();
    let client = mongodb::Client::with_uri_str(mongo.uri()).await.unwrap();
    // A validator refuses bodies whose n is 3, 7, 40 or 99: per-document write errors (code 121),
    // not duplicates — in the first, a middle and the last of the batch's inserts.
    client
        .database("nami")
        .create_collection("validated")
        .validator(doc! {"$jsonSchema": {"bsonType": "object", "properties": {"body": {"bsonType": "object", "properties": {"json": {"bsonType": "object", "properties": {"n": {"not": {"enum": [3, 7, 40, 99]}}}}}}}}})
        .await
        .unwrap();
    let store = store(&mongo, "validated", Duration::from_secs(5)).await;
    let function = PostQueue::new("validated", store.clone());
    let records = numbered(0..100);
    // Four deliveries are already stored, in other slices than the refused ones.
    let earlier: Vec<_> = [20, 21, 60, 95].map(|n| records[n].clone()).into();
    function.process(&sqs_event(earlier)).await.unwrap();

    let (response, outcome) = function.process(&sqs_event(records.clone())).await.unwrap();
    assert_eq!(failures(&response), ids(&[3, 7, 40, 99]));
    assert_eq!(
        (outcome.stored, outcome.failed, outcome.duplicates),
        (92, 4, 4)
    );
    assert_eq!(
        store.collection().count_documents(doc! {}).await.unwrap(),
        96
    );
}

#[tokio::test]
async fn a_write_concern_error_acknowledges_nothing_and_the_retry_stores_once() {
    let mongo = Mongo::start_with_fail_points().unwrap();
    let admin = admin(&mongo).await;
    let store = store(&mongo, "orders", Duration::from_secs(5)).await;
    let function = PostQueue::new("orders", store.clone());
    let records = numbered(0..10);
    fail_inserts(
        &admin,
        doc! {"times": 1}.into(),
        doc! {"writeConcernError": {"code": 64, "errmsg": "waiting for replication timed out"}},
    )
    .await;
    let (response, outcome) = function.process(&sqs_event(records.clone())).await.unwrap();
    assert_eq!(
        failures(&response),
        all_ids(&records),
        "written, not durable: all retried"
    );
    assert_eq!(outcome.failed, 10);

    let (response, outcome) = function.process(&sqs_event(records)).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        (outcome.stored + outcome.duplicates, outcome.failed),
        (10, 0)
    );
    assert_eq!(
        store.collection().count_documents(doc! {}).await.unwrap(),
        10
    );
}

#[tokio::test]
async fn an_error_reply_or_a_closed_connection_fails_the_whole_batch() {
    let mongo = Mongo::start_with_fail_points().unwrap();
    let admin = admin(&mongo).await;
    let store = store(&mongo, "orders", Duration::from_secs(5)).await;
    let function = PostQueue::new("orders", store.clone());
    let records = numbered(0..10);
    for data in [doc! {"errorCode": 91}, doc! {"closeConnection": true}] {
        // Armed for every attempt, so the driver's own retry cannot hide the failure.
        fail_inserts(&admin, "alwaysOn".into(), data.clone()).await;
        let (response, outcome) = function.process(&sqs_event(records.clone())).await.unwrap();
        assert_eq!(failures(&response), all_ids(&records), "{data}");
        assert_eq!(outcome.failed, 10, "{data}");
        disarm(&admin).await;
    }
    // A "shutting down" reply marks the server unknown until the driver's monitor sees it again:
    // the batches in between fail whole, and SQS's redeliveries store them.
    redeliver_until_stored(&function, &records).await;
    assert_eq!(
        store.collection().count_documents(doc! {}).await.unwrap(),
        10
    );
}

/// Delivers `records` again and again, as SQS does with the failures it is told of, until none
/// fails (at most ten receives, each waiting for a server up to the store's timeout).
async fn redeliver_until_stored(function: &PostQueue<MongoStore>, records: &[(String, String)]) {
    let mut pending = records.to_vec();
    for _ in 0..10 {
        let (response, _) = function.process(&sqs_event(pending.clone())).await.unwrap();
        let failed = failures(&response);
        pending.retain(|(id, _)| failed.contains(id));
        if pending.is_empty() {
            return;
        }
    }
    panic!(
        "still not stored after ten receives: {:?}",
        all_ids(&pending)
    );
}

#[tokio::test]
async fn the_store_stopped_during_an_insert_fails_every_record_of_the_batch() {
    let mut mongo = Mongo::start_with_fail_points().unwrap();
    let admin = admin(&mongo).await;
    let store = store(&mongo, "orders", Duration::from_millis(700)).await;
    let function = std::sync::Arc::new(PostQueue::new("orders", store.clone()));
    let records = numbered(0..10);
    // The insert stalls in the server, which is stopped while it holds the batch.
    fail_inserts(
        &admin,
        doc! {"times": 1}.into(),
        doc! {"blockConnection": true, "blockTimeMS": 60_000},
    )
    .await;
    let batch = sqs_event(records.clone());
    let running = tokio::spawn({
        let function = function.clone();
        async move { function.process(&batch).await.unwrap() }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !insert_in_progress(&admin).await {
        assert!(
            std::time::Instant::now() < deadline,
            "the insert never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    mongo.stop();
    let (response, outcome) = running.await.unwrap();
    assert_eq!(failures(&response), all_ids(&records));
    assert_eq!(outcome.failed, 10);

    mongo.restart().unwrap();
    redeliver_until_stored(&function, &records).await;
    assert_eq!(
        store.collection().count_documents(doc! {}).await.unwrap(),
        10
    );
}

/// Whether the server is running an insert of the post-queue function.
async fn insert_in_progress(admin: &mongodb::Database) -> bool {
    let Ok(reply) = admin.run_command(doc! {"currentOp": 1}).await else {
        return false;
    };
    reply
        .get_array("inprog")
        .map(|operations| {
            operations.iter().filter_map(Bson::as_document).any(|op| {
                op.get_str("op") == Ok("insert")
                    && op
                        .get_document("clientMetadata")
                        .and_then(|m| m.get_document("application"))
                        .and_then(|a| a.get_str("name"))
                        == Ok("nami-post-queue")
            })
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn a_delivery_id_received_again_with_another_body_lands_in_the_conflicts_collection() {
    let mongo = Mongo::start().unwrap();
    let store = store(&mongo, "orders", Duration::from_secs(5)).await;
    let function = PostQueue::new("orders", store.clone());
    let original = envelope("evt-1", br#"{"amount":10}"#, "application/json");
    let altered = envelope("evt-1", br#"{"amount":9999}"#, "application/json");
    let batch = [
        ("m1".to_owned(), original.to_message_body()),
        ("m2".to_owned(), original.to_message_body()),
        ("m3".to_owned(), altered.to_message_body()),
    ];
    for _ in 0..2 {
        let (response, _) = function.process(&sqs_event(batch.clone())).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
    }
    let stored = store
        .collection()
        .find_one(doc! {"_id": "evt-1"})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored
            .get_document("body")
            .unwrap()
            .get_str("sha256")
            .unwrap(),
        original.body.sha256
    );
    let conflicts: Vec<Document> = {
        let mut cursor = store.conflicts().find(doc! {}).await.unwrap();
        let mut found = Vec::new();
        while cursor.advance().await.unwrap() {
            found.push(cursor.deserialize_current().unwrap());
        }
        found
    };
    assert_eq!(conflicts.len(), 1, "recorded once across redeliveries");
    let conflict = &conflicts[0];
    assert_eq!(conflict.get_str("delivery_id").unwrap(), "evt-1");
    assert_eq!(
        conflict.get_str("stored_sha256").unwrap(),
        original.body.sha256
    );
    assert_eq!(
        conflict.get_str("received_sha256").unwrap(),
        altered.body.sha256
    );
    assert_eq!(
        conflict
            .get_document("envelope")
            .unwrap()
            .get_document("body")
            .unwrap()
            .get_str("raw")
            .unwrap(),
        r#"{"amount":9999}"#
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
            sha256: body.get_str("sha256").unwrap().to_owned(),
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

#[tokio::test]
async fn a_field_name_with_a_nul_character_is_stored_and_does_not_fail_its_batch() {
    let mongo = Mongo::start().unwrap();
    let store = store(&mongo, "nul_names", Duration::from_secs(5)).await;
    let function = PostQueue::new("orders", store.clone());
    // BSON ends a field name at NUL; a sender's JSON may still hold one.
    let body = br#"{"a\u0000b": 1}"#;
    let mut records = numbered(0..5);
    records.push((
        "m-nul".into(),
        envelope("d-nul", body, "application/json").to_message_body(),
    ));

    let (response, outcome) = function.process(&sqs_event(records.clone())).await.unwrap();
    assert!(failures(&response).is_empty(), "{:?}", failures(&response));
    assert_eq!(outcome.stored, 6);
    let stored = store
        .collection()
        .find_one(doc! { "_id": "d-nul" })
        .await
        .unwrap()
        .expect("stored");
    let body_stored = stored.get_document("body").unwrap();
    assert_eq!(body_stored.get_str("raw").unwrap().as_bytes(), body);
    assert_eq!(
        body_stored
            .get_document("json")
            .unwrap()
            .get_i32("a\u{fffd}b")
            .unwrap(),
        1
    );
}
