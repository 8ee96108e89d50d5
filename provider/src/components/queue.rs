//! The SQS queue (SSE on) and its dead-letter queue.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_sqs::types::QueueAttributeName as Attr;

use super::Context;
use crate::aws::{AwsError, Clients, OptionalNotFound, aws_error, object_tags};
use crate::pipeline::spec::QueueSettings;

/// A queue's URL and ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueIds {
    pub url: String,
    pub arn: String,
}

/// The settings read back from AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueFacts {
    pub ids: QueueIds,
    pub visibility_timeout_seconds: i64,
    pub retention_seconds: i64,
    pub max_message_bytes: i64,
    /// From the redrive policy; `None` on the DLQ.
    pub max_receive_count: Option<i64>,
}

/// Creates the dead-letter queue.
pub async fn create_dlq(ctx: Context<'_>, settings: &QueueSettings) -> Result<QueueIds, AwsError> {
    let attributes = HashMap::from([
        (
            Attr::MessageRetentionPeriod,
            settings.dlq_retention_seconds.to_string(),
        ),
        (
            Attr::MaximumMessageSize,
            settings.max_message_bytes.to_string(),
        ),
        (Attr::SqsManagedSseEnabled, "true".to_owned()),
    ]);
    create(ctx, &ctx.object_name("dlq"), attributes).await
}

/// Creates the main queue, redriving to `dlq_arn` after `max_receive_count` receives.
pub async fn create_queue(
    ctx: Context<'_>,
    settings: &QueueSettings,
    dlq_arn: &str,
) -> Result<QueueIds, AwsError> {
    create(
        ctx,
        &ctx.object_name(""),
        main_attributes(settings, dlq_arn),
    )
    .await
}

fn main_attributes(settings: &QueueSettings, dlq_arn: &str) -> HashMap<Attr, String> {
    HashMap::from([
        (
            Attr::VisibilityTimeout,
            settings.visibility_timeout_seconds.to_string(),
        ),
        (
            Attr::MessageRetentionPeriod,
            settings.retention_seconds.to_string(),
        ),
        (
            Attr::MaximumMessageSize,
            settings.max_message_bytes.to_string(),
        ),
        (Attr::SqsManagedSseEnabled, "true".to_owned()),
        (
            Attr::RedrivePolicy,
            redrive_policy(dlq_arn, settings.max_receive_count),
        ),
    ])
}

fn redrive_policy(dlq_arn: &str, max_receive_count: i64) -> String {
    serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count })
        .to_string()
}

async fn create(
    ctx: Context<'_>,
    name: &str,
    attributes: HashMap<Attr, String>,
) -> Result<QueueIds, AwsError> {
    let url = ctx
        .clients
        .sqs
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .set_tags(Some(
            object_tags(ctx.clients, ctx.tags, ctx.name)
                .into_iter()
                .collect(),
        ))
        .send()
        .await
        .map_err(aws_error("sqs:CreateQueue"))?
        .queue_url
        .unwrap_or_default();
    let arn = find(ctx.clients, &url)
        .await?
        .map(|facts| facts.ids.arn)
        .unwrap_or_default();
    Ok(QueueIds { url, arn })
}

/// Applies changed settings to both queues.
pub async fn update(
    ctx: Context<'_>,
    settings: &QueueSettings,
    queue: &QueueIds,
    dlq: &QueueIds,
) -> Result<(), AwsError> {
    let dlq_attributes = HashMap::from([
        (
            Attr::MessageRetentionPeriod,
            settings.dlq_retention_seconds.to_string(),
        ),
        (
            Attr::MaximumMessageSize,
            settings.max_message_bytes.to_string(),
        ),
    ]);
    for (url, attributes) in [
        (&dlq.url, dlq_attributes),
        (&queue.url, main_attributes(settings, &dlq.arn)),
    ] {
        ctx.clients
            .sqs
            .set_queue_attributes()
            .queue_url(url)
            .set_attributes(Some(attributes))
            .send()
            .await
            .map_err(aws_error("sqs:SetQueueAttributes"))?;
    }
    Ok(())
}

/// Sets `tags` on a queue and removes the keys in `removed`.
pub async fn retag(
    clients: &Clients,
    url: &str,
    tags: &BTreeMap<String, String>,
    removed: &[String],
) -> Result<(), AwsError> {
    clients
        .sqs
        .tag_queue()
        .queue_url(url)
        .set_tags(Some(tags.clone().into_iter().collect()))
        .send()
        .await
        .map_err(aws_error("sqs:TagQueue"))?;
    if !removed.is_empty() {
        clients
            .sqs
            .untag_queue()
            .queue_url(url)
            .set_tag_keys(Some(removed.to_vec()))
            .send()
            .await
            .map_err(aws_error("sqs:UntagQueue"))?;
    }
    Ok(())
}

/// Deletes a queue; a missing one is already deleted.
pub async fn delete(clients: &Clients, url: &str) -> Result<(), AwsError> {
    clients
        .sqs
        .delete_queue()
        .queue_url(url)
        .send()
        .await
        .map(drop)
        .map_err(aws_error("sqs:DeleteQueue"))
        .found()
        .map(drop)
}

/// A queue's settings, or `None` when it does not exist.
pub async fn find(clients: &Clients, url: &str) -> Result<Option<QueueFacts>, AwsError> {
    let Some(output) = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(Attr::All)
        .send()
        .await
        .map_err(aws_error("sqs:GetQueueAttributes"))
        .found()?
    else {
        return Ok(None);
    };
    let attributes = output.attributes.unwrap_or_default();
    let number = |name: Attr| {
        attributes
            .get(&name)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or_default()
    };
    // maxReceiveCount reads back as a number (moto) or a string (AWS): accept both.
    let max_receive_count = attributes
        .get(&Attr::RedrivePolicy)
        .and_then(|policy| serde_json::from_str::<serde_json::Value>(policy).ok())
        .and_then(|policy| match &policy["maxReceiveCount"] {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        });
    Ok(Some(QueueFacts {
        ids: QueueIds {
            url: url.to_owned(),
            arn: attributes.get(&Attr::QueueArn).cloned().unwrap_or_default(),
        },
        visibility_timeout_seconds: number(Attr::VisibilityTimeout),
        retention_seconds: number(Attr::MessageRetentionPeriod),
        max_message_bytes: number(Attr::MaximumMessageSize),
        max_receive_count,
    }))
}

/// The URL of the queue named `name`, if it exists.
pub async fn find_url(clients: &Clients, name: &str) -> Result<Option<String>, AwsError> {
    Ok(clients
        .sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(aws_error("sqs:GetQueueUrl"))
        .found()?
        .and_then(|output| output.queue_url))
}

/// Messages waiting in a queue (visible + in flight).
pub async fn depth(clients: &Clients, url: &str) -> Result<i64, AwsError> {
    let output = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(Attr::ApproximateNumberOfMessages)
        .attribute_names(Attr::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(aws_error("sqs:GetQueueAttributes"))?;
    Ok(output
        .attributes
        .unwrap_or_default()
        .values()
        .filter_map(|v| v.parse::<i64>().ok())
        .sum())
}
