//! The pipeline's CloudWatch alarms (`alarms {}`, on by default): one per way a pipeline fails
//! silently — dead letters waiting, the main queue's oldest message ageing towards its retention,
//! the post-queue function's errors and throttles, and the pre-queue side's 5xx answers. Each is
//! named `nami-<name>-<alarm>`, tagged like every object of the pipeline, notifies `actions` on
//! alarm and on recovery, and goes with destroy (or `enabled = false`).
//!
//! `PutMetricAlarm` creates and updates alike, so an apply puts every alarm again: thresholds,
//! actions and a deleted alarm all converge in one call each.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic, Tag};
use nami_contract::limits::Limit;
use nami_contract::naming::{Function, Part, object_name};
use nami_contract::service_metrics as aws;
use tf_provider::schema::{Attribute, AttributeConstraint, AttributeType, Block};
use tf_provider::value::Value;

use super::Context;
use crate::aws::{AwsError, Clients, TagChange, aws_error};
use crate::check::{Checker, at};
use crate::model::{AlarmsBlock, PipelineState, SettingsError, block, default, known, strings};
use crate::ownership::{Kind, Tagged};
use crate::schema;

/// A pre-queue 5xx rate above this share of requests, in percent, alarms.
pub const PRE_QUEUE_5XX_PERCENT: Limit = Limit::new(1, 100, 5);
/// The oldest message's age that alarms, in seconds: by default a tenth of the queue's retention.
pub const OLDEST_MESSAGE_AGE_SECONDS: Limit = Limit::new(60, 1_209_600, 120_960);
/// Each alarm looks at 5-minute periods.
const PERIOD_SECONDS: i32 = 300;

/// One of the pipeline's alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Alarm {
    /// The dead-letter queue holds visible messages.
    DeadLetters,
    /// The main queue's oldest message is older than `oldest_message_age_seconds`.
    OldestMessageAge,
    /// The post-queue function reported errors.
    PostQueueErrors,
    /// The post-queue function was throttled.
    PostQueueThrottles,
    /// API Gateway answered 5xx to more than `pre_queue_5xx_percent` of requests.
    PreQueue5xx,
}

impl Alarm {
    /// Every alarm.
    pub const ALL: [Alarm; 5] = [
        Alarm::DeadLetters,
        Alarm::OldestMessageAge,
        Alarm::PostQueueErrors,
        Alarm::PostQueueThrottles,
        Alarm::PreQueue5xx,
    ];

    /// Its key in `alarm_arns`.
    pub fn key(self) -> &'static str {
        match self {
            Alarm::DeadLetters => "dead_letters",
            Alarm::OldestMessageAge => "oldest_message_age",
            Alarm::PostQueueErrors => "post_queue_errors",
            Alarm::PostQueueThrottles => "post_queue_throttles",
            Alarm::PreQueue5xx => "pre_queue_5xx",
        }
    }

    /// Its name: `nami-<pipeline>-<key with hyphens>`.
    pub fn name(self, pipeline: &str) -> String {
        format!(
            "{}-{}",
            object_name(pipeline, Part::Main),
            self.key().replace('_', "-")
        )
    }

    /// The alarm named `name` of `pipeline`, if it is one.
    pub fn named(pipeline: &str, name: &str) -> Option<Alarm> {
        Alarm::ALL
            .into_iter()
            .find(|alarm| alarm.name(pipeline) == name)
    }
}

/// The `alarms` block's schema.
pub fn schema() -> Block {
    schema::block(
        "CloudWatch alarms on the ways a pipeline fails silently: dead letters waiting, the queue's oldest \
         message ageing, the post-queue function's errors and throttles, the pre-queue side's 5xx answers. \
         On by default.",
        vec![
            (
                "enabled",
                schema::attribute(
                    AttributeType::Bool,
                    AttributeConstraint::OptionalComputed,
                    "Whether the pipeline has its alarms. Default `true`.",
                ),
            ),
            (
                "actions",
                schema::attribute(
                    AttributeType::List(AttributeType::String.into()),
                    AttributeConstraint::Optional,
                    "ARNs notified when an alarm fires and when it recovers (e.g. SNS topics made with the AWS provider).",
                ),
            ),
            (
                "oldest_message_age_seconds",
                schema::attribute(
                    AttributeType::Number,
                    AttributeConstraint::OptionalComputed,
                    &format!(
                        "Age of the queue's oldest message that alarms: {}–{} seconds. Default a tenth of `queue.retention_seconds`.",
                        OLDEST_MESSAGE_AGE_SECONDS.min, OLDEST_MESSAGE_AGE_SECONDS.max
                    ),
                ),
            ),
            (
                "pre_queue_5xx_percent",
                schema::number(
                    "Share of requests answered 5xx over 5 minutes that alarms, in percent",
                    PRE_QUEUE_5XX_PERCENT,
                ),
            ),
        ],
    )
}

/// The resource's own attribute: `alarm_arns`.
pub fn attributes() -> Vec<(&'static str, Attribute)> {
    vec![(
        "alarm_arns",
        schema::attribute(
            AttributeType::Map(AttributeType::String.into()),
            AttributeConstraint::Computed,
            "ARNs of the pipeline's alarms by what they watch: `dead_letters`, `oldest_message_age`, \
             `post_queue_errors`, `post_queue_throttles`, `pre_queue_5xx` (each named `nami-<name>-<what>`). \
             Null with `alarms.enabled = false`.",
        ),
    )]
}

/// Fills the block's defaults (after the queue's).
pub fn fill_defaults(state: &mut PipelineState) {
    let retention = (state.queue.as_ref_option())
        .and_then(|queue| queue.retention_seconds.as_ref_option().copied());
    let alarms = block(&mut state.alarms);
    default(&mut alarms.enabled, true);
    default(
        &mut alarms.pre_queue_5xx_percent,
        PRE_QUEUE_5XX_PERCENT.default,
    );
    if alarms.oldest_message_age_seconds.is_null() {
        alarms.oldest_message_age_seconds = match retention {
            Some(retention) => Value::Value((retention / 10).max(OLDEST_MESSAGE_AGE_SECONDS.min)),
            None => Value::Unknown,
        };
    }
}

/// Settings the configuration leaves unset take their defaults (`oldest_message_age_seconds`
/// follows the queue's retention), not the prior state's values: removing `enabled = false`
/// brings the alarms back.
pub fn follow_defaults(config: &PipelineState, state: &mut PipelineState) {
    let configured = config.alarms.as_ref_option().cloned().unwrap_or_default();
    let alarms = block(&mut state.alarms);
    if configured.enabled.is_null() {
        alarms.enabled = Value::Null;
    }
    if configured.oldest_message_age_seconds.is_null() {
        alarms.oldest_message_age_seconds = Value::Null;
    }
    if configured.pre_queue_5xx_percent.is_null() {
        alarms.pre_queue_5xx_percent = Value::Null;
    }
}

/// Plan-time checks.
pub fn validate(state: &PipelineState, check: &mut Checker<'_>) {
    let Some(alarms) = state.alarms.as_ref_option() else {
        return;
    };
    check.limit(
        &alarms.oldest_message_age_seconds,
        OLDEST_MESSAGE_AGE_SECONDS,
        at("alarms", "oldest_message_age_seconds"),
    );
    check.limit(
        &alarms.pre_queue_5xx_percent,
        PRE_QUEUE_5XX_PERCENT,
        at("alarms", "pre_queue_5xx_percent"),
    );
    for action in strings(&alarms.actions) {
        check.that(
            action.starts_with("arn:"),
            at("alarms", "actions"),
            "Invalid alarm action",
            format!("{action:?} is not an ARN (an SNS topic's, for example)"),
        );
    }
}

/// The alarms' settings in a planned state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Whether the pipeline has alarms.
    pub enabled: bool,
    /// Notified on alarm and on recovery.
    pub actions: Vec<String>,
    /// The oldest message's age that alarms.
    pub oldest_message_age_seconds: i64,
    /// The 5xx share that alarms, in percent.
    pub pre_queue_5xx_percent: i64,
}

impl Settings {
    /// The settings of a planned state.
    pub fn from_state(state: &PipelineState) -> Result<Self, SettingsError> {
        let alarms: AlarmsBlock = known(&state.alarms, "alarms")?;
        Ok(Settings {
            enabled: known(&alarms.enabled, "alarms.enabled")?,
            actions: strings(&alarms.actions),
            oldest_message_age_seconds: known(
                &alarms.oldest_message_age_seconds,
                "alarms.oldest_message_age_seconds",
            )?,
            pre_queue_5xx_percent: known(
                &alarms.pre_queue_5xx_percent,
                "alarms.pre_queue_5xx_percent",
            )?,
        })
    }
}

fn dimension(name: &str, value: String) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

/// Creates or updates `alarms` of the pipeline in `ctx` (the stage names the API's metrics);
/// returns their ARNs, read back in one `DescribeAlarms`.
pub async fn put(
    ctx: Context<'_>,
    alarms: impl IntoIterator<Item = Alarm>,
    settings: &Settings,
    stage: &str,
) -> Result<BTreeMap<Alarm, String>, AwsError> {
    let alarms: Vec<Alarm> = alarms.into_iter().collect();
    if alarms.is_empty() {
        return Ok(BTreeMap::new());
    }
    for &alarm in &alarms {
        put_one(ctx, alarm, settings, stage).await?;
    }
    let mut arns = find(ctx.clients, ctx.name).await?;
    arns.retain(|alarm, _| alarms.contains(alarm));
    match alarms.iter().find(|alarm| !arns.contains_key(alarm)) {
        Some(missing) => Err(AwsError::Unusable(format!(
            "cloudwatch:DescribeAlarms did not list {}",
            missing.name(ctx.name)
        ))),
        None => Ok(arns),
    }
}

/// Whether a planned state has its alarms (`alarms.enabled`, on by default).
pub fn enabled(state: &PipelineState) -> bool {
    (state.alarms.as_ref_option()).is_none_or(|a| a.enabled.as_ref_option() != Some(&false))
}

/// Creates or updates `alarm` of the pipeline in `ctx`.
async fn put_one(
    ctx: Context<'_>,
    alarm: Alarm,
    settings: &Settings,
    stage: &str,
) -> Result<(), AwsError> {
    let pipeline = ctx.name;
    let queue = |part| dimension(aws::QUEUE_NAME, object_name(pipeline, part));
    let function = |function| {
        dimension(
            aws::FUNCTION_NAME,
            object_name(pipeline, Part::Function(function)),
        )
    };
    // (namespace, metric, dimensions, statistic, threshold, description)
    let (namespace, metric, dimensions, statistic, threshold, description) = match alarm {
        Alarm::DeadLetters => (
            aws::SQS_NAMESPACE,
            aws::MESSAGES_VISIBLE,
            vec![queue(Part::DeadLetterQueue)],
            Statistic::Maximum,
            0.0,
            "Webhooks that failed max_receive_count times wait in the dead-letter queue: fix the cause, then `nami redrive`.".to_owned(),
        ),
        Alarm::OldestMessageAge => (
            aws::SQS_NAMESPACE,
            aws::AGE_OF_OLDEST_MESSAGE,
            vec![queue(Part::Main)],
            Statistic::Maximum,
            settings.oldest_message_age_seconds as f64,
            format!(
                "The queue's oldest webhook is older than {} s: the post-queue function is not keeping up or not running (`nami status`).",
                settings.oldest_message_age_seconds
            ),
        ),
        Alarm::PostQueueErrors => (
            aws::LAMBDA_NAMESPACE,
            aws::ERRORS,
            vec![function(Function::PostQueue)],
            Statistic::Sum,
            0.0,
            "The post-queue function failed invocations: batches return to the queue and may reach the dead-letter queue.".to_owned(),
        ),
        Alarm::PostQueueThrottles => (
            aws::LAMBDA_NAMESPACE,
            aws::THROTTLES,
            vec![function(Function::PostQueue)],
            Statistic::Sum,
            0.0,
            "The post-queue function was throttled: the account's concurrency is short of the mapping's maximum.".to_owned(),
        ),
        Alarm::PreQueue5xx => (
            aws::API_GATEWAY_NAMESPACE,
            aws::SERVER_ERRORS,
            vec![
                dimension(aws::API_NAME, object_name(pipeline, Part::Main)),
                dimension(aws::STAGE, stage.to_owned()),
            ],
            Statistic::Average,
            settings.pre_queue_5xx_percent as f64 / 100.0,
            format!(
                "More than {}% of webhooks were answered 5xx: senders retry, but look at the pre-queue function's logs.",
                settings.pre_queue_5xx_percent
            ),
        ),
    };
    let name = alarm.name(pipeline);
    let tags: Vec<Tag> = (ctx.object_tags().into_iter())
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect();
    ctx.clients
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(&name)
        .alarm_description(description)
        .namespace(namespace)
        .metric_name(metric)
        .set_dimensions(Some(dimensions))
        .statistic(statistic)
        .period(PERIOD_SECONDS)
        .evaluation_periods(1)
        .threshold(threshold)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .treat_missing_data("notBreaching")
        .set_alarm_actions(Some(settings.actions.clone()))
        .set_ok_actions(Some(settings.actions.clone()))
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(aws_error("cloudwatch:PutMetricAlarm"))?;
    Ok(())
}

/// An alarm as CloudWatch reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmFacts {
    /// Its ARN.
    pub arn: String,
    /// What it compares the metric with.
    pub threshold: f64,
    /// Notified on alarm.
    pub actions: Vec<String>,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
}

/// The pipeline's alarms that exist.
pub async fn find_facts(
    clients: &Clients,
    pipeline: &str,
) -> Result<BTreeMap<Alarm, AlarmFacts>, AwsError> {
    // The prefix also matches longer pipeline names (`nami-a-` holds `nami-a-b-…`): every page.
    let mut listed = Vec::new();
    let mut next_token = None;
    loop {
        let page = clients
            .cloudwatch
            .describe_alarms()
            .alarm_name_prefix(format!("{}-", object_name(pipeline, Part::Main)))
            .set_next_token(next_token)
            .send()
            .await
            .map_err(aws_error("cloudwatch:DescribeAlarms"))?;
        listed.extend(page.metric_alarms.unwrap_or_default());
        next_token = page.next_token;
        if next_token.is_none() {
            break;
        }
    }
    Ok((listed.into_iter())
        .filter_map(|live| {
            let alarm = Alarm::named(pipeline, live.alarm_name.as_deref()?)?;
            let facts = AlarmFacts {
                arn: live.alarm_arn?,
                threshold: live.threshold.unwrap_or_default(),
                actions: live.alarm_actions.unwrap_or_default(),
                state: (live.state_value.map(|s| s.as_str().to_owned())).unwrap_or_default(),
            };
            Some((alarm, facts))
        })
        .collect())
}

/// The states (`OK`, `ALARM`, `INSUFFICIENT_DATA`) of the pipeline's alarms that exist, by
/// their key in `alarm_arns`.
pub async fn states(
    clients: &Clients,
    pipeline: &str,
) -> Result<BTreeMap<String, String>, AwsError> {
    let facts = find_facts(clients, pipeline).await?;
    Ok(facts
        .into_iter()
        .map(|(alarm, facts)| (alarm.key().to_owned(), facts.state))
        .collect())
}

/// The pipeline's alarms that exist, by ARN.
pub async fn find(clients: &Clients, pipeline: &str) -> Result<BTreeMap<Alarm, String>, AwsError> {
    let facts = find_facts(clients, pipeline).await?;
    Ok(facts
        .into_iter()
        .map(|(alarm, facts)| (alarm, facts.arn))
        .collect())
}

/// Writes the live alarms' actions and thresholds into state (where they differ, the plan
/// shows it and the apply puts them back); none at all reads as `enabled = false` on import.
pub fn read_back(live: &BTreeMap<Alarm, AlarmFacts>, importing: bool, state: &mut PipelineState) {
    let alarms = block(&mut state.alarms);
    if importing {
        alarms.enabled = Value::Value(!live.is_empty());
    }
    if let Some(facts) = live.get(&Alarm::DeadLetters) {
        let configured = strings(&alarms.actions);
        if configured != facts.actions {
            alarms.actions = if facts.actions.is_empty() && !importing {
                Value::Null
            } else {
                crate::model::str_list(&facts.actions)
            };
        }
    }
    if let Some(facts) = live.get(&Alarm::OldestMessageAge) {
        alarms.oldest_message_age_seconds = Value::Value(whole(facts.threshold));
    }
    if let Some(facts) = live.get(&Alarm::PreQueue5xx) {
        alarms.pre_queue_5xx_percent = Value::Value(whole(facts.threshold * 100.0));
    }
}

/// A live threshold as the whole number the schema holds (the thresholds nami puts are whole and
/// within their limits; `as` saturates anything else).
#[allow(clippy::cast_possible_truncation)]
fn whole(threshold: f64) -> i64 {
    threshold.round() as i64
}

/// Deletes the alarms of `arns` (by name); missing ones are already deleted.
pub async fn delete(
    clients: &Clients,
    pipeline: &str,
    arns: &BTreeMap<Alarm, String>,
) -> Result<(), AwsError> {
    if arns.is_empty() {
        return Ok(());
    }
    clients
        .cloudwatch
        .delete_alarms()
        .set_alarm_names(Some(
            arns.keys().map(|alarm| alarm.name(pipeline)).collect(),
        ))
        .send()
        .await
        .map_err(aws_error("cloudwatch:DeleteAlarms"))?;
    Ok(())
}

/// Applies a tag change to the alarm (`PutMetricAlarm` ignores tags on an existing alarm).
pub async fn retag(clients: &Clients, arn: &str, change: &TagChange) -> Result<(), AwsError> {
    change
        .apply(
            async |tags| {
                let tags =
                    (tags.iter()).map(|(key, value)| Tag::builder().key(key).value(value).build());
                clients
                    .cloudwatch
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(tags.collect()))
                    .send()
                    .await
                    .map(drop)
                    .map_err(aws_error("cloudwatch:TagResource"))
            },
            async |removed| {
                clients
                    .cloudwatch
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(removed.to_vec()))
                    .send()
                    .await
                    .map(drop)
                    .map_err(aws_error("cloudwatch:UntagResource"))
            },
        )
        .await
}

/// The pipeline's alarms that exist, with their tags.
pub async fn inventory(clients: &Clients, pipeline: &str) -> Result<Vec<Tagged>, AwsError> {
    let mut found = Vec::new();
    for (alarm, arn) in find(clients, pipeline).await? {
        let tags = clients
            .cloudwatch
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(aws_error("cloudwatch:ListTagsForResource"))?
            .tags
            .unwrap_or_default()
            .into_iter()
            .filter_map(|tag| Some((tag.key?, tag.value?)));
        found.push(Tagged::new(Kind::Alarm(alarm), arn, tags));
    }
    Ok(found)
}

/// `alarm_arns` as state holds it.
pub fn arns_from_state(state: &PipelineState) -> BTreeMap<Alarm, String> {
    let map = state.alarm_arns.as_ref_option();
    (Alarm::ALL.into_iter())
        .filter_map(|alarm| {
            let arn = map?.get(alarm.key())?.as_ref_option()?.clone();
            Some((alarm, arn))
        })
        .collect()
}

/// Writes `arns` into state's `alarm_arns` (null when there are none).
pub fn record(arns: &BTreeMap<Alarm, String>, state: &mut PipelineState) {
    state.alarm_arns = if arns.is_empty() {
        Value::Null
    } else {
        Value::Value(
            (arns.iter())
                .map(|(alarm, arn)| (alarm.key().to_owned(), Value::Value(arn.clone())))
                .collect(),
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarms_are_named_after_the_pipeline_and_found_by_name() {
        assert_eq!(
            Alarm::DeadLetters.name("orders"),
            "nami-orders-dead-letters"
        );
        assert_eq!(
            Alarm::PreQueue5xx.name("orders"),
            "nami-orders-pre-queue-5xx"
        );
        for alarm in Alarm::ALL {
            assert_eq!(Alarm::named("orders", &alarm.name("orders")), Some(alarm));
        }
        assert_eq!(Alarm::named("orders", "nami-orders-dead-letters-2"), None);
        // Another pipeline's alarm with a longer name is not this one's.
        assert_eq!(
            Alarm::named("orders", &Alarm::DeadLetters.name("orders-eu")),
            None
        );
    }

    #[test]
    fn the_oldest_age_defaults_to_a_tenth_of_the_retention() {
        let mut state = PipelineState::default();
        block(&mut state.queue).retention_seconds = Value::Value(1_209_600);
        fill_defaults(&mut state);
        let alarms = state.alarms.as_ref_option().unwrap();
        assert_eq!(alarms.oldest_message_age_seconds, Value::Value(120_960));
        assert_eq!(alarms.enabled, Value::Value(true));
    }
}
