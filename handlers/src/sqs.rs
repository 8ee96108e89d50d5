//! The SQS adapter of the pre-queue function.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;

use crate::pre_queue::{Enqueue, EnqueueError};

/// The pipeline's queue. The client is created once per process and reused.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

impl SqsQueue {
    /// A queue adapter for `queue_url`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            queue_url: queue_url.into(),
        }
    }
}

impl Enqueue for SqsQueue {
    async fn send(&self, body: String) -> Result<(), EnqueueError> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map(drop)
            .map_err(|error| EnqueueError(DisplayErrorContext(&error).to_string()))
    }
}
