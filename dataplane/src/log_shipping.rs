//! Shipping the functions' log lines to CloudWatch Logs, as Lambda does: each execution
//! environment's output goes to its own stream (`YYYY/MM/DD/[$LATEST]<id>`) in the function's
//! group, `/aws/lambda/<function>`, written with the function's execution-role credentials. The
//! group is the pipeline's (the provider makes it); Lambda makes none without
//! `logs:CreateLogGroup`, which the pipeline's roles do not have, so a missing group loses the
//! lines here too — said once, in nami-local's own log.
//!
//! Lines are shipped after each invocation, in order, by one task per function, off the
//! invocation's path; the local files stay as they are.

use std::collections::HashSet;

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use tokio::sync::mpsc;

/// CloudWatch Logs' limit on the events of one `PutLogEvents` call.
const EVENTS_PER_CALL: usize = 10_000;
/// CloudWatch Logs' limit on the bytes of one call (each event counts 26 bytes more).
const BYTES_PER_CALL: usize = 1_048_576;
const EVENT_OVERHEAD: usize = 26;

/// Lines of one stream, as read after an invocation.
#[derive(Debug)]
struct Batch {
    stream: String,
    lines: Vec<String>,
    timestamp_ms: i64,
}

/// Ships log lines to one function's group; cheap to clone.
#[derive(Debug, Clone)]
pub struct LogShipper {
    sender: mpsc::UnboundedSender<Batch>,
}

impl LogShipper {
    /// Starts shipping to `group` with `client` (the function's role's credentials).
    pub fn start(client: aws_sdk_cloudwatchlogs::Client, group: String) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(ship(client, group, receiver));
        LogShipper { sender }
    }

    /// Queues `lines` of `stream`, stamped now.
    pub fn send(&self, stream: &str, lines: Vec<String>) {
        if lines.is_empty() {
            return;
        }
        let _ = self.sender.send(Batch {
            stream: stream.to_owned(),
            lines,
            timestamp_ms: chrono::Utc::now().timestamp_millis(),
        });
    }
}

/// The calls' worth of events in `batch`, within CloudWatch Logs' per-call limits.
fn calls(batch: &Batch) -> Vec<Vec<InputLogEvent>> {
    let mut calls = vec![Vec::new()];
    let mut bytes = 0;
    for line in &batch.lines {
        let size = line.len() + EVENT_OVERHEAD;
        let current = calls.last_mut().expect("one call at least");
        if !current.is_empty()
            && (current.len() == EVENTS_PER_CALL || bytes + size > BYTES_PER_CALL)
        {
            calls.push(Vec::new());
            bytes = 0;
        }
        let event = InputLogEvent::builder()
            .timestamp(batch.timestamp_ms)
            .message(line)
            .build()
            .expect("timestamp and message are set");
        calls.last_mut().expect("one call at least").push(event);
        bytes += size;
    }
    calls
}

async fn ship(
    client: aws_sdk_cloudwatchlogs::Client,
    group: String,
    mut batches: mpsc::UnboundedReceiver<Batch>,
) {
    let mut streams = HashSet::new();
    let mut warned = false;
    while let Some(batch) = batches.recv().await {
        if !streams.contains(&batch.stream) {
            let created = client
                .create_log_stream()
                .log_group_name(&group)
                .log_stream_name(&batch.stream)
                .send()
                .await;
            match created {
                Ok(_) => {}
                Err(error)
                    if error
                        .as_service_error()
                        .is_some_and(|e| e.is_resource_already_exists_exception()) => {}
                Err(error) => {
                    if !warned {
                        tracing::warn!(%group, error = %aws_sdk_cloudwatchlogs::error::DisplayErrorContext(&error), "log lines not shipped to CloudWatch Logs (Lambda would lose them too: the function may not make its group)");
                        warned = true;
                    }
                    continue;
                }
            }
            streams.insert(batch.stream.clone());
        }
        for events in calls(&batch) {
            let put = client
                .put_log_events()
                .log_group_name(&group)
                .log_stream_name(&batch.stream)
                .set_log_events(Some(events))
                .send()
                .await;
            if let Err(error) = put
                && !warned
            {
                tracing::warn!(%group, error = %aws_sdk_cloudwatchlogs::error::DisplayErrorContext(&error), "log lines not shipped to CloudWatch Logs");
                warned = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_split_within_the_per_call_limits() {
        let batch = |count: usize, size: usize| Batch {
            stream: "s".into(),
            lines: vec!["x".repeat(size); count],
            timestamp_ms: 1,
        };
        assert_eq!(calls(&batch(3, 10)).len(), 1);
        let many = calls(&batch(EVENTS_PER_CALL + 1, 1));
        assert_eq!(
            many.iter().map(Vec::len).collect::<Vec<_>>(),
            [EVENTS_PER_CALL, 1]
        );
        // 300 KB lines: three fit in a megabyte, the fourth starts the next call.
        let big = calls(&batch(4, 300_000));
        assert_eq!(big.iter().map(Vec::len).collect::<Vec<_>>(), [3, 1]);
    }
}
