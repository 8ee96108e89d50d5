//! `nami redrive`: the dead-letter queue's messages back to the main queue, where the post-queue
//! function stores them (idempotently, by delivery id).
//!
//! With SQS's own message-move task where the endpoint offers it (and neither `--max` nor
//! `--dry-run` is given), else batch by batch: receive from the DLQ (hidden for
//! [`RECEIVE_VISIBILITY`]), send to the main queue, and only then delete from the DLQ. Nothing is
//! lost if this is interrupted: a message is deleted only once sent. A message sent but not yet
//! deleted when interrupted is sent again by the next run — the queue may then carry it twice,
//! and the store keeps it once (its delivery id is its key).

use std::time::Duration;

use anyhow::bail;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use serde::Serialize;

use crate::aws;

/// How long a received DLQ message stays hidden while it is moved: an interrupted run's
/// messages are visible again after this.
pub(crate) const RECEIVE_VISIBILITY_SECONDS: i32 = 10;

/// What a redrive asks for.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Request {
    /// Move at most this many.
    pub(crate) max: Option<usize>,
    /// Count what would move; move nothing.
    pub(crate) dry_run: bool,
}

/// What a redrive did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub(crate) struct Report {
    /// How: `message-move-task`, `batches` or `dry-run`.
    pub(crate) method: &'static str,
    /// Messages moved (or, with `--dry-run`, that would move).
    pub(crate) moved: usize,
    /// The DLQ message ids moved batch by batch (empty for a move task and a dry run).
    pub(crate) message_ids: Vec<String>,
    /// Messages left in the DLQ afterwards (SQS's approximate count).
    pub(crate) remaining: i64,
}

/// The queues of one pipeline.
#[derive(Debug, Clone)]
pub(crate) struct Queues {
    /// The main queue's URL and ARN.
    pub(crate) queue_url: String,
    /// Its ARN.
    pub(crate) queue_arn: String,
    /// The dead-letter queue's URL.
    pub(crate) dlq_url: String,
    /// Its ARN.
    pub(crate) dlq_arn: String,
}

/// Visible and in-flight messages of the queue at `url`.
async fn counts(sqs: &Client, url: &str) -> anyhow::Result<(i64, i64)> {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(aws("sqs:GetQueueAttributes"))?
        .attributes
        .unwrap_or_default();
    let count = |name| {
        (attributes.get(&name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok((
        count(QueueAttributeName::ApproximateNumberOfMessages),
        count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    ))
}

/// Moves the DLQ's messages back; `progress` hears the running count.
pub(crate) async fn redrive(
    sqs: &Client,
    queues: &Queues,
    request: Request,
    progress: impl Fn(&str),
) -> anyhow::Result<Report> {
    let (visible, in_flight) = counts(sqs, &queues.dlq_url).await?;
    if request.dry_run {
        let waiting = usize::try_from(visible + in_flight).unwrap_or(0);
        return Ok(Report {
            method: "dry-run",
            moved: request.max.map_or(waiting, |max| waiting.min(max)),
            message_ids: Vec::new(),
            remaining: visible + in_flight,
        });
    }
    if request.max.is_none() {
        match move_task(sqs, queues, &progress).await {
            Ok(moved) => {
                let (visible, in_flight) = counts(sqs, &queues.dlq_url).await?;
                return Ok(Report {
                    method: "message-move-task",
                    moved,
                    message_ids: Vec::new(),
                    remaining: visible + in_flight,
                });
            }
            Err(why) => progress(&format!(
                "no message-move task at this endpoint ({why:#}); moving batch by batch"
            )),
        }
    }
    batches(sqs, queues, request.max, &progress).await
}

/// SQS's own move task: started, then followed until it finishes. Returns the count it moved.
async fn move_task(
    sqs: &Client,
    queues: &Queues,
    progress: &impl Fn(&str),
) -> anyhow::Result<usize> {
    let started = sqs
        .start_message_move_task()
        .source_arn(&queues.dlq_arn)
        .destination_arn(&queues.queue_arn)
        .send()
        .await
        .map_err(aws("sqs:StartMessageMoveTask"))?;
    let handle = started.task_handle.unwrap_or_default();
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let tasks = sqs
            .list_message_move_tasks()
            .source_arn(&queues.dlq_arn)
            .send()
            .await
            .map_err(aws("sqs:ListMessageMoveTasks"))?
            .results
            .unwrap_or_default();
        let Some(task) = (tasks.iter())
            .find(|t| t.task_handle.as_deref() == Some(handle.as_str()))
            .or(tasks.first())
        else {
            bail!("the move task {handle} is not listed");
        };
        let moved = usize::try_from(task.approximate_number_of_messages_moved).unwrap_or(0);
        match task.status.as_deref() {
            Some("COMPLETED") => return Ok(moved),
            Some("FAILED" | "CANCELLED") => bail!(
                "the move task {} after {moved} messages: {}",
                task.status.as_deref().unwrap_or_default().to_lowercase(),
                task.failure_reason.as_deref().unwrap_or("no reason given")
            ),
            _ => progress(&format!("moved {moved} so far")),
        }
    }
}

/// Receive → send → delete, ten at a time, until the DLQ is empty (in-flight messages of an
/// interrupted run are waited for) or `max` moved.
async fn batches(
    sqs: &Client,
    queues: &Queues,
    max: Option<usize>,
    progress: &impl Fn(&str),
) -> anyhow::Result<Report> {
    let mut moved = Vec::new();
    loop {
        let wanted = max.map_or(10, |max| max.saturating_sub(moved.len()).min(10));
        if wanted == 0 {
            break;
        }
        let received = sqs
            .receive_message()
            .queue_url(&queues.dlq_url)
            .max_number_of_messages(i32::try_from(wanted).unwrap_or(10))
            .visibility_timeout(RECEIVE_VISIBILITY_SECONDS)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
            .send()
            .await
            .map_err(aws("sqs:ReceiveMessage"))?
            .messages
            .unwrap_or_default();
        if received.is_empty() {
            let (visible, in_flight) = counts(sqs, &queues.dlq_url).await?;
            if visible + in_flight == 0 {
                break;
            }
            if visible == 0 {
                progress(&format!(
                    "{in_flight} in flight (an interrupted run's): waiting for them to be visible again"
                ));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            continue;
        }
        let entries: Vec<SendMessageBatchRequestEntry> = (received.iter().enumerate())
            .map(|(index, message)| {
                SendMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .message_body(message.body.clone().unwrap_or_default())
                    .set_message_attributes(message.message_attributes.clone())
                    .build()
                    .expect("id and body are set")
            })
            .collect();
        let sent = sqs
            .send_message_batch()
            .queue_url(&queues.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(aws("sqs:SendMessageBatch"))?;
        if let Some(failed) = sent.failed.first() {
            bail!(
                "the main queue refused a message ({}: {}); it stays in the DLQ",
                failed.code,
                failed.message.as_deref().unwrap_or_default()
            );
        }
        // Only what was sent is deleted.
        let deletes: Vec<DeleteMessageBatchRequestEntry> = (sent.successful.iter())
            .filter_map(|ok| {
                let message = received.get(ok.id.parse::<usize>().ok()?)?;
                DeleteMessageBatchRequestEntry::builder()
                    .id(ok.id.clone())
                    .receipt_handle(message.receipt_handle.clone()?)
                    .build()
                    .ok()
            })
            .collect();
        sqs.delete_message_batch()
            .queue_url(&queues.dlq_url)
            .set_entries(Some(deletes))
            .send()
            .await
            .map_err(aws("sqs:DeleteMessageBatch"))?;
        moved.extend(received.into_iter().filter_map(|m| m.message_id));
        progress(&format!("moved {}", moved.len()));
    }
    let (visible, in_flight) = counts(sqs, &queues.dlq_url).await?;
    Ok(Report {
        method: "batches",
        moved: moved.len(),
        message_ids: moved,
        remaining: visible + in_flight,
    })
}
