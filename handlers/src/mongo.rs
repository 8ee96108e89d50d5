//! The MongoDB adapter of the post-queue function.

use std::collections::HashMap;
use std::time::Duration;

use mongodb::bson::{self, Bson, Document, doc};
use mongodb::error::{ErrorKind, InsertManyError};
use mongodb::options::{
    Acknowledgment, ClientOptions, CollectionOptions, ReadConcern, WriteConcern,
};
use mongodb::{Client, Collection};

use nami_contract::limits::conflicts_collection;

use crate::envelope::Envelope;
use crate::post_queue::{Conflict, EnvelopeStore, InsertReport, StoreError};

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
        let database = client.database(database);
        let durable = || {
            CollectionOptions::builder()
                .write_concern(durable_write_concern())
                .read_concern(ReadConcern::majority())
                .build()
        };
        Ok(MongoStore {
            collection: database.collection_with_options(collection, durable()),
            conflicts: database
                .collection_with_options(&conflicts_collection(collection), durable()),
        })
    }

    /// The collection envelopes are written to.
    pub fn collection(&self) -> &Collection<Document> {
        &self.collection
    }

    /// The collection conflicts are recorded in (`<collection>_conflicts`).
    pub fn conflicts(&self) -> &Collection<Document> {
        &self.conflicts
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
    async fn insert(&self, envelopes: &[Envelope]) -> Result<InsertReport, StoreError> {
        let documents: Vec<Document> = envelopes.iter().map(envelope_document).collect();
        insert_unordered(&self.collection, documents).await
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
        let documents: Vec<Document> = conflicts.iter().map(conflict_document).collect();
        insert_unordered(&self.conflicts, documents).await
    }
}

/// One unordered, durable insert: duplicates and per-document failures by index; anything that
/// leaves the batch's fate unknown (no server, a lost connection, a write-concern error) fails it
/// whole, and the retry deduplicates what did get written.
async fn insert_unordered(
    collection: &Collection<Document>,
    documents: Vec<Document>,
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
pub fn conflict_document(conflict: &Conflict<'_>) -> Document {
    let envelope = conflict.envelope;
    doc! {
        "_id": format!("{}:{}", envelope.id, envelope.body.sha256),
        "delivery_id": &envelope.id,
        "stored_sha256": conflict.stored_sha256,
        "received_sha256": &envelope.body.sha256,
        "detected_at": bson::DateTime::now(),
        "envelope": envelope_document(envelope),
    }
}

/// The stored form of an envelope: `_id` = delivery id, `received_at` a BSON date, the rest as in
/// the envelope's JSON (numbers as int32/int64 when whole, else double).
pub fn envelope_document(envelope: &Envelope) -> Document {
    let value = serde_json::to_value(envelope).expect("an envelope always serializes");
    let Bson::Document(mut fields) = json_to_bson(value) else {
        unreachable!("an envelope serializes to a JSON object")
    };
    fields.remove("id");
    fields.insert(
        "received_at",
        bson::DateTime::from_millis(envelope.received_at.timestamp_millis()),
    );
    let mut document = Document::new();
    document.insert("_id", envelope.id.clone());
    document.extend(fields);
    document
}

/// Converts JSON to BSON literally (no Extended JSON interpretation: a webhook's `{"$date": …}`
/// stays an object, as it was sent).
pub fn json_to_bson(value: serde_json::Value) -> Bson {
    use serde_json::Value;
    match value {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i32::try_from(i).map(Bson::Int32).unwrap_or(Bson::Int64(i)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_converts_literally() {
        let bson = json_to_bson(
            json!({"$date": "x", "small": 1, "big": 5_000_000_000i64, "huge": u64::MAX, "f": 1.5}),
        );
        let doc = bson.as_document().unwrap();
        assert_eq!(doc.get_str("$date").unwrap(), "x");
        assert_eq!(doc.get_i32("small").unwrap(), 1);
        assert_eq!(doc.get_i64("big").unwrap(), 5_000_000_000);
        assert_eq!(doc.get_f64("huge").unwrap(), u64::MAX as f64);
        assert_eq!(doc.get_f64("f").unwrap(), 1.5);
    }
}
