//! The SQS queue (SSE on) and its dead-letter queue.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName as Attr;
use nami_contract::limits::{Limit, MAX_MESSAGE_BYTES};
use nami_contract::naming::{COMPLETE_TAG, Part};
use tf_provider::schema::Block;
use tf_provider::value::Value;
use tokio::time::Instant;

use super::Context;
use super::functions::POST_QUEUE_TIMEOUT;
use crate::aws::{
    AwsError, Clients, OptionalNotFound, TagChange, aws_error, has_code, retry_while, returned,
};
use crate::check::{Checker, at};
use crate::model::{PipelineState, SettingsError, block, default, known_i32};
use crate::ownership::{Kind, Tagged};
use crate::schema;

/// Visibility timeout, in seconds (SQS's range; the default is derived, see below).
pub const VISIBILITY_TIMEOUT_SECONDS: Limit = Limit::new(0, 43_200, 180);
/// The visibility timeout must be at least this many post-queue function timeouts, plus the
/// batching window (AWS's advice for event source mappings), so a message is not redelivered
/// while still being gathered or processed.
pub const VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT: i64 = 6;

/// The least visibility timeout for a post-queue function `timeout` and batching `window`
/// (seconds): 6 × timeout + window.
pub fn least_visibility(timeout: i64, window: i64) -> i64 {
    VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT * timeout + window
}
/// Message retention of the queue, in seconds (14 days by default, SQS's longest: a backlog the
/// post-queue function cannot drain must not expire unseen).
pub const RETENTION_SECONDS: Limit = Limit::new(60, 1_209_600, 1_209_600);
/// Receives before a message moves to the dead-letter queue.
pub const MAX_RECEIVE_COUNT: Limit = Limit::new(1, 1000, 5);
/// Message retention of the dead-letter queue, in seconds (14 days by default, SQS's longest).
pub const DLQ_RETENTION_SECONDS: Limit = Limit::new(60, 1_209_600, 1_209_600);

/// The `queue` block's schema.
pub fn schema() -> Block {
    let multiple = VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT;
    schema::block(
        "The SQS queue (server-side encryption on) and its dead-letter queue.",
        vec![
            (
                "visibility_timeout_seconds",
                schema::attribute(
                    tf_provider::schema::AttributeType::Number,
                    tf_provider::schema::AttributeConstraint::OptionalComputed,
                    &format!(
                        "Visibility timeout, {VISIBILITY_TIMEOUT_SECONDS}; at least {multiple} × `post_queue.timeout` + \
                         `post_queue.batching_window_seconds`. Default {multiple} × `post_queue.timeout` + \
                         `post_queue.batching_window_seconds`."
                    ),
                ),
            ),
            (
                "retention_seconds",
                schema::number("Message retention in seconds", RETENTION_SECONDS),
            ),
            (
                "max_receive_count",
                schema::number(
                    "Receives before a message moves to the dead-letter queue",
                    MAX_RECEIVE_COUNT,
                ),
            ),
            (
                "dlq_retention_seconds",
                schema::number(
                    "Dead-letter queue retention in seconds",
                    DLQ_RETENTION_SECONDS,
                ),
            ),
            (
                "max_message_bytes",
                schema::number(
                    "Largest envelope the queue takes (larger webhooks get a 413)",
                    MAX_MESSAGE_BYTES,
                ),
            ),
        ],
    )
}

/// The resource's own attribute about queued data: `force_destroy`.
pub fn attributes() -> Vec<(&'static str, tf_provider::schema::Attribute)> {
    vec![(
        "force_destroy",
        schema::attribute(
            tf_provider::schema::AttributeType::Bool,
            tf_provider::schema::AttributeConstraint::OptionalComputed,
            "Whether destroy (and every replacement) may delete the queues while they hold messages. \
             Default `false`: destroy removes the API first, waits within `timeouts.delete` for the queue \
             to drain through the post-queue function, and refuses — naming the count in each queue — while \
             the queue or the dead-letter queue still holds messages.",
        ),
    )]
}

/// Fills the `queue` block's defaults (after the post-queue function's timeout is filled).
pub fn fill_defaults(state: &mut PipelineState) {
    default(&mut state.force_destroy, false);
    let post = state.post_queue.as_ref_option();
    let post_timeout = post
        .map(|p| p.timeout)
        .unwrap_or(Value::Value(POST_QUEUE_TIMEOUT.default));
    let window = post
        .map(|p| p.batching_window_seconds)
        .unwrap_or(Value::Value(
            crate::components::mapping::BATCHING_WINDOW_SECONDS.default,
        ));
    let queue = block(&mut state.queue);
    if queue.visibility_timeout_seconds.is_null() {
        queue.visibility_timeout_seconds = match (post_timeout, window) {
            (Value::Value(timeout), Value::Value(window)) => {
                Value::Value(least_visibility(timeout, window))
            }
            _ => Value::Unknown,
        };
    }
    default(&mut queue.retention_seconds, RETENTION_SECONDS.default);
    default(&mut queue.max_receive_count, MAX_RECEIVE_COUNT.default);
    default(
        &mut queue.dlq_retention_seconds,
        DLQ_RETENTION_SECONDS.default,
    );
    default(&mut queue.max_message_bytes, MAX_MESSAGE_BYTES.default);
}

/// Defaults that derive from another attribute follow it on update: a visibility timeout the
/// configuration leaves unset is recomputed from the planned post-queue timeout (Terraform
/// proposes the prior value for an unset optional-computed attribute).
pub fn follow_defaults(config: &PipelineState, state: &mut PipelineState) {
    let unset = config
        .queue
        .as_ref_option()
        .is_none_or(|queue| queue.visibility_timeout_seconds.is_null());
    if unset {
        block(&mut state.queue).visibility_timeout_seconds = Value::Null;
    }
}

/// Checks the `queue` block.
pub fn validate(state: &PipelineState, check: &mut Checker<'_>) {
    let Some(queue) = state.queue.as_ref_option() else {
        return;
    };
    let path = |attribute| at("queue", attribute);
    check.limit(
        &queue.visibility_timeout_seconds,
        VISIBILITY_TIMEOUT_SECONDS,
        path("visibility_timeout_seconds"),
    );
    check.limit(
        &queue.retention_seconds,
        RETENTION_SECONDS,
        path("retention_seconds"),
    );
    check.limit(
        &queue.dlq_retention_seconds,
        DLQ_RETENTION_SECONDS,
        path("dlq_retention_seconds"),
    );
    check.limit(
        &queue.max_receive_count,
        MAX_RECEIVE_COUNT,
        path("max_receive_count"),
    );
    check.limit(
        &queue.max_message_bytes,
        MAX_MESSAGE_BYTES,
        path("max_message_bytes"),
    );
    // SQS keeps a message's original enqueue time when it moves it to the DLQ, so a DLQ that keeps
    // messages for less time than the queue would delete some of them at once.
    let retention = or_default(&queue.retention_seconds, RETENTION_SECONDS.default);
    let dlq_retention = or_default(&queue.dlq_retention_seconds, DLQ_RETENTION_SECONDS.default);
    if let (Some(retention), Some(dlq_retention)) = (retention, dlq_retention) {
        check.that(
        dlq_retention >= retention,
        path("dlq_retention_seconds"),
        "Dead-letter retention shorter than the queue's",
        format!(
            "the dead-letter queue keeps messages {dlq_retention} s but the queue keeps them {retention} s: SQS counts a \
             message's age from its first enqueue, so a message moved to the dead-letter queue late in its life would \
             expire there at once. Set dlq_retention_seconds to at least queue.retention_seconds."
        ),
    );
    }
    let post = state.post_queue.as_ref_option();
    let timeout = post
        .and_then(|p| p.timeout.as_ref_option().copied())
        .unwrap_or(POST_QUEUE_TIMEOUT.default);
    let window = post
        .and_then(|p| p.batching_window_seconds.as_ref_option().copied())
        .unwrap_or(crate::components::mapping::BATCHING_WINDOW_SECONDS.default);
    if let Some(&visibility) = queue.visibility_timeout_seconds.as_ref_option() {
        let least = least_visibility(timeout, window);
        check.that(
            visibility >= least,
            path("visibility_timeout_seconds"),
            "Visibility timeout too short",
            format!(
                "{visibility} s is less than {VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT} × post_queue.timeout + \
                 post_queue.batching_window_seconds ({VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT} × {timeout} s + {window} s = {least} s): \
                 messages would be redelivered while still being gathered or processed"
            ),
        );
    }
}

/// A number of the configuration, `default` when it is unset, `None` while it is unknown.
fn or_default(value: &Value<i64>, default: i64) -> Option<i64> {
    match value {
        Value::Value(number) => Some(*number),
        Value::Null => Some(default),
        Value::Unknown => None,
    }
}

/// Both queues' settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Seconds a received message stays invisible.
    pub visibility_timeout_seconds: i32,
    /// Seconds the queue keeps a message.
    pub retention_seconds: i32,
    /// Receives before a message moves to the DLQ.
    pub max_receive_count: i32,
    /// Seconds the DLQ keeps a message.
    pub dlq_retention_seconds: i32,
    /// Largest message, in bytes (both queues).
    pub max_message_bytes: i32,
}

impl Settings {
    /// The settings of a planned state.
    pub fn from_state(state: &PipelineState) -> Result<Self, SettingsError> {
        let queue = crate::model::known(&state.queue, "queue")?;
        Ok(Settings {
            visibility_timeout_seconds: known_i32(
                &queue.visibility_timeout_seconds,
                "queue.visibility_timeout_seconds",
            )?,
            retention_seconds: known_i32(&queue.retention_seconds, "queue.retention_seconds")?,
            max_receive_count: known_i32(&queue.max_receive_count, "queue.max_receive_count")?,
            dlq_retention_seconds: known_i32(
                &queue.dlq_retention_seconds,
                "queue.dlq_retention_seconds",
            )?,
            max_message_bytes: known_i32(&queue.max_message_bytes, "queue.max_message_bytes")?,
        })
    }

    fn dlq_attributes(&self) -> HashMap<Attr, String> {
        HashMap::from([
            (
                Attr::MessageRetentionPeriod,
                self.dlq_retention_seconds.to_string(),
            ),
            (Attr::MaximumMessageSize, self.max_message_bytes.to_string()),
        ])
    }

    fn main_attributes(&self, dlq_arn: &str) -> HashMap<Attr, String> {
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": self.max_receive_count,
        });
        HashMap::from([
            (
                Attr::VisibilityTimeout,
                self.visibility_timeout_seconds.to_string(),
            ),
            (
                Attr::MessageRetentionPeriod,
                self.retention_seconds.to_string(),
            ),
            (Attr::MaximumMessageSize, self.max_message_bytes.to_string()),
            (Attr::SqsManagedSseEnabled, "true".to_owned()),
            (Attr::RedrivePolicy, redrive.to_string()),
        ])
    }

    /// Whether the live queues differ from these settings.
    pub fn drifted(&self, queue: Option<&QueueFacts>, dlq: Option<&QueueFacts>) -> bool {
        let queue_ok = queue.is_some_and(|q| {
            q.visibility_timeout_seconds == self.visibility_timeout_seconds
                && q.retention_seconds == self.retention_seconds
                && q.max_message_bytes == self.max_message_bytes
                && q.max_receive_count == Some(self.max_receive_count)
        });
        let dlq_ok = dlq.is_some_and(|d| {
            d.retention_seconds == self.dlq_retention_seconds
                && d.max_message_bytes == self.max_message_bytes
        });
        !(queue_ok && dlq_ok)
    }
}

/// A queue's URL and ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueIds {
    /// The queue's URL (what SQS calls take).
    pub url: String,
    /// The queue's ARN (what policies and the mapping name).
    pub arn: String,
}

/// A queue's settings as SQS reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueFacts {
    /// URL and ARN.
    pub ids: QueueIds,
    /// Visibility timeout in seconds.
    pub visibility_timeout_seconds: i32,
    /// Retention in seconds.
    pub retention_seconds: i32,
    /// Largest message in bytes.
    pub max_message_bytes: i32,
    /// From the redrive policy; `None` on the DLQ.
    pub max_receive_count: Option<i32>,
}

/// Creates the dead-letter queue.
pub async fn create_dlq(ctx: Context<'_>, settings: &Settings) -> Result<QueueIds, AwsError> {
    create(ctx, Kind::DeadLetterQueue, settings.dlq_attributes()).await
}

/// Creates the main queue, redriving to `dlq_arn` after `max_receive_count` receives.
pub async fn create_queue(
    ctx: Context<'_>,
    settings: &Settings,
    dlq_arn: &str,
) -> Result<QueueIds, AwsError> {
    create(ctx, Kind::Queue, settings.main_attributes(dlq_arn)).await
}

async fn create(
    ctx: Context<'_>,
    kind: Kind,
    mut attributes: HashMap<Attr, String>,
) -> Result<QueueIds, AwsError> {
    let part = match kind {
        Kind::DeadLetterQueue => Part::DeadLetterQueue,
        _ => Part::Main,
    };
    let name = ctx.object_name(part);
    // Server-side encryption with SQS-owned keys, on both queues.
    attributes.insert(Attr::SqsManagedSseEnabled, "true".to_owned());
    // A queue of this name deleted less than 60 s ago (a replacement) cannot be made yet.
    let deleted_recently = has_code(&[
        "AWS.SimpleQueueService.QueueDeletedRecently",
        "QueueDeletedRecently",
    ]);
    let url = retry_while(deleted_recently, ctx.deadline, || async {
        ctx.clients
            .sqs
            .create_queue()
            .queue_name(&name)
            .set_attributes(Some(attributes.clone()))
            .set_tags(Some(ctx.object_tags().into_iter().collect()))
            .send()
            .await
            .map_err(aws_error("sqs:CreateQueue"))
    })
    .await?
    .queue_url;
    let url = returned("sqs:CreateQueue", url)?;
    // SQS answers with an existing queue of the same name and attributes: only one carrying
    // this pipeline's token is its own.
    let queue = Tagged::new(kind, url.clone(), all_tags(ctx.clients, &url).await?);
    if !queue.is_owned_by(ctx.name, ctx.owner) {
        return Err(AwsError::NotOwned {
            operation: "sqs:CreateQueue",
            object: queue.to_string(),
        });
    }
    let arn = find(ctx.clients, &url)
        .await?
        .map(|facts| facts.ids.arn)
        .filter(|arn| !arn.is_empty());
    let arn = returned("sqs:GetQueueAttributes", arn)?;
    Ok(QueueIds { url, arn })
}

/// Applies the settings to both queues.
pub async fn update(
    ctx: Context<'_>,
    settings: &Settings,
    queue: &QueueIds,
    dlq: &QueueIds,
) -> Result<(), AwsError> {
    for (url, attributes) in [
        (&dlq.url, settings.dlq_attributes()),
        (&queue.url, settings.main_attributes(&dlq.arn)),
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

/// Applies a tag change to a queue.
pub async fn retag(clients: &Clients, url: &str, change: &TagChange) -> Result<(), AwsError> {
    change
        .apply(
            async |tags| {
                clients
                    .sqs
                    .tag_queue()
                    .queue_url(url)
                    .set_tags(Some(tags.clone().into_iter().collect()))
                    .send()
                    .await
                    .map_err(aws_error("sqs:TagQueue"))
            },
            async |removed| {
                clients
                    .sqs
                    .untag_queue()
                    .queue_url(url)
                    .set_tag_keys(Some(removed.to_vec()))
                    .send()
                    .await
                    .map_err(aws_error("sqs:UntagQueue"))
            },
        )
        .await
}

/// Deletes a queue; a missing one is already deleted.
pub async fn delete(clients: &Clients, url: &str) -> Result<(), AwsError> {
    crate::aws::delete(
        "sqs:DeleteQueue",
        clients.sqs.delete_queue().queue_url(url).send(),
    )
    .await
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
            .and_then(|v| v.parse::<i32>().ok())
            .unwrap_or_default()
    };
    // maxReceiveCount reads back as a number (moto) or a string (AWS): accept both.
    let max_receive_count = attributes
        .get(&Attr::RedrivePolicy)
        .and_then(|policy| serde_json::from_str::<serde_json::Value>(policy).ok())
        .and_then(|policy| match &policy["maxReceiveCount"] {
            serde_json::Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
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

/// Writes what AWS reports into `state`: ids (cleared when gone) and the `queue` settings.
/// A queue deleted out of band is re-created under the same name, so with the same ARN: the
/// mapping and the policies that name it stay valid.
pub fn read_back(queue: Option<&QueueFacts>, dlq: Option<&QueueFacts>, state: &mut PipelineState) {
    state.queue_url = crate::model::value_of(queue.map(|f| f.ids.url.clone()));
    state.queue_arn = crate::model::value_of(queue.map(|f| f.ids.arn.clone()));
    state.dlq_url = crate::model::value_of(dlq.map(|f| f.ids.url.clone()));
    state.dlq_arn = crate::model::value_of(dlq.map(|f| f.ids.arn.clone()));
    let settings = block(&mut state.queue);
    if let Some(facts) = queue {
        settings.visibility_timeout_seconds = Value::Value(facts.visibility_timeout_seconds.into());
        settings.retention_seconds = Value::Value(facts.retention_seconds.into());
        settings.max_message_bytes = Value::Value(facts.max_message_bytes.into());
        if let Some(count) = facts.max_receive_count {
            settings.max_receive_count = Value::Value(count.into());
        }
    }
    if let Some(facts) = dlq {
        settings.dlq_retention_seconds = Value::Value(facts.retention_seconds.into());
    }
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

/// Both queues of pipeline `name`, found by their names (import, the data sources).
pub async fn find_by_name(
    clients: &Clients,
    name: &str,
) -> Result<(Option<QueueFacts>, Option<QueueFacts>), AwsError> {
    let by_name =
        async |part| match find_url(clients, &nami_contract::naming::object_name(name, part))
            .await?
        {
            Some(url) => find(clients, &url).await,
            None => Ok(None),
        };
    tokio::try_join!(by_name(Part::Main), by_name(Part::DeadLetterQueue))
}

/// Both queues answering to `pipeline`'s names, with their tags (see [`crate::ownership`]).
pub async fn inventory(clients: &Clients, pipeline: &str) -> Result<Vec<Tagged>, AwsError> {
    let named = async |part, kind| -> Result<Option<Tagged>, AwsError> {
        let name = nami_contract::naming::object_name(pipeline, part);
        let Some(url) = find_url(clients, &name).await? else {
            return Ok(None);
        };
        // Deleted between the two calls: gone.
        let tags = all_tags(clients, &url).await.found()?;
        Ok(tags.map(|tags| Tagged::new(kind, url, tags)))
    };
    let (main, dlq) = tokio::try_join!(
        named(Part::Main, Kind::Queue),
        named(Part::DeadLetterQueue, Kind::DeadLetterQueue)
    )?;
    Ok(main.into_iter().chain(dlq).collect())
}

/// Marks a queue as part of a complete pipeline (a create's last step).
pub async fn mark_complete(clients: &Clients, url: &str) -> Result<(), AwsError> {
    clients
        .sqs
        .tag_queue()
        .queue_url(url)
        .tags(COMPLETE_TAG, "true")
        .send()
        .await
        .map_err(aws_error("sqs:TagQueue"))?;
    Ok(())
}

/// Every tag of the queue at `url`.
pub async fn all_tags(clients: &Clients, url: &str) -> Result<BTreeMap<String, String>, AwsError> {
    let output = clients
        .sqs
        .list_queue_tags()
        .queue_url(url)
        .send()
        .await
        .map_err(aws_error("sqs:ListQueueTags"))?;
    Ok(output.tags.unwrap_or_default().into_iter().collect())
}

/// Messages waiting in a queue (visible, in flight and delayed).
pub async fn depth(clients: &Clients, url: &str) -> Result<i64, AwsError> {
    let output = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(Attr::ApproximateNumberOfMessages)
        .attribute_names(Attr::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(Attr::ApproximateNumberOfMessagesDelayed)
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

/// Age in seconds of the oldest message in the queue named `name`: the latest value of SQS's
/// `ApproximateAgeOfOldestMessage` in CloudWatch over the past 15 minutes (SQS publishes it each
/// minute); `None` without one (an idle queue publishes none after a while).
pub async fn oldest_message_age(clients: &Clients, name: &str) -> Result<Option<i64>, AwsError> {
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{Dimension, Statistic};
    use nami_contract::service_metrics as aws;
    let now = std::time::SystemTime::now();
    let output = clients
        .cloudwatch
        .get_metric_statistics()
        .namespace(aws::SQS_NAMESPACE)
        .metric_name(aws::AGE_OF_OLDEST_MESSAGE)
        .dimensions(
            Dimension::builder()
                .name(aws::QUEUE_NAME)
                .value(name)
                .build(),
        )
        .start_time(DateTime::from(now - Duration::from_secs(15 * 60)))
        .end_time(DateTime::from(now))
        .period(60)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .map_err(aws_error("cloudwatch:GetMetricStatistics"))?;
    let latest = (output.datapoints.unwrap_or_default().into_iter())
        .filter_map(|point| Some((point.timestamp?, point.maximum?)))
        .max_by(|a, b| a.0.cmp(&b.0));
    Ok(latest.map(|(_, seconds)| whole_seconds(seconds)))
}

#[allow(clippy::cast_possible_truncation)]
fn whole_seconds(seconds: f64) -> i64 {
    seconds.round() as i64
}

/// Messages a pipeline's queues hold (visible, in flight and delayed); a missing queue holds none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// In the main queue.
    pub queue: i64,
    /// In the dead-letter queue.
    pub dlq: i64,
}

impl Backlog {
    /// Whether both queues are empty.
    pub fn is_empty(&self) -> bool {
        self.queue == 0 && self.dlq == 0
    }
}

/// What both queues hold now.
pub async fn backlog(
    clients: &Clients,
    queue_url: Option<&str>,
    dlq_url: Option<&str>,
) -> Result<Backlog, AwsError> {
    let (queue, dlq) = tokio::try_join!(
        depth_if_exists(clients, queue_url),
        depth_if_exists(clients, dlq_url)
    )?;
    Ok(Backlog { queue, dlq })
}

async fn depth_if_exists(clients: &Clients, url: Option<&str>) -> Result<i64, AwsError> {
    match url {
        Some(url) => Ok(depth(clients, url).await.found()?.unwrap_or(0)),
        None => Ok(0),
    }
}

/// How often a destroy looks at the queue while it drains.
const DRAIN_POLL: Duration = Duration::from_secs(2);

/// Waits until the main queue is empty or `until` passes; returns what both queues then hold.
pub async fn wait_for_drain(
    clients: &Clients,
    queue_url: Option<&str>,
    dlq_url: Option<&str>,
    until: Instant,
) -> Result<Backlog, AwsError> {
    loop {
        let now = backlog(clients, queue_url, dlq_url).await?;
        let left = until.saturating_duration_since(Instant::now());
        if now.queue == 0 || left.is_zero() {
            return Ok(now);
        }
        tokio::time::sleep(DRAIN_POLL.min(left)).await;
    }
}

/// Destroy refused: the queues still hold messages, and `force_destroy` is off.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct HoldsMessages {
    /// The pipeline.
    pub pipeline: String,
    /// What the queues hold.
    pub backlog: Backlog,
    /// Why the queue could not drain, when it could not.
    pub stalled: Option<&'static str>,
    /// Whether the API was removed before the wait (so nothing new was accepted meanwhile).
    pub api_removed: bool,
}

impl std::fmt::Display for HoldsMessages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Backlog { queue, dlq } = self.backlog;
        let queue_name = nami_contract::naming::object_name(&self.pipeline, Part::Main);
        let dlq_name = nami_contract::naming::object_name(&self.pipeline, Part::DeadLetterQueue);
        write!(
            f,
            "pipeline {:?} still holds {queue} message(s) in its queue {queue_name} and {dlq} in its dead-letter queue \
             {dlq_name}; destroying it would delete them, so ",
            self.pipeline
        )?;
        if self.api_removed {
            write!(
                f,
                "only its API was removed (no new webhook was accepted while the queue drained; the next apply \
                 re-creates it)"
            )?;
        } else {
            write!(f, "nothing was deleted")?;
        }
        if let Some(reason) = self.stalled {
            write!(f, ". The queue cannot drain: {reason}")?;
        }
        write!(
            f,
            ". Ways out: let the queue drain (the post-queue function keeps storing) and destroy again; move the \
             dead-letter messages back to the queue for another try (a redrive: `aws sqs start-message-move-task \
             --source-arn <dlq_arn>`) or read them out; or set force_destroy = true, apply, and destroy to delete \
             them with the pipeline."
        )
    }
}
