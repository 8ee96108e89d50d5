//! The SQS adapter of the pre-queue function.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageAttributeValue;

use crate::hooks::{MessageOptions, STRING_ATTRIBUTE_TYPE};
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
    async fn send(&self, body: String, options: &MessageOptions) -> Result<(), EnqueueError> {
        let mut request = (self.client.send_message())
            .queue_url(&self.queue_url)
            .message_body(body)
            .set_message_group_id(options.group_id().map(str::to_owned));
        for (name, value) in options.attributes() {
            let value = MessageAttributeValue::builder()
                .data_type(STRING_ATTRIBUTE_TYPE)
                .string_value(value)
                .build()
                .map_err(|error| EnqueueError(error.to_string()))?;
            request = request.message_attributes(name, value);
        }
        request
            .send()
            .await
            .map(drop)
            .map_err(|error| EnqueueError(DisplayErrorContext(&error).to_string()))
    }
}
