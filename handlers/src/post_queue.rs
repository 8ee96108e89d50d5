//! The post-queue function: store a batch of envelopes, report exactly what was not stored.
//!
//! Every record that is not certainly stored is returned in `batchItemFailures`, so SQS makes it
//! visible again and, after `maxReceiveCount` receives, moves it to the dead-letter queue.
//! A duplicate delivery id means the envelope is already stored: that counts as success.

use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;

use nami_contract::limits::MONGODB_TIMEOUT_MS;

use crate::config::{ConfigError, Settings, vars};
use crate::envelope::Envelope;
use crate::secrets::SecretSource;

/// Default database name (the contract's).
pub const DEFAULT_DATABASE: &str = nami_contract::limits::DEFAULT_DATABASE;
/// Default server-selection timeout: a dead store fails a batch in seconds, not at the function timeout.
pub const DEFAULT_MONGODB_TIMEOUT_MS: u64 = MONGODB_TIMEOUT_MS.default.unsigned_abs();

/// Writes envelopes to the store.
pub trait EnvelopeStore {
    /// Inserts all envelopes unordered, `_id` = delivery id.
    fn insert(
        &self,
        envelopes: &[Envelope],
    ) -> impl Future<Output = Result<InsertReport, StoreError>> + Send;
}

/// What one unordered insert did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InsertReport {
    /// Indexes (into the slice given) of envelopes that failed for a reason other than a duplicate id.
    pub failed: Vec<usize>,
    /// How many were already stored (duplicate key).
    pub duplicates: usize,
}

/// The store could not be written at all: every envelope of the batch counts as failed.
#[derive(Debug, thiserror::Error)]
#[error("store unavailable: {0}")]
pub struct StoreError(pub String);

/// The batch itself is malformed (a record without a message id cannot be reported alone).
#[derive(Debug, thiserror::Error)]
#[error("SQS record {0} has no messageId; the whole batch is retried")]
pub struct BatchError(usize);

/// What the post-queue function is configured with.
#[derive(Debug, Clone)]
pub struct PostQueueSettings {
    /// The pipeline's name.
    pub pipeline: String,
    /// The store's connection string, by value or by ARN.
    pub mongodb_uri: SecretSource,
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
            server_selection_timeout: Duration::from_millis(timeout_ms),
        })
    }
}

/// The post-queue function around its store.
#[derive(Debug)]
pub struct PostQueue<S> {
    pipeline: String,
    store: S,
}

/// Counts of one batch, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Records in the batch.
    pub received: usize,
    /// Records inserted.
    pub stored: usize,
    /// Records already stored (a redelivery): success.
    pub duplicates: usize,
    /// Records that are not envelopes (reported failed, so they reach the DLQ).
    pub unparseable: usize,
    /// Records that could not be stored (reported failed, so SQS retries them).
    pub failed: usize,
}

impl<S: EnvelopeStore> PostQueue<S> {
    /// The function for `pipeline`, writing to `store`.
    pub fn new(pipeline: impl Into<String>, store: S) -> Self {
        PostQueue {
            pipeline: pipeline.into(),
            store,
        }
    }

    /// Lambda entry point.
    pub async fn handle_event(
        &self,
        event: LambdaEvent<SqsEvent>,
    ) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        Ok(self.process(&event.payload).await?.0)
    }

    /// Stores a batch; returns the failures to report and the counts.
    pub async fn process(
        &self,
        event: &SqsEvent,
    ) -> Result<(SqsBatchResponse, BatchOutcome), BatchError> {
        let mut failures = Vec::new();
        let mut envelopes = Vec::with_capacity(event.records.len());
        let mut envelope_message_ids = Vec::with_capacity(event.records.len());
        let mut outcome = BatchOutcome {
            received: event.records.len(),
            ..BatchOutcome::default()
        };

        for (index, record) in event.records.iter().enumerate() {
            let message_id = record
                .message_id
                .clone()
                .filter(|id| !id.is_empty())
                .ok_or(BatchError(index))?;
            match record.body.as_deref().map(Envelope::from_message_body) {
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

        if !envelopes.is_empty() {
            match self.store.insert(&envelopes).await {
                Ok(report) => {
                    outcome.duplicates = report.duplicates;
                    outcome.failed = report.failed.len();
                    outcome.stored = envelopes.len() - report.failed.len() - report.duplicates;
                    for index in report.failed {
                        tracing::error!(pipeline = %self.pipeline, delivery_id = %envelopes[index].id, outcome = "store_failed");
                        failures.push(envelope_message_ids[index].clone());
                    }
                }
                Err(error) => {
                    tracing::error!(pipeline = %self.pipeline, outcome = "store_unavailable", count = envelopes.len(), error = %error);
                    outcome.failed = envelopes.len();
                    failures.extend(envelope_message_ids);
                }
            }
        }

        tracing::info!(
            pipeline = %self.pipeline,
            received = outcome.received,
            stored = outcome.stored,
            duplicates = outcome.duplicates,
            unparseable = outcome.unparseable,
            failed = outcome.failed,
            "batch processed"
        );
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failures
            .into_iter()
            .map(|item_identifier| {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = item_identifier;
                failure
            })
            .collect();
        Ok((response, outcome))
    }
}
