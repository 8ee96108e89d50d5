//! The event source mapping from the queue to the post-queue function, as Lambda runs it.
//!
//! `max_concurrency` pollers each long-poll the queue, gather a batch (up to the batch size,
//! within the batching window, while the whole event stays within Lambda's 6 MB payload limit —
//! a message that would not fit waits for the next batch), invoke the function and then delete
//! what succeeded: everything on success, everything but `batchItemFailures` when the mapping
//! reports partial batch failures, nothing when the invocation failed. What is not deleted
//! becomes visible again after the visibility timeout, and the queue's redrive policy moves it to
//! the dead-letter queue after `maxReceiveCount` receives. When the batching window and the
//! function's timeout outlast the queue's visibility timeout, the gathered messages' visibility
//! is extended (as Lambda does), so they do not reappear while still held.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName,
};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::discovery::{MappingSpec, QueueSpec};
use crate::function::FunctionHost;
use crate::queue_metrics::OldestReceived;

/// Lambda's cap on the payload of one batch: the whole event, as JSON.
pub const MAX_BATCH_BYTES: usize = 6 * 1024 * 1024;
/// The event around its records: `{"Records":[]}`.
const EVENT_OVERHEAD: usize = r#"{"Records":[]}"#.len();
/// SQS's longest long poll.
const LONG_POLL: Duration = Duration::from_secs(20);
/// Pause after a failed `ReceiveMessage` before trying again.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Messages handled, as a snapshot.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollerStats {
    /// Batches the function was invoked with.
    pub batches: u64,
    /// Messages received (a message received twice counts twice).
    pub received: u64,
    /// Messages deleted after success.
    pub deleted: u64,
    /// Messages left for a retry (failed items, failed invocations).
    pub retried: u64,
    /// Messages whose visibility was extended while held (window + timeout over the queue's
    /// visibility timeout).
    pub extended: u64,
    /// The largest event the function was invoked with, in bytes.
    pub largest_event_bytes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    received: AtomicU64,
    deleted: AtomicU64,
    retried: AtomicU64,
    extended: AtomicU64,
    largest_event_bytes: AtomicU64,
}

/// The running pollers.
#[derive(Debug)]
pub struct Poller {
    counters: Arc<Counters>,
    oldest: Arc<OldestReceived>,
    stop: watch::Sender<bool>,
    workers: JoinSet<()>,
}

struct Worker {
    sqs: aws_sdk_sqs::Client,
    queue: QueueSpec,
    mapping: MappingSpec,
    region: String,
    function: FunctionHost,
    counters: Arc<Counters>,
    oldest: Arc<OldestReceived>,
    stop: watch::Receiver<bool>,
    /// Messages received that did not fit the last batch: the next one starts with them.
    carried: Vec<Held>,
}

/// A message this poller holds, its size in the event, and when it becomes visible again.
struct Held {
    message: Message,
    record_bytes: usize,
    visible_again: Instant,
}

impl Poller {
    /// Starts `concurrency` pollers of `queue` for `function`.
    pub fn start(
        sqs: aws_sdk_sqs::Client,
        queue: &QueueSpec,
        mapping: &MappingSpec,
        region: &str,
        function: FunctionHost,
        concurrency: usize,
    ) -> Self {
        let counters = Arc::new(Counters::default());
        let oldest = Arc::new(OldestReceived::default());
        let (stop, stopped) = watch::channel(false);
        let mut workers = JoinSet::new();
        for _ in 0..concurrency.max(1) {
            let worker = Worker {
                sqs: sqs.clone(),
                queue: queue.clone(),
                mapping: mapping.clone(),
                region: region.to_owned(),
                function: function.clone(),
                counters: counters.clone(),
                oldest: oldest.clone(),
                stop: stopped.clone(),
                carried: Vec::new(),
            };
            workers.spawn(worker.run());
        }
        Poller {
            counters,
            oldest,
            stop,
            workers,
        }
    }

    /// The earliest send time of the messages received, for the queue's metrics.
    pub fn oldest_received(&self) -> Arc<OldestReceived> {
        self.oldest.clone()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> PollerStats {
        let c = &self.counters;
        PollerStats {
            batches: c.batches.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            deleted: c.deleted.load(Ordering::Relaxed),
            retried: c.retried.load(Ordering::Relaxed),
            extended: c.extended.load(Ordering::Relaxed),
            largest_event_bytes: c.largest_event_bytes.load(Ordering::Relaxed),
        }
    }

    /// Stops receiving; lets batches in flight settle for up to `grace`, then abandons them
    /// (their messages come back after the visibility timeout).
    pub async fn stop(mut self, grace: Duration) {
        let _ = self.stop.send(true);
        let settled = async { while self.workers.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, settled).await.is_err() {
            self.workers.abort_all();
        }
    }
}

impl Worker {
    async fn run(mut self) {
        loop {
            let mut stop = self.stop.clone();
            let batch = tokio::select! {
                batch = self.gather() => batch,
                _ = stop.wait_for(|stopped| *stopped) => return,
            };
            match batch {
                Ok(batch) if batch.is_empty() => {}
                Ok(batch) => self.process(batch).await,
                Err(error) => {
                    tracing::warn!(queue = %self.queue.url, %error, "ReceiveMessage failed; retrying");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
            if *self.stop.borrow_and_update() {
                return;
            }
        }
    }

    /// Receives up to the batch size within the batching window (or one long poll's worth),
    /// starting with the messages the last batch could not take; stops early when the next
    /// message would take the event over [`MAX_BATCH_BYTES`] (that one is carried over).
    async fn gather(&mut self) -> Result<Vec<Message>, String> {
        let mut batch: Vec<Held> = Vec::new();
        let mut bytes = EVENT_OVERHEAD;
        let mut full = false;
        // The window opens with the first message, as Lambda's does.
        let mut window_ends: Option<Instant> = None;
        let mut offered = std::mem::take(&mut self.carried);
        loop {
            for held in offered.drain(..) {
                if full || !fits(bytes, batch.len(), held.record_bytes) {
                    full = true;
                    self.carried.push(held);
                    continue;
                }
                bytes += held.record_bytes + usize::from(!batch.is_empty());
                batch.push(held);
            }
            if !batch.is_empty() {
                let ends = *window_ends
                    .get_or_insert_with(|| Instant::now() + self.mapping.batching_window);
                // Held until the window closes and the function has had its time.
                self.hold_until(&mut batch, ends + self.function.spec().timeout)
                    .await;
                if full || batch.len() >= self.mapping.batch_size || Instant::now() >= ends {
                    break;
                }
            }
            // SQS hands out at most 10 messages per receive.
            let wanted = (self.mapping.batch_size - batch.len()).min(10);
            let wait = match window_ends {
                None => LONG_POLL,
                Some(ends) => ends.saturating_duration_since(Instant::now()),
            };
            let received_at = Instant::now();
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue.url)
                .max_number_of_messages(i32::try_from(wanted).unwrap_or(10))
                .wait_time_seconds(wait.as_secs().min(20) as i32)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?
                .messages
                .unwrap_or_default();
            self.counters
                .received
                .fetch_add(received.len() as u64, Ordering::Relaxed);
            for message in &received {
                let sent_ms = (message.attributes.as_ref())
                    .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                    .and_then(|sent| sent.parse().ok());
                if let Some(sent_ms) = sent_ms {
                    self.oldest.saw(sent_ms);
                }
            }
            if received.is_empty() && batch.is_empty() {
                break;
            }
            offered = (received.into_iter())
                .map(|message| Held {
                    record_bytes: record(&message, &self.queue.arn, &self.region)
                        .to_string()
                        .len(),
                    message,
                    visible_again: received_at + self.queue.visibility_timeout,
                })
                .collect();
        }
        if let (Some(ends), false) = (window_ends, self.carried.is_empty()) {
            // The carried messages wait for this batch's invocation, then a window of their own.
            let timeout = self.function.spec().timeout;
            let next = ends + timeout + self.mapping.batching_window + timeout;
            let mut carried = std::mem::take(&mut self.carried);
            self.hold_until(&mut carried, next).await;
            self.carried = carried;
        }
        Ok(batch.into_iter().map(|held| held.message).collect())
    }

    /// Extends the visibility of the held messages that would become visible before `until`
    /// (and of those carried over, which wait for the next batch), to `until`.
    async fn hold_until(&self, batch: &mut [Held], until: Instant) {
        let now = Instant::now();
        let seconds = until.saturating_duration_since(now).as_secs() + 1;
        let mut short: Vec<&mut Held> = (batch.iter_mut())
            .filter(|held| held.visible_again < until)
            .collect();
        for chunk in short.chunks_mut(10) {
            let entries: Vec<_> = (chunk.iter().enumerate())
                .filter_map(|(i, held)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(held.message.receipt_handle.clone()?)
                        .visibility_timeout(i32::try_from(seconds).unwrap_or(i32::MAX))
                        .build()
                        .ok()
                })
                .collect();
            let changed = self
                .sqs
                .change_message_visibility_batch()
                .queue_url(&self.queue.url)
                .set_entries(Some(entries))
                .send()
                .await;
            match changed {
                Ok(output) => {
                    let extended = output.successful.len();
                    self.counters
                        .extended
                        .fetch_add(extended as u64, Ordering::Relaxed);
                    for held in chunk.iter_mut() {
                        held.visible_again = now + Duration::from_secs(seconds);
                    }
                }
                Err(error) => {
                    tracing::warn!(queue = %self.queue.url, error = %aws_sdk_sqs::error::DisplayErrorContext(error), "ChangeMessageVisibilityBatch failed; those messages may be delivered again meanwhile");
                }
            }
        }
    }

    async fn process(&self, batch: Vec<Message>) {
        self.counters.batches.fetch_add(1, Ordering::Relaxed);
        let event = sqs_event(&batch, &self.queue.arn, &self.region).to_string();
        self.counters
            .largest_event_bytes
            .fetch_max(event.len() as u64, Ordering::Relaxed);
        let result = self.function.invoke(Bytes::from(event)).await;
        let failed: HashSet<String> = match &result {
            Ok(output) => failed_items(output, &batch, self.mapping.report_batch_item_failures),
            Err(_) => all_ids(&batch),
        };
        let done: Vec<&Message> = batch
            .iter()
            .filter(|m| !failed.contains(m.message_id.as_deref().unwrap_or_default()))
            .collect();
        self.counters
            .retried
            .fetch_add(failed.len() as u64, Ordering::Relaxed);
        self.delete(&done).await;
    }

    async fn delete(&self, messages: &[&Message]) {
        for chunk in messages.chunks(10) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle.clone()?)
                        .build()
                        .ok()
                })
                .collect();
            match self
                .sqs
                .delete_message_batch()
                .queue_url(&self.queue.url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(output) => {
                    let deleted = output.successful.len();
                    self.counters
                        .deleted
                        .fetch_add(deleted as u64, Ordering::Relaxed);
                    for failure in output.failed {
                        tracing::warn!(queue = %self.queue.url, code = %failure.code, "a processed message could not be deleted; it will be delivered again");
                    }
                }
                Err(error) => {
                    tracing::warn!(queue = %self.queue.url, error = %aws_sdk_sqs::error::DisplayErrorContext(error), "DeleteMessageBatch failed; those messages will be delivered again");
                }
            }
        }
    }
}

fn all_ids(batch: &[Message]) -> HashSet<String> {
    batch.iter().filter_map(|m| m.message_id.clone()).collect()
}

/// The messages to leave on the queue after a successful invocation. With partial batch
/// responses, Lambda's rules: `null`, an object without `batchItemFailures` and an empty or null
/// list are complete success; every entry must be an object whose `itemIdentifier` is the id of a
/// message of the batch; anything else — not JSON, a string, an array, a list that is not a list,
/// an entry without a valid id — fails the whole batch.
pub fn failed_items(output: &[u8], batch: &[Message], partial: bool) -> HashSet<String> {
    if !partial {
        return HashSet::new();
    }
    let ids = all_ids(batch);
    let response: Value = match serde_json::from_slice(output) {
        Ok(response) => response,
        Err(_) => return ids,
    };
    let failures = match &response {
        Value::Null => return HashSet::new(),
        Value::Object(fields) => match fields.get("batchItemFailures") {
            None | Some(Value::Null) => return HashSet::new(),
            Some(Value::Array(failures)) => failures,
            Some(_) => return ids,
        },
        _ => return ids,
    };
    let mut failed = HashSet::new();
    for failure in failures {
        match failure.get("itemIdentifier").and_then(Value::as_str) {
            Some(id) if ids.contains(id) => {
                failed.insert(id.to_owned());
            }
            _ => return ids,
        }
    }
    failed
}

/// Whether a record of `record_bytes` joins a batch of `count` records whose event is `bytes`
/// long without taking it over [`MAX_BATCH_BYTES`] (a comma joins it to the others). The first
/// record always does: one SQS message (1 MiB at most) fits.
pub fn fits(bytes: usize, count: usize, record_bytes: usize) -> bool {
    count == 0 || bytes + 1 + record_bytes <= MAX_BATCH_BYTES
}

/// The SQS event Lambda sends for a batch.
pub fn sqs_event(batch: &[Message], queue_arn: &str, region: &str) -> Value {
    let records: Vec<Value> = (batch.iter())
        .map(|message| record(message, queue_arn, region))
        .collect();
    json!({ "Records": records })
}

/// One record of the SQS event.
fn record(message: &Message, queue_arn: &str, region: &str) -> Value {
    let attributes: serde_json::Map<String, Value> = message
        .attributes
        .iter()
        .flatten()
        .map(|(name, value)| (name.as_str().to_owned(), Value::String(value.clone())))
        .collect();
    let message_attributes: serde_json::Map<String, Value> = message
        .message_attributes
        .iter()
        .flatten()
        .map(|(name, value)| {
            (
                name.clone(),
                json!({
                    "stringValue": value.string_value,
                    "binaryValue": value.binary_value.as_ref().map(|b| base64_encode(b.as_ref())),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value.data_type,
                }),
            )
        })
        .collect();
    json!({
        "messageId": message.message_id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.md5_of_body,
        "md5OfMessageAttributes": message.md5_of_message_attributes,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    })
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(ids: &[&str]) -> Vec<Message> {
        ids.iter()
            .map(|id| Message::builder().message_id(*id).body("{}").build())
            .collect()
    }

    #[test]
    fn partial_batch_responses_are_honoured() {
        let batch = batch(&["a", "b", "c"]);
        let ids = |set: HashSet<String>| {
            let mut v: Vec<_> = set.into_iter().collect();
            v.sort();
            v
        };
        let output = br#"{"batchItemFailures":[{"itemIdentifier":"b"}]}"#;
        assert_eq!(ids(failed_items(output, &batch, true)), ["b"]);
        assert!(failed_items(br#"{"batchItemFailures":[]}"#, &batch, true).is_empty());
        assert!(failed_items(b"null", &batch, true).is_empty());
        // Without ReportBatchItemFailures, a returned value means success.
        assert!(failed_items(output, &batch, false).is_empty());
        // An id outside the batch, or an unreadable response, fails the whole batch.
        let unknown = br#"{"batchItemFailures":[{"itemIdentifier":"zzz"}]}"#;
        assert_eq!(ids(failed_items(unknown, &batch, true)), ["a", "b", "c"]);
        assert_eq!(ids(failed_items(b"<html>", &batch, true)), ["a", "b", "c"]);
    }

    #[test]
    fn a_response_that_is_not_a_batch_response_fails_the_whole_batch() {
        let batch = batch(&["m-1", "m-2"]);
        let failed = |output: &[u8]| {
            let mut v: Vec<_> = failed_items(output, &batch, true).into_iter().collect();
            v.sort();
            v
        };
        for output in [
            &br#"{"batchItemFailures":"m-1"}"#[..],
            br#""m-1""#,
            br#"["m-1"]"#,
            br#"{"batchItemFailures":[{"itemIdentifier":""}]}"#,
            br#"{"batchItemFailures":[{"itemIdentifier":null}]}"#,
            br#"{"batchItemFailures":[{"id":"m-1"}]}"#,
            br#"{"batchItemFailures":["m-1"]}"#,
            b"42",
        ] {
            assert_eq!(
                failed(output),
                ["m-1", "m-2"],
                "{}",
                String::from_utf8_lossy(output)
            );
        }
        // Lambda's complete successes.
        for output in [
            &b"null"[..],
            b"{}",
            br#"{"batchItemFailures":null}"#,
            br#"{"batchItemFailures":[]}"#,
        ] {
            assert!(
                failed(output).is_empty(),
                "{}",
                String::from_utf8_lossy(output)
            );
        }
    }

    #[test]
    fn the_batch_limit_counts_the_whole_event_to_the_byte() {
        let (arn, region) = ("arn:aws:sqs:us-east-1:1:q", "us-east-1");
        let messages: Vec<Message> = (0..3)
            .map(|i| {
                Message::builder()
                    .message_id(format!("m-{i}"))
                    .receipt_handle(format!("r-{i}"))
                    .body("x".repeat(1000 * (i + 1)))
                    .build()
            })
            .collect();
        // The accounting the poller does, record by record, is the event's length exactly.
        let mut bytes = EVENT_OVERHEAD;
        for (count, message) in messages.iter().enumerate() {
            let size = record(message, arn, region).to_string().len();
            assert!(fits(bytes, count, size));
            bytes += size + usize::from(count > 0);
        }
        assert_eq!(bytes, sqs_event(&messages, arn, region).to_string().len());
        // To the byte: a record that would end the event past the limit does not join it.
        assert!(fits(MAX_BATCH_BYTES - 101, 1, 100));
        assert!(!fits(MAX_BATCH_BYTES - 100, 1, 100));
        assert!(fits(MAX_BATCH_BYTES, 0, 100), "a first record always fits");
    }

    #[test]
    fn the_event_has_lambdas_record_shape() {
        let event = sqs_event(&batch(&["m-1"]), "arn:aws:sqs:us-east-1:1:q", "us-east-1");
        let record = &event["Records"][0];
        assert_eq!(record["messageId"], "m-1");
        assert_eq!(record["eventSource"], "aws:sqs");
        assert_eq!(record["eventSourceARN"], "arn:aws:sqs:us-east-1:1:q");
        // What the post-queue function deserializes it into.
        let parsed: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(event).unwrap();
        assert_eq!(parsed.records[0].message_id.as_deref(), Some("m-1"));
    }
}
