//! The post-queue function: store a batch of envelopes, report exactly what was not stored.
//!
//! Every record that is not certainly stored is returned in `batchItemFailures`, so SQS makes it
//! visible again and, after `maxReceiveCount` receives, moves it to the dead-letter queue.
//! A duplicate delivery id with the same body digest means the envelope is already stored: that
//! counts as success. A duplicate id with another body is a conflict: it is recorded beside the
//! collection (`<collection>_conflicts`), and only then acknowledged.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;

use nami_contract::limits::MONGODB_TIMEOUT_MS;
use nami_contract::metrics::{self, Metric};

use crate::config::{ConfigError, Settings, vars};
use crate::envelope::Envelope;
use crate::hooks::{BeforeStore, Destination, NoHooks, invalid_collection};
use crate::secrets::SecretSource;

/// Default database name (the contract's).
pub const DEFAULT_DATABASE: &str = nami_contract::limits::DEFAULT_DATABASE;
/// Default server-selection timeout: a dead store fails a batch in seconds, not at the function timeout.
pub const DEFAULT_MONGODB_TIMEOUT_MS: u64 = MONGODB_TIMEOUT_MS.default.unsigned_abs();

/// Writes envelopes to the store. Every write is acknowledged only once it is durable (the
/// MongoDB adapter asks for write concern `majority` with journaling).
pub trait EnvelopeStore {
    /// The same store writing to collection `name` of the same database (and recording its
    /// conflicts beside it): where custom logic routes envelopes (see [`crate::hooks`]).
    fn routed(&self, name: &str) -> Self::Routed;

    /// What [`EnvelopeStore::routed`] gives.
    type Routed: EnvelopeStore + Send + Sync;

    /// Inserts all envelopes unordered, `_id` = delivery id.
    fn insert(
        &self,
        envelopes: &[Envelope],
    ) -> impl Future<Output = Result<InsertReport, StoreError>> + Send;

    /// The body digests of the stored envelopes among `ids`: an id that is not stored is absent;
    /// a stored envelope without a digest (stored before digests existed) maps to `None`.
    fn stored_digests(
        &self,
        ids: &[&str],
    ) -> impl Future<Output = Result<HashMap<String, Option<String>>, StoreError>> + Send;

    /// Records conflicts, one per (delivery id, received digest): recording one again is a
    /// duplicate, which is success.
    fn record_conflicts(
        &self,
        conflicts: &[Conflict<'_>],
    ) -> impl Future<Output = Result<InsertReport, StoreError>> + Send;
}

/// What one unordered insert did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InsertReport {
    /// Indexes (into the slice given) of items that failed for a reason other than a duplicate id.
    pub failed: Vec<usize>,
    /// Indexes of items whose id was already stored (duplicate key).
    pub duplicates: Vec<usize>,
}

/// A delivery id received again with a body other than the one stored under it.
#[derive(Debug, Clone, Copy)]
pub struct Conflict<'a> {
    /// The envelope received now (its body digest is the received one).
    pub envelope: &'a Envelope,
    /// The digest of the body stored under the same id.
    pub stored_sha256: &'a str,
}

/// The store could not be written at all: every envelope of the batch counts as failed.
#[derive(Debug, thiserror::Error)]
#[error("store unavailable: {0}")]
pub struct StoreError(pub String);

/// The batch itself is malformed (a record without a message id cannot be reported alone).
#[derive(Debug, thiserror::Error)]
#[error("SQS record {0} has no messageId; the whole batch is retried")]
pub struct BatchError(usize);

/// How much message body one slice of a batch holds, at most (a record larger than this is a
/// slice of its own). A slice is read, converted and inserted before the next is read, so the
/// function holds one slice's envelopes and insert at a time, whatever the batch size (the
/// MongoDB driver holds an insert's documents about three times over: its copy, the command's,
/// the message's). A 100-record batch of 2 KB webhooks is one insert; a 1,000-record one, six.
pub const SLICE_BODY_BYTES: usize = 512 << 10;

/// An SQS event as the post-queue function reads it: each record's message id and body. The
/// rest of each record (receipt handle, attributes, digests, source) is skipped while parsing,
/// never built.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueueBatch {
    /// The batch's messages, in the order SQS delivered them.
    #[serde(rename = "Records", default)]
    pub records: Vec<QueueRecord>,
}

/// One message of a [`QueueBatch`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueueRecord {
    /// The message id: what a failure is reported by.
    #[serde(rename = "messageId", default)]
    pub message_id: Option<String>,
    /// The message body: an envelope, as the pre-queue function wrote it.
    #[serde(default)]
    pub body: Option<String>,
}

impl QueueRecord {
    /// The record with message id `message_id` and `body`.
    pub fn new(message_id: impl Into<String>, body: impl Into<String>) -> Self {
        QueueRecord {
            message_id: Some(message_id.into()),
            body: Some(body.into()),
        }
    }
}

impl From<SqsEvent> for QueueBatch {
    fn from(event: SqsEvent) -> Self {
        let records = event.records.into_iter();
        QueueBatch {
            records: records
                .map(|message| QueueRecord {
                    message_id: message.message_id,
                    body: message.body,
                })
                .collect(),
        }
    }
}

/// Consecutive ranges of `records`, each holding at most `budget` bytes of message body (or one
/// record, if it alone is larger).
fn slices(records: &[QueueRecord], budget: usize) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (index, record) in records.iter().enumerate() {
        let size = record.body.as_ref().map_or(0, String::len);
        if index > start && bytes + size > budget {
            ranges.push(start..index);
            (start, bytes) = (index, 0);
        }
        bytes += size;
    }
    if start < records.len() {
        ranges.push(start..records.len());
    }
    ranges
}

/// What the post-queue function is configured with.
#[derive(Debug, Clone)]
pub struct PostQueueSettings {
    /// The pipeline's name.
    pub pipeline: String,
    /// The store's connection string, by value or by ARN.
    pub mongodb_uri: SecretSource,
    /// The password of the user the URI names, by ARN (the URI then carries none).
    pub mongodb_password: Option<SecretSource>,
    /// Database name.
    pub database: String,
    /// Collection name.
    pub collection: String,
    /// How long to wait for a usable server before failing the batch.
    pub server_selection_timeout: Duration,
}

impl PostQueueSettings {
    /// Reads the settings; the MongoDB URI is required (by value or by ARN).
    pub fn read<F: Fn(&str) -> Option<String>>(
        settings: &Settings<F>,
    ) -> Result<Self, ConfigError> {
        let pipeline = settings.required(vars::PIPELINE)?;
        let mongodb_uri = settings
            .secret(vars::MONGODB_URI, vars::MONGODB_URI_SECRET_ARN)?
            .ok_or(ConfigError::Missing(vars::MONGODB_URI))?;
        let timeout_ms = settings.number(
            vars::MONGODB_TIMEOUT_MS,
            DEFAULT_MONGODB_TIMEOUT_MS,
            MONGODB_TIMEOUT_MS.min.unsigned_abs()..=MONGODB_TIMEOUT_MS.max.unsigned_abs(),
        )?;
        Ok(PostQueueSettings {
            database: settings
                .optional(vars::MONGODB_DATABASE)
                .unwrap_or_else(|| DEFAULT_DATABASE.into()),
            collection: settings
                .optional(vars::MONGODB_COLLECTION)
                .unwrap_or_else(|| pipeline.clone()),
            pipeline,
            mongodb_uri,
            mongodb_password: settings.secret_arn(vars::MONGODB_PASSWORD_SECRET_ARN)?,
            server_selection_timeout: Duration::from_millis(timeout_ms),
        })
    }
}

/// The post-queue function around its store.
#[derive(Debug)]
pub struct PostQueue<S> {
    pipeline: String,
    store: S,
    hook: StoreHook,
}

/// The custom logic run before storing ([`NoHooks`] by default).
struct StoreHook(Arc<dyn BeforeStore>);

impl std::fmt::Debug for StoreHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreHook")
    }
}

/// Counts of one batch, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Records in the batch.
    pub received: usize,
    /// Records inserted.
    pub stored: usize,
    /// Records already stored with the same body (a redelivery): success.
    pub duplicates: usize,
    /// Records whose delivery id is stored with another body, recorded as conflicts.
    pub conflicts: usize,
    /// Records that are not envelopes (reported failed, so they reach the DLQ).
    pub unparseable: usize,
    /// Records that could not be stored (reported failed, so SQS retries them).
    pub failed: usize,
    /// How long the batch's inserts took, summed over its slices (`None` when there was nothing
    /// to insert).
    pub insert_latency: Option<Duration>,
}

impl BatchOutcome {
    /// The batch's metrics: every count, and the insert's latency when there was one.
    pub fn metric_values(&self) -> Vec<(Metric, f64)> {
        let mut values = vec![
            (metrics::BATCH_SIZE, self.received as f64),
            (metrics::STORED, self.stored as f64),
            (metrics::DUPLICATES, self.duplicates as f64),
            (metrics::CONFLICTS, self.conflicts as f64),
            (metrics::UNPARSEABLE, self.unparseable as f64),
            (
                metrics::FAILED_RECORDS,
                (self.failed + self.unparseable) as f64,
            ),
        ];
        if let Some(latency) = self.insert_latency {
            values.push((metrics::INSERT_LATENCY, latency.as_secs_f64() * 1000.0));
        }
        values
    }
}

impl<S: EnvelopeStore> PostQueue<S> {
    /// The function for `pipeline`, writing to `store`.
    pub fn new(pipeline: impl Into<String>, store: S) -> Self {
        PostQueue {
            pipeline: pipeline.into(),
            store,
            hook: StoreHook(Arc::new(NoHooks)),
        }
    }

    /// The same function, running `hook` on each envelope before storing it.
    pub fn with_hook(mut self, hook: impl BeforeStore + 'static) -> Self {
        self.hook = StoreHook(Arc::new(hook));
        self
    }

    /// Lambda entry point.
    pub async fn handle_event(
        &self,
        event: LambdaEvent<QueueBatch>,
    ) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        Ok(self.process(&event.payload).await?.0)
    }

    /// Stores a batch; returns the failures to report and the counts.
    ///
    /// The batch is stored a slice at a time (see [`SLICE_BODY_BYTES`]): a slice's envelopes, its
    /// documents and its insert are dropped before the next slice is read.
    pub async fn process(
        &self,
        event: &QueueBatch,
    ) -> Result<(SqsBatchResponse, BatchOutcome), BatchError> {
        // A record without a message id cannot be reported alone: the whole batch is retried,
        // before any of it is stored.
        let message_ids = (event.records.iter().enumerate())
            .map(|(index, record)| {
                (record.message_id.as_deref())
                    .filter(|id| !id.is_empty())
                    .ok_or(BatchError(index))
            })
            .collect::<Result<Vec<&str>, BatchError>>()?;
        let mut failures = Vec::new();
        let mut outcome = BatchOutcome {
            received: event.records.len(),
            ..BatchOutcome::default()
        };
        for range in slices(&event.records, SLICE_BODY_BYTES) {
            let records = event.records[range.clone()].iter();
            let slice = records.zip(&message_ids[range]);
            self.store_slice(slice, &mut outcome, &mut failures).await;
        }

        tracing::info!(
            pipeline = %self.pipeline,
            received = outcome.received,
            stored = outcome.stored,
            duplicates = outcome.duplicates,
            conflicts = outcome.conflicts,
            unparseable = outcome.unparseable,
            failed = outcome.failed,
            "batch processed"
        );
        crate::logging::record_metrics(&self.pipeline, &outcome.metric_values());
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failures
            .into_iter()
            .map(|item_identifier| {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = item_identifier.to_owned();
                failure
            })
            .collect();
        Ok((response, outcome))
    }

    /// Reads, routes and stores one slice of a batch; counts what happened and adds the message
    /// ids of the records not certainly stored to `failures`.
    async fn store_slice<'a>(
        &self,
        records: impl Iterator<Item = (&'a QueueRecord, &'a &'a str)>,
        outcome: &mut BatchOutcome,
        failures: &mut Vec<&'a str>,
    ) {
        let mut envelopes = Vec::new();
        let mut envelope_message_ids = Vec::new();
        for (record, &message_id) in records {
            match (record.body.as_deref()).map(Envelope::from_message_body_without_json) {
                Some(Ok(envelope)) => {
                    envelopes.push(envelope);
                    envelope_message_ids.push(message_id);
                }
                Some(Err(error)) => {
                    tracing::error!(pipeline = %self.pipeline, message_id = %message_id, outcome = "unparseable", error = %error);
                    outcome.unparseable += 1;
                    failures.push(message_id);
                }
                None => {
                    tracing::error!(pipeline = %self.pipeline, message_id = %message_id, outcome = "unparseable", error = "no body");
                    outcome.unparseable += 1;
                    failures.push(message_id);
                }
            }
        }

        // Custom logic, then each destination's envelopes stored together (moved, not copied).
        let mut routes: BTreeMap<Option<String>, (Vec<usize>, Vec<Envelope>)> = BTreeMap::new();
        for (index, mut envelope) in envelopes.into_iter().enumerate() {
            let collection = match self.hook.0.before_store(&mut envelope) {
                Destination::Configured => None,
                Destination::Collection(name) => match invalid_collection(&name) {
                    None => Some(name),
                    Some(why) => {
                        tracing::error!(pipeline = %self.pipeline, delivery_id = %envelope.id, outcome = "store_failed", error = %format!("custom logic chose the collection {name:?}, which MongoDB cannot hold: {why}"));
                        outcome.failed += 1;
                        failures.push(envelope_message_ids[index]);
                        continue;
                    }
                },
            };
            let (indexes, group) = routes.entry(collection).or_default();
            indexes.push(index);
            group.push(envelope);
        }
        for (collection, (indexes, group)) in routes {
            let failed = match &collection {
                None => self.store_envelopes(&self.store, &group, outcome).await,
                Some(name) => {
                    let routed = self.store.routed(name);
                    self.store_envelopes(&routed, &group, outcome).await
                }
            };
            for position in failed {
                failures.push(envelope_message_ids[indexes[position]]);
            }
        }
    }

    /// Stores the envelopes; counts what happened and returns the indexes not certainly stored.
    async fn store_envelopes<T: EnvelopeStore>(
        &self,
        store: &T,
        envelopes: &[Envelope],
        outcome: &mut BatchOutcome,
    ) -> Vec<usize> {
        if envelopes.is_empty() {
            return Vec::new();
        }
        let started = std::time::Instant::now();
        let inserted = store.insert(envelopes).await;
        *outcome.insert_latency.get_or_insert_default() += started.elapsed();
        let report = match inserted {
            Ok(report) => report,
            Err(error) => {
                tracing::error!(pipeline = %self.pipeline, outcome = "store_unavailable", count = envelopes.len(), error = %error);
                outcome.failed += envelopes.len();
                return (0..envelopes.len()).collect();
            }
        };
        let mut failed = report.failed;
        for &index in &failed {
            tracing::error!(pipeline = %self.pipeline, delivery_id = %envelopes[index].id, outcome = "store_failed");
        }
        let judged = self
            .judge_duplicates(store, envelopes, &report.duplicates)
            .await;
        failed.extend(judged.failed);
        let unrecorded = self
            .record_conflicts(store, envelopes, &judged.conflicts)
            .await;
        let conflicts = judged.conflicts.len() - unrecorded.len();
        failed.extend(unrecorded);
        outcome.conflicts += conflicts;
        outcome.duplicates += judged.duplicates;
        outcome.failed += failed.len();
        outcome.stored += envelopes.len() - failed.len() - judged.duplicates - conflicts;
        failed
    }

    /// Compares each duplicate's body digest with the stored one.
    async fn judge_duplicates<T: EnvelopeStore>(
        &self,
        store: &T,
        envelopes: &[Envelope],
        duplicates: &[usize],
    ) -> Judged {
        let mut judged = Judged::default();
        if duplicates.is_empty() {
            return judged;
        }
        let ids: Vec<&str> = duplicates
            .iter()
            .map(|&index| envelopes[index].id.as_str())
            .collect();
        let stored = match store.stored_digests(&ids).await {
            Ok(stored) => stored,
            Err(error) => {
                tracing::error!(pipeline = %self.pipeline, outcome = "store_unavailable", count = duplicates.len(), error = %error);
                judged.failed = duplicates.to_vec();
                return judged;
            }
        };
        for &index in duplicates {
            let envelope = &envelopes[index];
            match stored.get(&envelope.id) {
                // Reported as a duplicate, yet not found: not certainly stored, so retried.
                None => {
                    tracing::error!(pipeline = %self.pipeline, delivery_id = %envelope.id, outcome = "store_failed", error = "duplicate key reported but no document found");
                    judged.failed.push(index);
                }
                // Stored before envelopes carried a digest: nothing to compare with.
                Some(None) => judged.duplicates += 1,
                Some(Some(digest)) if *digest == envelope.body.sha256 => judged.duplicates += 1,
                Some(Some(digest)) => judged.conflicts.push((index, digest.clone())),
            }
        }
        judged
    }

    /// Records conflicts; returns the indexes of those not recorded.
    async fn record_conflicts<T: EnvelopeStore>(
        &self,
        store: &T,
        envelopes: &[Envelope],
        conflicts: &[(usize, String)],
    ) -> Vec<usize> {
        if conflicts.is_empty() {
            return Vec::new();
        }
        let records: Vec<Conflict<'_>> = conflicts
            .iter()
            .map(|(index, stored_sha256)| Conflict {
                envelope: &envelopes[*index],
                stored_sha256,
            })
            .collect();
        let unrecorded: Vec<usize> = match store.record_conflicts(&records).await {
            Ok(report) => report.failed,
            Err(error) => {
                tracing::error!(pipeline = %self.pipeline, outcome = "store_unavailable", count = conflicts.len(), error = %error);
                (0..conflicts.len()).collect()
            }
        };
        for (position, record) in records.iter().enumerate() {
            let recorded = !unrecorded.contains(&position);
            tracing::warn!(
                pipeline = %self.pipeline,
                delivery_id = %record.envelope.id,
                outcome = if recorded { "conflict" } else { "store_failed" },
                stored_sha256 = %record.stored_sha256,
                received_sha256 = %record.envelope.body.sha256,
                "delivery id received again with another body"
            );
        }
        unrecorded
            .into_iter()
            .map(|position| conflicts[position].0)
            .collect()
    }
}

/// Duplicates sorted by their body digest.
#[derive(Debug, Default)]
struct Judged {
    /// Same body as stored (or stored without a digest): success.
    duplicates: usize,
    /// Index and stored digest of each duplicate whose body differs.
    conflicts: Vec<(usize, String)>,
    /// Indexes that cannot be judged now (the store failed): retried.
    failed: Vec<usize>,
}

#[cfg(test)]
mod tests {
    //! The batch decision against an in-memory store that fails chosen records in chosen ways.
    //! (The MongoDB adapter's own classification is tested against a real server in tests/it.)

    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Mutex;

    use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
    use chrono::DateTime;

    use super::*;
    use crate::envelope::{Body, ENVELOPE_VERSION, SignatureCheck};

    /// How the store misbehaves on the next insert into the collection.
    #[derive(Debug, Clone)]
    enum Fault {
        /// These delivery ids are refused one by one (e.g. a validator); the rest are written.
        WriteErrors(BTreeSet<String>),
        /// Everything is written, but the write is not acknowledged as durable.
        WriteConcern,
        /// The connection is lost after this many documents were written.
        ConnectionLostAfter(usize),
    }

    #[derive(Debug, Default)]
    struct ScriptedStore {
        /// The collection it writes to (empty: the configured one).
        collection: String,
        /// Delivery ids inserted, by collection: shared with the stores it routes to.
        routes: std::sync::Arc<Mutex<BTreeMap<String, Vec<String>>>>,
        /// Stored delivery ids and their body digests (`None`: stored before digests existed).
        stored: Mutex<BTreeMap<String, Option<String>>>,
        /// Recorded conflicts: (delivery id, received digest).
        conflicts: Mutex<BTreeSet<(String, String)>>,
        fault: Mutex<Option<Fault>>,
        digest_lookup_fails: bool,
        conflict_recording_fails: bool,
    }

    impl ScriptedStore {
        fn failing(fault: Fault) -> Self {
            let store = ScriptedStore::default();
            *store.fault.lock().unwrap() = Some(fault);
            store
        }
    }

    impl EnvelopeStore for ScriptedStore {
        type Routed = ScriptedStore;
        fn routed(&self, name: &str) -> ScriptedStore {
            ScriptedStore {
                collection: name.to_owned(),
                routes: self.routes.clone(),
                ..ScriptedStore::default()
            }
        }
        async fn insert(&self, envelopes: &[Envelope]) -> Result<InsertReport, StoreError> {
            (self
                .routes
                .lock()
                .unwrap()
                .entry(self.collection.clone())
                .or_default())
            .extend(envelopes.iter().map(|e| e.id.clone()));
            let fault = self.fault.lock().unwrap().take();
            let mut stored = self.stored.lock().unwrap();
            let mut report = InsertReport::default();
            for (index, envelope) in envelopes.iter().enumerate() {
                match &fault {
                    Some(Fault::ConnectionLostAfter(count)) if index == *count => {
                        return Err(StoreError("connection closed".into()));
                    }
                    Some(Fault::WriteErrors(ids)) if ids.contains(&envelope.id) => {
                        report.failed.push(index);
                        continue;
                    }
                    _ => {}
                }
                if stored.contains_key(&envelope.id) {
                    report.duplicates.push(index);
                } else {
                    stored.insert(envelope.id.clone(), Some(envelope.body.sha256.clone()));
                }
            }
            match fault {
                Some(Fault::WriteConcern) => Err(StoreError("write concern not satisfied".into())),
                _ => Ok(report),
            }
        }

        async fn stored_digests(
            &self,
            ids: &[&str],
        ) -> Result<HashMap<String, Option<String>>, StoreError> {
            if self.digest_lookup_fails {
                return Err(StoreError("connection closed".into()));
            }
            let stored = self.stored.lock().unwrap();
            Ok(ids
                .iter()
                .filter_map(|id| Some(((*id).to_owned(), stored.get(*id)?.clone())))
                .collect())
        }

        async fn record_conflicts(
            &self,
            conflicts: &[Conflict<'_>],
        ) -> Result<InsertReport, StoreError> {
            if self.conflict_recording_fails {
                return Err(StoreError("connection closed".into()));
            }
            let mut recorded = self.conflicts.lock().unwrap();
            let mut report = InsertReport::default();
            for (index, conflict) in conflicts.iter().enumerate() {
                let key = (
                    conflict.envelope.id.clone(),
                    conflict.envelope.body.sha256.clone(),
                );
                if !recorded.insert(key) {
                    report.duplicates.push(index);
                }
            }
            Ok(report)
        }
    }

    fn envelope(id: &str, body: &str) -> Envelope {
        Envelope {
            version: ENVELOPE_VERSION,
            id: id.into(),
            id_source: "header:x-github-delivery".into(),
            pipeline: "orders".into(),
            received_at: DateTime::from_timestamp_millis(1_763_900_000_000).unwrap(),
            method: "POST".into(),
            path: "/webhook".into(),
            query: BTreeMap::new(),
            source_ip: None,
            headers: BTreeMap::new(),
            body: Body::new(body.as_bytes(), Some("application/json")),
            signature: SignatureCheck {
                scheme: "github".into(),
                verified: true,
            },
            fields: Default::default(),
        }
    }

    /// A batch of `(message id, delivery id, body)`; message ids are `m-<delivery id>`.
    fn batch(records: &[(&str, &str)]) -> QueueBatch {
        QueueBatch {
            records: (records.iter())
                .map(|(id, body)| {
                    QueueRecord::new(format!("m-{id}"), envelope(id, body).to_message_body())
                })
                .collect(),
        }
    }

    fn ten() -> Vec<(String, String)> {
        (0..10)
            .map(|n| (format!("d{n}"), format!(r#"{{"n":{n}}}"#)))
            .collect()
    }

    fn as_refs(records: &[(String, String)]) -> Vec<(&str, &str)> {
        records
            .iter()
            .map(|(id, body)| (id.as_str(), body.as_str()))
            .collect()
    }

    fn failed_ids(response: &SqsBatchResponse) -> BTreeSet<String> {
        response
            .batch_item_failures
            .iter()
            .map(|failure| failure.item_identifier.clone())
            .collect()
    }

    /// The promise, checked on every outcome: a record is acknowledged only when its delivery id is
    /// stored with its body, or recorded as a conflict.
    fn assert_nothing_acknowledged_unstored(
        store: &ScriptedStore,
        event: &QueueBatch,
        response: &SqsBatchResponse,
    ) {
        let failed = failed_ids(response);
        let stored = store.stored.lock().unwrap();
        let conflicts = store.conflicts.lock().unwrap();
        for record in &event.records {
            let message_id = record.message_id.clone().unwrap();
            if failed.contains(&message_id) {
                continue;
            }
            let envelope = Envelope::from_message_body(record.body.as_deref().unwrap()).unwrap();
            let digest = Some(envelope.body.sha256.clone());
            assert!(
                stored.get(&envelope.id) == Some(&digest)
                    || stored.get(&envelope.id) == Some(&None)
                    || conflicts.contains(&(envelope.id.clone(), envelope.body.sha256.clone())),
                "{message_id} acknowledged but not stored"
            );
        }
    }

    async fn run(store: &ScriptedStore, event: &QueueBatch) -> (BTreeSet<String>, BatchOutcome) {
        let function = PostQueue::new("orders", store);
        let (response, outcome) = function.process(event).await.unwrap();
        assert_nothing_acknowledged_unstored(store, event, &response);
        (failed_ids(&response), outcome)
    }

    impl<S: EnvelopeStore + Sync> EnvelopeStore for &S {
        type Routed = S::Routed;
        fn routed(&self, name: &str) -> S::Routed {
            (**self).routed(name)
        }
        async fn insert(&self, envelopes: &[Envelope]) -> Result<InsertReport, StoreError> {
            (**self).insert(envelopes).await
        }
        async fn stored_digests(
            &self,
            ids: &[&str],
        ) -> Result<HashMap<String, Option<String>>, StoreError> {
            (**self).stored_digests(ids).await
        }
        async fn record_conflicts(
            &self,
            conflicts: &[Conflict<'_>],
        ) -> Result<InsertReport, StoreError> {
            (**self).record_conflicts(conflicts).await
        }
    }

    #[tokio::test]
    async fn records_refused_one_by_one_are_exactly_the_ones_reported() {
        let records = ten();
        let event = batch(&as_refs(&records));
        let store = ScriptedStore::failing(Fault::WriteErrors(BTreeSet::from([
            "d2".to_owned(),
            "d7".to_owned(),
        ])));
        let (failed, outcome) = run(&store, &event).await;
        assert_eq!(
            failed,
            BTreeSet::from(["m-d2".to_owned(), "m-d7".to_owned()])
        );
        assert_eq!(
            (outcome.stored, outcome.failed, outcome.duplicates),
            (8, 2, 0)
        );

        // SQS redelivers the two: they are stored, nothing else is touched.
        let retry = batch(&[("d2", r#"{"n":2}"#), ("d7", r#"{"n":7}"#)]);
        let (failed, outcome) = run(&store, &retry).await;
        assert!(failed.is_empty());
        assert_eq!((outcome.stored, outcome.duplicates), (2, 0));
        assert_eq!(store.stored.lock().unwrap().len(), 10);
    }

    #[tokio::test]
    async fn a_write_concern_error_fails_the_whole_batch_and_the_retry_finds_duplicates() {
        let records = ten();
        let event = batch(&as_refs(&records));
        let store = ScriptedStore::failing(Fault::WriteConcern);
        let (failed, outcome) = run(&store, &event).await;
        assert_eq!(
            failed.len(),
            10,
            "written, but not durable: nothing acknowledged"
        );
        assert_eq!((outcome.stored, outcome.failed), (0, 10));

        let (failed, outcome) = run(&store, &event).await;
        assert!(failed.is_empty());
        assert_eq!((outcome.stored, outcome.duplicates), (0, 10));
    }

    #[tokio::test]
    async fn a_connection_lost_mid_batch_fails_every_record_of_it() {
        let records = ten();
        let event = batch(&as_refs(&records));
        let store = ScriptedStore::failing(Fault::ConnectionLostAfter(3));
        let (failed, outcome) = run(&store, &event).await;
        assert_eq!(failed.len(), 10);
        assert_eq!(outcome.failed, 10);

        let (failed, outcome) = run(&store, &event).await;
        assert!(failed.is_empty());
        assert_eq!((outcome.stored, outcome.duplicates), (7, 3));
    }

    /// `count` records that fill `slices` slices, `count / slices` records each (an envelope
    /// adds well under 2 KB to its body).
    fn batch_of_slices(count: usize, slices: usize) -> (Vec<(String, String)>, QueueBatch) {
        let padding = "x".repeat(SLICE_BODY_BYTES / (count / slices) - 2048);
        let records: Vec<(String, String)> = (0..count)
            .map(|n| (format!("d{n}"), format!(r#"{{"n":{n},"pad":"{padding}"}}"#)))
            .collect();
        let event = batch(&as_refs(&records));
        (records, event)
    }

    #[test]
    fn a_batch_is_cut_into_slices_of_bounded_body_size() {
        let record = |size: usize| QueueRecord::new("m", "x".repeat(size));
        let records: Vec<QueueRecord> = [4, 4, 2, 9, 1, 1, 0].map(record).into();
        assert_eq!(slices(&records, 10), [0..3, 3..5, 5..7]);
        // A record over the budget is a slice of its own; an empty batch has none.
        assert_eq!(slices(&records[3..4], 5), vec![Range { start: 0, end: 1 }]);
        assert!(slices(&[], 10).is_empty());
        let (_, event) = batch_of_slices(12, 3);
        assert_eq!(slices(&event.records, SLICE_BODY_BYTES).len(), 3);
    }

    #[tokio::test]
    async fn a_large_batch_is_stored_one_slice_at_a_time() {
        let (records, event) = batch_of_slices(12, 3);
        // The connection is lost during the first slice's insert: that slice alone is retried.
        let store = ScriptedStore::failing(Fault::ConnectionLostAfter(1));
        let (failed, outcome) = run(&store, &event).await;
        let first_slice = slices(&event.records, SLICE_BODY_BYTES)[0].clone();
        let expected: BTreeSet<String> = records[first_slice.clone()]
            .iter()
            .map(|(id, _)| format!("m-{id}"))
            .collect();
        assert_eq!(failed, expected);
        assert_eq!(outcome.received, 12);
        assert_eq!(outcome.failed, first_slice.len());
        assert_eq!(outcome.stored, 12 - first_slice.len());

        let (failed, outcome) = run(&store, &event).await;
        assert!(failed.is_empty());
        assert_eq!(outcome.stored + outcome.duplicates, 12);
        assert_eq!(outcome.duplicates, 12 - first_slice.len() + 1);
    }

    #[test]
    fn an_sqs_event_is_read_as_message_ids_and_bodies_only() {
        let mut event = SqsEvent::default();
        event.records = (0..3)
            .map(|n| {
                let mut message = SqsMessage::default();
                message.message_id = Some(format!("m-{n}"));
                message.body = (n != 1).then(|| envelope(&format!("d{n}"), "{}").to_message_body());
                message.receipt_handle = Some("AQEB...".into());
                message.md5_of_body = Some("d41d8cd98f00b204e9800998ecf8427e".into());
                message.event_source_arn = Some("arn:aws:sqs:eu-west-1:123456789012:q".into());
                message
                    .attributes
                    .insert("ApproximateReceiveCount".into(), "1".into());
                message
            })
            .collect();
        let json = serde_json::to_string(&event).unwrap();
        let read: QueueBatch = serde_json::from_str(&json).unwrap();
        let converted = QueueBatch::from(event);
        let fields = |batch: &QueueBatch| -> Vec<(Option<String>, Option<String>)> {
            (batch.records.iter())
                .map(|r| (r.message_id.clone(), r.body.clone()))
                .collect()
        };
        assert_eq!(fields(&read), fields(&converted));
        assert_eq!(read.records.len(), 3);
        assert_eq!(read.records[1].body, None);
        assert!(read.records[2].body.as_deref().unwrap().contains("\"d2\""));
    }

    #[tokio::test]
    async fn unparseable_and_refused_records_are_both_reported() {
        let mut event = batch(&[("d1", "{}"), ("d2", "{}"), ("d3", "{}"), ("d4", "{}")]);
        event.records[1].body = Some("{\"not\": \"an envelope\"}".into());
        event.records[3].body = None;
        let store = ScriptedStore::failing(Fault::WriteErrors(BTreeSet::from(["d3".to_owned()])));
        let (failed, outcome) = run(&store, &event).await;
        assert_eq!(
            failed,
            BTreeSet::from(["m-d2".to_owned(), "m-d3".to_owned(), "m-d4".to_owned()])
        );
        assert_eq!(
            (
                outcome.received,
                outcome.stored,
                outcome.unparseable,
                outcome.failed
            ),
            (4, 1, 2, 1)
        );
    }

    #[tokio::test]
    async fn a_batch_is_counted_by_its_metrics() {
        let mut event = batch(&[("d1", "{}"), ("d2", "{}"), ("d3", "{}"), ("d4", "{}")]);
        event.records[1].body = Some("{\"not\": \"an envelope\"}".into());
        let store = ScriptedStore::failing(Fault::WriteErrors(BTreeSet::from(["d3".to_owned()])));
        let (_, outcome) = run(&store, &event).await;
        let (_, again) = run(&store, &batch(&[("d1", "{}")])).await;
        let values = |outcome: &BatchOutcome| -> Vec<(&str, f64)> {
            (outcome.metric_values().iter())
                .map(|(metric, value)| (metric.name, *value))
                .filter(|(name, _)| *name != metrics::INSERT_LATENCY.name)
                .collect()
        };
        let expected = |received, stored, duplicates, unparseable, failed| {
            vec![
                ("BatchSize", received),
                ("Stored", stored),
                ("DuplicatesSquashed", duplicates),
                ("Conflicts", 0.0),
                ("Unparseable", unparseable),
                ("FailedRecords", failed),
            ]
        };
        assert_eq!(values(&outcome), expected(4.0, 2.0, 0.0, 1.0, 2.0));
        assert_eq!(values(&again), expected(1.0, 0.0, 1.0, 0.0, 0.0));
        assert!(outcome.insert_latency.is_some());

        // A batch with nothing to insert has no insert latency to report.
        let mut nothing = batch(&[("d9", "{}")]);
        nothing.records[0].body = None;
        let (_, outcome) = run(&store, &nothing).await;
        assert_eq!(outcome.insert_latency, None);
        assert!(
            !(outcome.metric_values().iter()).any(|(metric, _)| *metric == metrics::INSERT_LATENCY)
        );
    }

    #[tokio::test]
    async fn a_duplicate_id_with_another_body_is_a_conflict_recorded_once() {
        let store = ScriptedStore::default();
        let (failed, _) = run(&store, &batch(&[("d1", r#"{"amount":10}"#)])).await;
        assert!(failed.is_empty());

        let replayed = batch(&[("d1", r#"{"amount":10}"#), ("d1", r#"{"amount":9999}"#)]);
        let (failed, outcome) = run(&store, &replayed).await;
        assert!(failed.is_empty(), "recorded, so acknowledged");
        assert_eq!(
            (outcome.stored, outcome.duplicates, outcome.conflicts),
            (0, 1, 1)
        );
        let stored = store.stored.lock().unwrap()["d1"].clone();
        assert_eq!(
            stored,
            Some(envelope("d1", r#"{"amount":10}"#).body.sha256),
            "the first body stays"
        );
        drop(stored);

        // Redelivered: still one conflict.
        let (failed, outcome) = run(&store, &replayed).await;
        assert!(failed.is_empty());
        assert_eq!(outcome.conflicts, 1);
        assert_eq!(store.conflicts.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn two_bodies_under_one_id_in_one_batch_store_one_and_record_the_other() {
        let store = ScriptedStore::default();
        let (failed, outcome) =
            run(&store, &batch(&[("d1", "{\"a\":1}"), ("d1", "{\"a\":2}")])).await;
        assert!(failed.is_empty());
        assert_eq!((outcome.stored, outcome.conflicts), (1, 1));
    }

    #[tokio::test]
    async fn duplicates_that_cannot_be_compared_are_retried() {
        let store = ScriptedStore {
            digest_lookup_fails: true,
            ..ScriptedStore::default()
        };
        store
            .stored
            .lock()
            .unwrap()
            .insert("d1".into(), Some(envelope("d1", "{}").body.sha256));
        let (failed, outcome) = run(&store, &batch(&[("d1", "{}"), ("d2", "{}")])).await;
        assert_eq!(failed, BTreeSet::from(["m-d1".to_owned()]));
        assert_eq!(
            (outcome.stored, outcome.failed, outcome.duplicates),
            (1, 1, 0)
        );
    }

    #[tokio::test]
    async fn a_conflict_that_cannot_be_recorded_is_retried() {
        let store = ScriptedStore {
            conflict_recording_fails: true,
            ..ScriptedStore::default()
        };
        store
            .stored
            .lock()
            .unwrap()
            .insert("d1".into(), Some(envelope("d1", "{\"a\":1}").body.sha256));
        let (failed, outcome) = run(&store, &batch(&[("d1", "{\"a\":2}")])).await;
        assert_eq!(failed, BTreeSet::from(["m-d1".to_owned()]));
        assert_eq!((outcome.conflicts, outcome.failed), (0, 1));
    }

    #[tokio::test]
    async fn the_lambda_entry_point_answers_the_batch_failures() {
        let store = ScriptedStore::default();
        let mut event = batch(&[("d1", "{}"), ("d2", "{}")]);
        event.records[0].body = Some("not an envelope".into());
        let function = PostQueue::new("orders", &store);
        let response = function
            .handle_event(LambdaEvent::new(event, lambda_runtime::Context::default()))
            .await
            .unwrap();
        assert_eq!(failed_ids(&response), BTreeSet::from(["m-d1".to_owned()]));
    }

    #[tokio::test]
    async fn a_duplicate_stored_before_digests_existed_counts_as_stored() {
        let store = ScriptedStore::default();
        store.stored.lock().unwrap().insert("d1".into(), None);
        let (failed, outcome) = run(&store, &batch(&[("d1", "{}")])).await;
        assert!(failed.is_empty());
        assert_eq!(outcome.duplicates, 1);
    }

    #[tokio::test]
    async fn custom_logic_routes_envelopes_to_collections_and_a_name_mongodb_refuses_is_retried() {
        let store = ScriptedStore::default();
        let function = PostQueue::new("orders", &store).with_hook(|envelope: &mut Envelope| {
            envelope
                .fields
                .insert("seen_by".to_owned(), serde_json::json!("hook"));
            match envelope.id.split_once('-') {
                Some(("refund", _)) => Destination::Collection("refunds".to_owned()),
                Some(("bad", _)) => Destination::Collection("bad$name".to_owned()),
                _ => Destination::Configured,
            }
        });
        let event = batch(&[
            ("order-1", "{}"),
            ("refund-1", "{}"),
            ("bad-1", "{}"),
            ("order-2", "{}"),
            ("refund-2", "{}"),
        ]);
        let (response, outcome) = function.process(&event).await.unwrap();
        assert_eq!(
            failed_ids(&response),
            BTreeSet::from(["m-bad-1".to_owned()])
        );
        assert_eq!((outcome.stored, outcome.failed), (4, 1));
        let routes = store.routes.lock().unwrap().clone();
        assert_eq!(
            routes,
            BTreeMap::from([
                (
                    String::new(),
                    vec!["order-1".to_owned(), "order-2".to_owned()]
                ),
                (
                    "refunds".to_owned(),
                    vec!["refund-1".to_owned(), "refund-2".to_owned()]
                ),
            ])
        );
    }

    #[tokio::test]
    async fn a_duplicate_that_vanished_before_the_lookup_is_retried() {
        struct Forgetful(ScriptedStore);
        impl EnvelopeStore for Forgetful {
            type Routed = ScriptedStore;
            fn routed(&self, name: &str) -> ScriptedStore {
                self.0.routed(name)
            }
            async fn insert(&self, envelopes: &[Envelope]) -> Result<InsertReport, StoreError> {
                let report = self.0.insert(envelopes).await;
                self.0.stored.lock().unwrap().clear();
                report
            }
            async fn stored_digests(
                &self,
                ids: &[&str],
            ) -> Result<HashMap<String, Option<String>>, StoreError> {
                self.0.stored_digests(ids).await
            }
            async fn record_conflicts(
                &self,
                conflicts: &[Conflict<'_>],
            ) -> Result<InsertReport, StoreError> {
                self.0.record_conflicts(conflicts).await
            }
        }
        let store = Forgetful(ScriptedStore::default());
        store.0.stored.lock().unwrap().insert("d1".into(), None);
        let function = PostQueue::new("orders", store);
        let (response, _) = function.process(&batch(&[("d1", "{}")])).await.unwrap();
        assert_eq!(failed_ids(&response), BTreeSet::from(["m-d1".to_owned()]));
    }
}
