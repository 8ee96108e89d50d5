//! The MongoDB adapter of the post-queue function.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use mongodb::bson::{self, Document, RawArrayBuf, RawBson, RawBsonRef, RawDocumentBuf, doc};
use mongodb::error::{ErrorKind, InsertManyError};
use mongodb::options::{
    Acknowledgment, ClientOptions, CollectionOptions, ReadConcern, WriteConcern,
};
use mongodb::{Client, Collection, Database};

use nami_contract::limits::conflicts_collection;
use serde::Serialize;
use serde_json::Value;

use crate::envelope::{Body, Envelope, RawEncoding, has_json_view};
use crate::post_queue::{Conflict, EnvelopeStore, InsertReport, StoreError};
use json::Unwritten;

mod json;

/// MongoDB's duplicate key error code.
pub const DUPLICATE_KEY: i32 = 11000;

/// The store cannot be connected to as configured.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The connection string does not parse (or names an unusable option).
    #[error(transparent)]
    Uri(#[from] mongodb::error::Error),
    /// A password is given by ARN, but the connection string names no user to use it for.
    #[error("a password is given, but the connection string names no user")]
    NoUser,
}

/// The pipeline's collection and its conflicts collection. One client per process; the driver
/// pools connections.
#[derive(Debug, Clone)]
pub struct MongoStore {
    database: Database,
    collection: Collection<Document>,
    conflicts: Collection<Document>,
}

impl MongoStore {
    /// Parses `uri` and prepares a client; the first connection is made by the first insert.
    /// `password`, when given, is the password of the user `uri` names (a URI without secrets).
    pub async fn connect(
        uri: &str,
        password: Option<&str>,
        database: &str,
        collection: &str,
        server_selection_timeout: Duration,
    ) -> Result<Self, ConnectError> {
        let mut options = ClientOptions::parse(uri).await?;
        if let Some(password) = password {
            let credential = options.credential.as_mut().filter(|c| c.username.is_some());
            let Some(credential) = credential else {
                return Err(ConnectError::NoUser);
            };
            credential.password = Some(password.to_owned());
        }
        options.server_selection_timeout = Some(server_selection_timeout);
        options.connect_timeout = Some(server_selection_timeout.min(Duration::from_secs(10)));
        options
            .app_name
            .get_or_insert_with(|| "nami-post-queue".into());
        let client = Client::with_options(options)?;
        Ok(MongoStore::in_database(
            client.database(database),
            collection,
        ))
    }

    /// The store writing to `collection` of `database` (conflicts beside it), durably.
    fn in_database(database: Database, collection: &str) -> Self {
        let durable = || {
            CollectionOptions::builder()
                .write_concern(durable_write_concern())
                .read_concern(ReadConcern::majority())
                .build()
        };
        MongoStore {
            collection: database.collection_with_options(collection, durable()),
            conflicts: database
                .collection_with_options(&conflicts_collection(collection), durable()),
            database,
        }
    }

    /// The collection envelopes are written to.
    pub fn collection(&self) -> &Collection<Document> {
        &self.collection
    }

    /// The collection conflicts are recorded in (`<collection>_conflicts`).
    pub fn conflicts(&self) -> &Collection<Document> {
        &self.conflicts
    }

    /// `collection` as written: documents already in BSON form, sent as they are.
    fn written(collection: &Collection<Document>) -> Collection<RawDocumentBuf> {
        collection.clone_with_type()
    }
}

/// Acknowledged once a majority of the replica set has the write in its journal: a batch is
/// reported stored only then. (A duplicate-key error waits for the same concern, so a duplicate is
/// as durable as an insert.)
pub fn durable_write_concern() -> WriteConcern {
    WriteConcern::builder()
        .w(Acknowledgment::Majority)
        .journal(true)
        .build()
}

impl EnvelopeStore for MongoStore {
    type Routed = MongoStore;

    fn routed(&self, name: &str) -> Self {
        MongoStore::in_database(self.database.clone(), name)
    }

    async fn insert(&self, envelopes: &[Envelope]) -> Result<InsertReport, StoreError> {
        // Built one at a time as the driver copies them in, never all held at once.
        let documents = envelopes.iter().map(envelope_document);
        insert_unordered(&Self::written(&self.collection), documents).await
    }

    async fn stored_digests(
        &self,
        ids: &[&str],
    ) -> Result<HashMap<String, Option<String>>, StoreError> {
        let unavailable = |error: mongodb::error::Error| StoreError(error.to_string());
        let mut cursor = self
            .collection
            .find(doc! { "_id": { "$in": ids } })
            .projection(doc! { "body.sha256": 1 })
            .await
            .map_err(unavailable)?;
        let mut digests = HashMap::new();
        while cursor.advance().await.map_err(unavailable)? {
            let document = cursor.deserialize_current().map_err(unavailable)?;
            let Ok(id) = document.get_str("_id") else {
                continue;
            };
            let digest = document
                .get_document("body")
                .ok()
                .and_then(|body| body.get_str("sha256").ok())
                .map(str::to_owned);
            digests.insert(id.to_owned(), digest);
        }
        Ok(digests)
    }

    async fn record_conflicts(
        &self,
        conflicts: &[Conflict<'_>],
    ) -> Result<InsertReport, StoreError> {
        let documents = conflicts.iter().map(conflict_document);
        insert_unordered(&Self::written(&self.conflicts), documents).await
    }
}

/// One unordered, durable insert: duplicates and per-document failures by index; anything that
/// leaves the batch's fate unknown (no server, a lost connection, a write-concern error) fails it
/// whole, and the retry deduplicates what did get written.
async fn insert_unordered<T: Serialize + Send + Sync>(
    collection: &Collection<T>,
    documents: impl IntoIterator<Item = T>,
) -> Result<InsertReport, StoreError> {
    let error = match collection.insert_many(documents).ordered(false).await {
        Ok(_) => return Ok(InsertReport::default()),
        Err(error) => error,
    };
    match error.kind.as_ref() {
        ErrorKind::InsertMany(insert_error) => {
            classify(insert_error).ok_or_else(|| StoreError(error.to_string()))
        }
        _ => Err(StoreError(error.to_string())),
    }
}

/// Sorts a bulk insert's errors; `None` when the whole batch must count as failed.
fn classify(error: &InsertManyError) -> Option<InsertReport> {
    if error.write_concern_error.is_some() {
        // Written, but not acknowledged as durable.
        return None;
    }
    let mut report = InsertReport::default();
    for write_error in error.write_errors.iter().flatten() {
        if write_error.code == DUPLICATE_KEY {
            report.duplicates.push(write_error.index);
        } else {
            report.failed.push(write_error.index);
        }
    }
    Some(report)
}

/// The stored form of a conflict: `_id` = `<delivery id>:<received digest>` (so recording it again
/// is a duplicate), both digests, when it was found, and the envelope received.
pub fn conflict_document(conflict: &Conflict<'_>) -> RawDocumentBuf {
    let envelope = conflict.envelope;
    let mut document = RawDocumentBuf::new();
    document.append_ref(
        "_id",
        format!("{}:{}", envelope.id, envelope.body.sha256).as_str(),
    );
    document.append_ref("delivery_id", envelope.id.as_str());
    document.append_ref("stored_sha256", conflict.stored_sha256);
    document.append_ref("received_sha256", envelope.body.sha256.as_str());
    document.append_ref("detected_at", bson::DateTime::now());
    document.append_ref("envelope", &envelope_document(envelope));
    document
}

/// The stored form of an envelope, written from the envelope straight to BSON: `_id` = delivery
/// id, `received_at` a BSON date, the rest in the envelope's JSON order and shape (numbers as
/// int32/int64 when whole, else double). JSON is taken literally: a webhook's `{"$date": …}` stays
/// an object, as it was sent. A field name BSON cannot hold (one with a NUL character, which only
/// a sender's JSON, form or query can carry) is written with U+FFFD in its place; the exact body
/// stays in `body.raw`.
pub fn envelope_document(envelope: &Envelope) -> RawDocumentBuf {
    let mut document = RawDocumentBuf::new();
    document.append_ref("_id", envelope.id.as_str());
    document.append("version", whole(u64::from(envelope.version)));
    document.append_ref("id_source", envelope.id_source.as_str());
    document.append_ref("pipeline", envelope.pipeline.as_str());
    let received_at = bson::DateTime::from_millis(envelope.received_at.timestamp_millis());
    document.append_ref("received_at", received_at);
    document.append_ref("method", envelope.method.as_str());
    document.append_ref("path", envelope.path.as_str());
    document.append_ref("query", &lists_document(&envelope.query));
    document.append_ref("source_ip", optional(envelope.source_ip.as_deref()));
    let mut headers = RawDocumentBuf::new();
    for (name, value) in &envelope.headers {
        headers.append_ref(field_name(name), value.as_str());
    }
    document.append_ref("headers", &headers);
    document.append_ref("body", &body_document(&envelope.body));
    let mut signature = RawDocumentBuf::new();
    signature.append_ref("scheme", envelope.signature.scheme.as_str());
    signature.append_ref("verified", envelope.signature.verified);
    document.append_ref("signature", &signature);
    if !envelope.fields.is_empty() {
        let mut fields = RawDocumentBuf::new();
        for (key, value) in &envelope.fields {
            append_json(&mut fields, key, value);
        }
        document.append_ref("fields", &fields);
    }
    document
}

fn body_document(body: &Body) -> RawDocumentBuf {
    let mut document = RawDocumentBuf::new();
    document.append_ref("content_type", optional(body.content_type.as_deref()));
    document.append("size", whole(body.size as u64));
    document.append_ref("sha256", body.sha256.as_str());
    let encoding = match body.encoding {
        RawEncoding::Utf8 => "utf8",
        RawEncoding::Base64 => "base64",
    };
    document.append_ref("encoding", encoding);
    document.append_ref("raw", body.raw.as_str());
    match &body.json {
        Some(json) => append_json(&mut document, "json", json),
        None => document = append_json_text(document, "json", body),
    }
    if let Some(form) = &body.form {
        document.append_ref("form", &lists_document(form));
    }
    document
}

/// Appends the JSON view of `body` (when it has one, see [`has_json_view`]) under `key`, written
/// from its raw text as [`append_json`] writes the parsed tree. A body that is not JSON gets no
/// view; one whose objects repeat a field name is parsed into a tree first (see [`Unwritten`]).
fn append_json_text(document: RawDocumentBuf, key: &str, body: &Body) -> RawDocumentBuf {
    let Ok(bytes) = body.raw_bytes() else {
        return document;
    };
    if !has_json_view(&bytes, body.content_type.as_deref()) {
        return document;
    }
    let mut elements = document.into_bytes();
    elements.pop(); // the document's final NUL, written again below
    let element_at = elements.len();
    elements.push(0);
    json::write_field_name(&mut elements, key);
    let written = json::write_json(&bytes, &mut elements);
    match written {
        Ok(element) => elements[element_at] = element as u8,
        Err(_) => elements.truncate(element_at),
    }
    elements.push(0);
    let mut document = RawDocumentBuf::from_bytes(closed(elements)).expect("written whole");
    if written == Err(Unwritten::RepeatedName)
        && let Ok(tree) = serde_json::from_slice::<Value>(&bytes)
    {
        append_json(&mut document, key, &tree);
    }
    document
}

/// `bytes` (a document's elements and its final NUL after a length placeholder) with its length.
fn closed(mut bytes: Vec<u8>) -> Vec<u8> {
    let length = i32::try_from(bytes.len()).expect("a document is far below 2 GiB");
    bytes[..4].copy_from_slice(&length.to_le_bytes());
    bytes
}

/// Repeated values by name (query parameters, form fields): a document of string arrays.
fn lists_document(lists: &BTreeMap<String, Vec<String>>) -> RawDocumentBuf {
    let mut document = RawDocumentBuf::new();
    for (name, values) in lists {
        let mut array = RawArrayBuf::new();
        for value in values {
            array.push(value.as_str());
        }
        document.append_ref(field_name(name), &array);
    }
    document
}

/// Appends JSON `value` under `key`, literally.
fn append_json(document: &mut RawDocumentBuf, key: &str, value: &Value) {
    let key = field_name(key);
    match value {
        Value::Object(fields) => document.append_ref(key, &json_document(fields)),
        Value::Array(items) => document.append_ref(key, &json_array(items)),
        Value::String(text) => document.append_ref(key, text.as_str()),
        scalar => document.append_ref(key, json_scalar(scalar).as_raw_bson_ref()),
    }
}

fn json_document(fields: &serde_json::Map<String, Value>) -> RawDocumentBuf {
    let mut document = RawDocumentBuf::new();
    for (key, value) in fields {
        append_json(&mut document, key, value);
    }
    document
}

fn json_array(items: &[Value]) -> RawArrayBuf {
    let mut array = RawArrayBuf::new();
    for item in items {
        match item {
            Value::Object(fields) => array.push(json_document(fields)),
            Value::Array(items) => array.push(json_array(items)),
            Value::String(text) => array.push(text.as_str()),
            scalar => array.push(json_scalar(scalar)),
        }
    }
    array
}

/// A JSON null, boolean or number: integers as int32 when they fit, else int64; other numbers as
/// doubles (a number beyond all three, possible only with arbitrary precision, as its text).
fn json_scalar(value: &Value) -> RawBson {
    match value {
        Value::Bool(flag) => RawBson::Boolean(*flag),
        Value::Number(number) => match (number.as_i64(), number.as_f64()) {
            (Some(integer), _) => integer_bson(integer),
            (None, Some(float)) => RawBson::Double(float),
            (None, None) => RawBson::String(number.to_string()),
        },
        _ => RawBson::Null,
    }
}

fn integer_bson(integer: i64) -> RawBson {
    i32::try_from(integer).map_or(RawBson::Int64(integer), RawBson::Int32)
}

/// A count, as JSON's numbers are written: an integer while it is one, else a double.
fn whole(count: u64) -> RawBson {
    i64::try_from(count).map_or(RawBson::Double(count as f64), integer_bson)
}

fn optional(text: Option<&str>) -> RawBsonRef<'_> {
    text.map_or(RawBsonRef::Null, RawBsonRef::String)
}

/// `name` as a BSON field name: a NUL character (which ends a field name in BSON) as U+FFFD.
fn field_name(name: &str) -> Cow<'_, str> {
    if name.contains('\0') {
        Cow::Owned(name.replace('\0', "\u{fffd}"))
    } else {
        Cow::Borrowed(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use mongodb::bson::Bson;
    use nami_contract::envelope::{ENVELOPE_VERSION, SignatureCheck};
    use serde_json::json;

    fn envelope(body: &[u8], content_type: Option<&str>) -> Envelope {
        Envelope {
            version: ENVELOPE_VERSION,
            id: "d-1".into(),
            id_source: "header:x-github-delivery".into(),
            pipeline: "orders".into(),
            received_at: DateTime::from_timestamp_millis(1_763_900_000_123).unwrap(),
            method: "POST".into(),
            path: "/webhook".into(),
            query: BTreeMap::from([
                ("a".into(), vec!["1".into(), "2".into()]),
                ("b".into(), vec![String::new()]),
            ]),
            source_ip: Some("203.0.113.9".into()),
            headers: BTreeMap::from([
                (
                    "content-type".into(),
                    content_type.unwrap_or_default().into(),
                ),
                ("x-github-event".into(), "push".into()),
            ]),
            body: Body::new(body, content_type),
            signature: SignatureCheck {
                scheme: "github".into(),
                verified: true,
            },
            fields: Default::default(),
        }
    }

    /// The stored form as it was first defined: the envelope's JSON converted to BSON.
    fn through_json(envelope: &Envelope) -> Document {
        let value = serde_json::to_value(envelope).unwrap();
        let Bson::Document(mut fields) = json_to_bson(value) else {
            unreachable!()
        };
        fields.remove("id");
        fields.insert(
            "received_at",
            bson::DateTime::from_millis(envelope.received_at.timestamp_millis()),
        );
        let mut document = doc! { "_id": envelope.id.clone() };
        document.extend(fields);
        document
    }

    fn json_to_bson(value: Value) -> Bson {
        match value {
            Value::Null => Bson::Null,
            Value::Bool(b) => Bson::Boolean(b),
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => i32::try_from(i).map_or(Bson::Int64(i), Bson::Int32),
                (None, Some(f)) => Bson::Double(f),
                (None, None) => Bson::String(n.to_string()),
            },
            Value::String(s) => Bson::String(s),
            Value::Array(items) => Bson::Array(items.into_iter().map(json_to_bson).collect()),
            Value::Object(map) => {
                Bson::Document(map.into_iter().map(|(k, v)| (k, json_to_bson(v))).collect())
            }
        }
    }

    #[test]
    fn an_envelope_is_stored_byte_for_byte_as_its_json_converted_to_bson() {
        let json = json!({
            "$date": "x", "small": 1, "negative": -7, "big": 5_000_000_000i64, "huge": u64::MAX,
            "f": 1.5, "null": null, "yes": true,
            "nested": {"list": [1, "two", {"three": [3.0, null]}, [], {}], "empty": ""},
            "z": 0, "a": "order kept as sent"
        });
        let json = json.to_string();
        let bodies: [(&[u8], Option<&str>); 5] = [
            (json.as_bytes(), Some("application/json")),
            (br#"[1,{"k":"v"}]"#, None),
            (
                b"a=1&a=2&b=%E2%9C%93",
                Some("application/x-www-form-urlencoded"),
            ),
            (b"\xff\xfe not text", Some("application/octet-stream")),
            (b"plain", None),
        ];
        for (body, content_type) in bodies {
            let mut envelope = envelope(body, content_type);
            let expected = bson::to_vec(&through_json(&envelope)).unwrap();
            assert_eq!(
                envelope_document(&envelope).as_bytes(),
                expected,
                "{body:?}"
            );
            envelope.source_ip = None;
            envelope.query.clear();
            let expected = bson::to_vec(&through_json(&envelope)).unwrap();
            assert_eq!(
                envelope_document(&envelope).as_bytes(),
                expected,
                "{body:?}"
            );
            // Fields a hook added.
            envelope.fields = BTreeMap::from([
                ("team".to_owned(), json!("payments")),
                ("score".to_owned(), json!({"n": 3, "tags": ["a", null]})),
            ]);
            let expected = bson::to_vec(&through_json(&envelope)).unwrap();
            assert_eq!(
                envelope_document(&envelope).as_bytes(),
                expected,
                "{body:?}"
            );
        }
    }

    #[test]
    fn json_is_stored_literally() {
        let envelope = envelope(
            br#"{"$date": "x", "big": 5000000000, "huge": 18446744073709551615, "f": 1.5}"#,
            Some("application/json"),
        );
        let stored = envelope_document(&envelope).to_document().unwrap();
        let json = stored
            .get_document("body")
            .unwrap()
            .get_document("json")
            .unwrap();
        assert_eq!(json.get_str("$date").unwrap(), "x");
        assert_eq!(json.get_i64("big").unwrap(), 5_000_000_000);
        assert_eq!(json.get_f64("huge").unwrap(), u64::MAX as f64);
        assert_eq!(json.get_f64("f").unwrap(), 1.5);
        assert_eq!(
            stored
                .get_datetime("received_at")
                .unwrap()
                .timestamp_millis(),
            1_763_900_000_123
        );
    }

    #[test]
    fn a_field_name_with_a_nul_character_is_stored_with_a_replacement_character() {
        // BSON ends a field name at NUL: such a name cannot be written as sent.
        let body = br#"{"a\u0000b": {"c\u0000": 1}}"#;
        let mut envelope = envelope(body, Some("application/json"));
        envelope.query.insert("q\0".into(), vec!["v".into()]);
        assert!(bson::to_vec(&through_json(&envelope)).is_err());
        let stored = envelope_document(&envelope).to_document().unwrap();
        let json = stored
            .get_document("body")
            .unwrap()
            .get_document("json")
            .unwrap();
        assert_eq!(
            json.get_document("a\u{fffd}b")
                .unwrap()
                .get_i32("c\u{fffd}")
                .unwrap(),
            1
        );
        assert!(
            stored
                .get_document("query")
                .unwrap()
                .contains_key("q\u{fffd}")
        );
        let raw = stored.get_document("body").unwrap().get_str("raw").unwrap();
        assert_eq!(raw.as_bytes(), body, "the exact body is kept");
    }

    #[test]
    fn json_written_from_the_raw_text_is_the_parsed_tree_written() {
        let many_fields: String = (0..40).map(|n| format!(r#""f{n}":{n},"#)).collect();
        let deep = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let bodies: Vec<(String, Option<&str>)> = vec![
            (r#"{"a":{"b":[1,"two",{"c":[3.0,null,true,false]},[],{}]},"e":""}"#.into(), Some("application/json")),
            (r#" { "k\"ey" : "v\\a\/l\u00e9\ud83d\ude00\n" , "\u0041" : 1 } "#.into(), Some("application/json; charset=utf-8")),
            (r#"[0,-0,-0.0,1e2,1E-2,2147483647,2147483648,-2147483648,-2147483649,9223372036854775807,-9223372036854775808,9223372036854775808,18446744073709551615,123456789012345678901234567890,1e308,-1.5e-300]"#.into(), Some("application/vnd.api+json")),
            (format!("[{}]", (0..25).map(|n| n.to_string()).collect::<Vec<_>>().join(",")), None),
            (r#"{"a\u0000b":{"c\u0000":1},"a\ufffdb":2}"#.into(), Some("application/json")),
            (r#"{"a":1,"b":{"x":1,"y":2,"x":3},"a":{"z":[1]}}"#.into(), Some("application/json")),
            (format!(r#"{{{many_fields}"f7":"again"}}"#), Some("application/json")),
            (format!(r#"{{{many_fields}"last":0}}"#), Some("application/json")),
            (deep(100), Some("application/json")),
            (deep(200), Some("application/json")),
            ("123".into(), Some("application/json")),
            (r#""text""#.into(), Some("application/json")),
            ("null".into(), Some("application/json")),
            ("true".into(), Some("application/json")),
            ("{".into(), Some("application/json")),
            ("{}x".into(), Some("application/json")),
            ("[1,]".into(), Some("application/json")),
            ("{\"a\":1}".into(), Some("text/plain")),
            ("  {\"sniffed\":[]}".into(), None),
            ("123".into(), None),
        ];
        for (body, content_type) in &bodies {
            let parsed = envelope(body.as_bytes(), *content_type);
            let mut unparsed = parsed.clone();
            unparsed.body.json = None;
            assert_eq!(
                envelope_document(&unparsed).as_bytes(),
                envelope_document(&parsed).as_bytes(),
                "{body} ({content_type:?})"
            );
            let read = Envelope::from_message_body_without_json(&parsed.to_message_body()).unwrap();
            assert!(read.body.json.is_none());
            assert_eq!(
                envelope_document(&read).as_bytes(),
                envelope_document(&parsed).as_bytes(),
                "{body} ({content_type:?}), read from the queue"
            );
        }
        // Not UTF-8 inside a JSON string: no view either way.
        let parsed = envelope(b"{\"a\":\"\xff\"}", Some("application/json"));
        let mut unparsed = parsed.clone();
        unparsed.body.json = None;
        assert_eq!(
            envelope_document(&unparsed).as_bytes(),
            envelope_document(&parsed).as_bytes()
        );
    }
}
