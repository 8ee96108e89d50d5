//! The MongoDB adapter of the post-queue function.

use std::time::Duration;

use mongodb::bson::{self, Bson, Document};
use mongodb::error::ErrorKind;
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection};

use crate::envelope::Envelope;
use crate::post_queue::{EnvelopeStore, InsertReport, StoreError};

/// MongoDB's duplicate key error code.
pub const DUPLICATE_KEY: i32 = 11000;

/// The pipeline's collection. One client per process; the driver pools connections.
#[derive(Debug, Clone)]
pub struct MongoStore {
    collection: Collection<Document>,
}

impl MongoStore {
    /// Parses `uri` and prepares a client; the first connection is made by the first insert.
    pub async fn connect(
        uri: &str,
        database: &str,
        collection: &str,
        server_selection_timeout: Duration,
    ) -> Result<Self, mongodb::error::Error> {
        let mut options = ClientOptions::parse(uri).await?;
        options.server_selection_timeout = Some(server_selection_timeout);
        options.connect_timeout = Some(server_selection_timeout.min(Duration::from_secs(10)));
        options
            .app_name
            .get_or_insert_with(|| "nami-post-queue".into());
        let client = Client::with_options(options)?;
        Ok(MongoStore {
            collection: client.database(database).collection(collection),
        })
    }

    /// The collection envelopes are written to.
    pub fn collection(&self) -> &Collection<Document> {
        &self.collection
    }
}

impl EnvelopeStore for MongoStore {
    async fn insert(&self, envelopes: &[Envelope]) -> Result<InsertReport, StoreError> {
        let documents: Vec<Document> = envelopes.iter().map(envelope_document).collect();
        let error = match self.collection.insert_many(documents).ordered(false).await {
            Ok(_) => return Ok(InsertReport::default()),
            Err(error) => error,
        };
        let ErrorKind::InsertMany(insert_error) = error.kind.as_ref() else {
            return Err(StoreError(error.to_string()));
        };
        if insert_error.write_concern_error.is_some() {
            // Written but not acknowledged as durable: report all, retries deduplicate.
            return Err(StoreError(error.to_string()));
        }
        let mut report = InsertReport::default();
        for write_error in insert_error.write_errors.iter().flatten() {
            if write_error.code == DUPLICATE_KEY {
                report.duplicates += 1;
            } else {
                report.failed.push(write_error.index);
            }
        }
        Ok(report)
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
