//! `nami reconcile`: did we lose anything? The delivery ids the pre-queue function accepted
//! since a time (its `enqueued` log lines in CloudWatch Logs) against those in the store, in the
//! dead-letter queue and waiting in the main queue.
//!
//! The main queue cannot be read without taking messages from the function, so it is counted,
//! not listed: while it holds messages, an accepted id missing from the store and the DLQ may be
//! one of them. The DLQ is read, not taken: each message is hidden [`DLQ_PEEK_SECONDS`] s, then
//! visible again where it was.

use std::collections::BTreeSet;

use anyhow::Context as _;
use mongodb::bson::{Document, doc};
use nami_contract::log_lines::accepted_delivery_id;
use serde::Serialize;

use crate::aws;

/// How long a DLQ message read by reconcile stays hidden (a redrive meanwhile waits for it).
pub(crate) const DLQ_PEEK_SECONDS: i32 = 20;

/// What reconcile found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Reconciliation {
    /// Accepted (answered 2xx) since the given time.
    pub(crate) accepted: usize,
    /// Of those, in the store.
    pub(crate) stored: usize,
    /// Of those, in the dead-letter queue.
    pub(crate) dead_lettered: usize,
    /// Messages in the main queue now (not listed: see the module's note).
    pub(crate) waiting: i64,
    /// Accepted ids in none of them.
    pub(crate) missing: Vec<String>,
}

impl Reconciliation {
    /// Whether some accepted webhook is certainly lost: more missing than the queue could hold.
    pub(crate) fn lost_any(&self) -> bool {
        i64::try_from(self.missing.len()).unwrap_or(i64::MAX) > self.waiting
    }
}

/// The delivery ids the pre-queue function logged as enqueued in `group` since `since_ms`.
pub(crate) async fn accepted(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    since_ms: i64,
) -> anyhow::Result<BTreeSet<String>> {
    let mut ids = BTreeSet::new();
    let mut next = None;
    loop {
        let page = logs
            .filter_log_events()
            .log_group_name(group)
            .start_time(since_ms)
            .set_next_token(next)
            .send()
            .await
            .map_err(aws("logs:FilterLogEvents"))?;
        let lines = page.events.unwrap_or_default().into_iter();
        ids.extend(lines.filter_map(|event| accepted_delivery_id(event.message.as_deref()?)));
        next = page.next_token;
        if next.is_none() {
            return Ok(ids);
        }
    }
}

/// Which of `ids` the store's collection holds (documents are keyed by delivery id).
pub(crate) async fn stored(
    collection: &mongodb::Collection<Document>,
    ids: &BTreeSet<String>,
) -> anyhow::Result<BTreeSet<String>> {
    let mut found = BTreeSet::new();
    let ids: Vec<&String> = ids.iter().collect();
    for chunk in ids.chunks(1_000) {
        let mut cursor = collection
            .find(doc! { "_id": { "$in": chunk.to_vec() } })
            .projection(doc! { "_id": 1 })
            .await
            .context("reading the store")?;
        while cursor.advance().await.context("reading the store")? {
            let document = cursor.deserialize_current().context("reading the store")?;
            if let Ok(id) = document.get_str("_id") {
                found.insert(id.to_owned());
            }
        }
    }
    Ok(found)
}

/// The delivery ids of the envelopes in the dead-letter queue (read, not taken).
pub(crate) async fn dead_lettered(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
) -> anyhow::Result<BTreeSet<String>> {
    let mut ids = BTreeSet::new();
    let mut empty_rounds = 0;
    while empty_rounds < 2 {
        let messages = sqs
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(DLQ_PEEK_SECONDS)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(aws("sqs:ReceiveMessage"))?
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            empty_rounds += 1;
            continue;
        }
        empty_rounds = 0;
        // Each stays hidden DLQ_PEEK_SECONDS, so the next receive returns the others.
        ids.extend(messages.iter().filter_map(|message| {
            let envelope: serde_json::Value =
                serde_json::from_str(message.body.as_deref()?).ok()?;
            envelope["id"].as_str().map(str::to_owned)
        }));
    }
    Ok(ids)
}

/// Puts the counts together.
pub(crate) fn reconcile(
    accepted: &BTreeSet<String>,
    stored: &BTreeSet<String>,
    dead_lettered: &BTreeSet<String>,
    waiting: i64,
) -> Reconciliation {
    Reconciliation {
        accepted: accepted.len(),
        stored: stored.len(),
        dead_lettered: accepted.intersection(dead_lettered).count(),
        waiting,
        missing: (accepted.iter())
            .filter(|id| !stored.contains(*id) && !dead_lettered.contains(*id))
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|id| (*id).to_owned()).collect()
    }

    #[test]
    fn missing_ids_are_those_in_neither_the_store_nor_the_dlq() {
        let accepted = set(&["a", "b", "c", "d"]);
        let result = reconcile(&accepted, &set(&["a", "b"]), &set(&["c", "x"]), 0);
        assert_eq!(result.missing, ["d"]);
        assert_eq!((result.stored, result.dead_lettered), (2, 1));
        assert!(result.lost_any());
        // One message still waiting could be d.
        assert!(!reconcile(&accepted, &set(&["a", "b"]), &set(&["c"]), 1).lost_any());
    }
}
