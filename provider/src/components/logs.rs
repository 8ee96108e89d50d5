//! The functions' log groups: `/aws/lambda/nami-<name>-{pre,post}-queue`, Lambda's own default
//! names, made by the pipeline before its functions (so Lambda never makes one without a
//! retention), kept `log_retention_days`, tagged like every object of the pipeline, and deleted
//! on destroy — or kept, marked retained, with `retain_logs`. The functions' roles may write to
//! these groups only (see `iam`).
//!
//! A group of that name that Nami did not tag (one Lambda made for an earlier function of this
//! pipeline's name) or one a destroyed pipeline retained is adopted: its logs are this name's.

use std::collections::{BTreeMap, HashMap};

use nami_contract::naming::{Function, RETAINED_TAG, log_group_name};
use tf_provider::AttributePath;
use tf_provider::schema::{Attribute, AttributeConstraint, AttributeType};
use tf_provider::value::Value;

use super::Context;
use crate::aws::{AwsError, Clients, TagChange, aws_error, has_code, returned};
use crate::check::Checker;
use crate::model::{PipelineState, SettingsError, default, known, known_i32};
use crate::ownership::{Kind, Tagged};
use crate::schema;

/// The days CloudWatch Logs can keep a group's events, as `PutRetentionPolicy` accepts them.
pub const RETENTION_DAYS: [i64; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// How long the groups keep their events when `log_retention_days` is not set.
pub const DEFAULT_RETENTION_DAYS: i64 = 30;

/// The log groups' settings in a planned state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Days the groups keep events.
    pub retention_days: i32,
    /// Whether destroy keeps the groups.
    pub retain: bool,
}

impl Settings {
    /// The settings of a planned state.
    pub fn from_state(state: &PipelineState) -> Result<Self, SettingsError> {
        Ok(Settings {
            retention_days: known_i32(&state.log_retention_days, "log_retention_days")?,
            retain: known(&state.retain_logs, "retain_logs")?,
        })
    }
}

/// The resource's own attributes about logs: `log_retention_days` and `retain_logs`.
pub fn attributes() -> Vec<(&'static str, Attribute)> {
    vec![
        (
            "log_retention_days",
            schema::attribute(
                AttributeType::Number,
                AttributeConstraint::OptionalComputed,
                &format!(
                    "Days the functions' log groups (`/aws/lambda/nami-<name>-pre-queue` and `…-post-queue`) keep \
                     their events: one of {}. Default {DEFAULT_RETENTION_DAYS}.",
                    RETENTION_DAYS.map(|d| d.to_string()).join(", ")
                ),
            ),
        ),
        (
            "retain_logs",
            schema::attribute(
                AttributeType::Bool,
                AttributeConstraint::OptionalComputed,
                "Whether destroy keeps the functions' log groups (tagged `nami:retained`, still expiring after \
                 `log_retention_days`; a later pipeline of the same name adopts them). Default `false`: destroy \
                 deletes them after the functions.",
            ),
        ),
    ]
}

/// Fills `log_retention_days` and `retain_logs`.
pub fn fill_defaults(state: &mut PipelineState) {
    default(&mut state.log_retention_days, DEFAULT_RETENTION_DAYS);
    default(&mut state.retain_logs, false);
}

/// An unset `log_retention_days` follows the default, not the prior state: a retention changed
/// outside Terraform (read back into state) shows in the plan and is put back.
pub fn follow_defaults(config: &PipelineState, state: &mut PipelineState) {
    if config.log_retention_days.is_null() {
        state.log_retention_days = Value::Null;
    }
}

/// Plan-time checks: a retention CloudWatch Logs offers.
pub fn validate(state: &PipelineState, check: &mut Checker<'_>) {
    if let Value::Value(days) = state.log_retention_days
        && !RETENTION_DAYS.contains(&days)
    {
        check.fail(
            AttributePath::new("log_retention_days"),
            "Invalid log retention",
            format!(
                "log_retention_days is {days}; CloudWatch Logs keeps events for one of {} days",
                RETENTION_DAYS.map(|d| d.to_string()).join(", ")
            ),
        );
    }
}

/// The group's name in its ARN (`arn:aws:logs:<region>:<account>:log-group:<name>`, with or
/// without the trailing `:*`).
pub fn name_in(arn: &str) -> &str {
    let name = arn.split_once(":log-group:").map_or(arn, |(_, name)| name);
    name.strip_suffix(":*").unwrap_or(name)
}

/// A log group as CloudWatch Logs reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGroupFacts {
    /// Its ARN (without the trailing `:*`).
    pub arn: String,
    /// Days it keeps events (`None`: forever).
    pub retention_days: Option<i64>,
}

/// The group named `name`, if it exists.
pub async fn find(clients: &Clients, name: &str) -> Result<Option<LogGroupFacts>, AwsError> {
    let output = clients
        .logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .map_err(aws_error("logs:DescribeLogGroups"))?;
    let group = (output.log_groups.unwrap_or_default().into_iter())
        .find(|group| group.log_group_name.as_deref() == Some(name));
    Ok(group.map(|group| LogGroupFacts {
        arn: group
            .log_group_arn
            .or(group.arn.map(|arn| name_in_arn_form(&arn)))
            .unwrap_or_default(),
        retention_days: group.retention_in_days.map(i64::from),
    }))
}

/// `arn` without the trailing `:*` `DescribeLogGroups` puts on its older `arn` field.
fn name_in_arn_form(arn: &str) -> String {
    arn.strip_suffix(":*").unwrap_or(arn).to_owned()
}

fn tag_map(tags: &BTreeMap<String, String>) -> HashMap<String, String> {
    tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Makes `function`'s group (or adopts one of its name that Nami did not tag, or that a
/// destroyed pipeline retained) and sets its retention. Returns its ARN.
pub async fn create(ctx: Context<'_>, function: Function, days: i32) -> Result<String, AwsError> {
    let name = log_group_name(ctx.name, function);
    let tags = ctx.object_tags();
    let created = ctx
        .clients
        .logs
        .create_log_group()
        .log_group_name(&name)
        .set_tags(Some(tag_map(&tags)))
        .send()
        .await
        .map_err(aws_error("logs:CreateLogGroup"));
    let adopted = match created {
        Ok(_) => false,
        Err(error) if has_code(&["ResourceAlreadyExistsException"])(&error) => true,
        Err(error) => return Err(error),
    };
    let facts = find(ctx.clients, &name).await?;
    let arn = returned("logs:DescribeLogGroups", facts.map(|facts| facts.arn))?;
    if adopted {
        // This pipeline's tags only (no longer retained, no earlier owner's).
        let before: BTreeMap<String, String> =
            list_tags(ctx.clients, &arn).await?.into_iter().collect();
        retag(ctx.clients, &arn, &TagChange::new(&before, tags)).await?;
    }
    set_retention(ctx.clients, &arn, days).await?;
    Ok(arn)
}

/// Keeps the group's events `days` days.
pub async fn set_retention(clients: &Clients, arn: &str, days: i32) -> Result<(), AwsError> {
    clients
        .logs
        .put_retention_policy()
        .log_group_name(name_in(arn))
        .retention_in_days(days)
        .send()
        .await
        .map_err(aws_error("logs:PutRetentionPolicy"))?;
    Ok(())
}

/// Puts the group's retention back to `days` when it differs.
pub async fn converge(clients: &Clients, arn: &str, days: i32) -> Result<(), AwsError> {
    let live = find(clients, name_in(arn)).await?;
    if live.is_some_and(|group| group.retention_days != Some(i64::from(days))) {
        set_retention(clients, arn, days).await?;
    }
    Ok(())
}

/// Deletes the group; a missing one is already deleted.
pub async fn delete(clients: &Clients, arn: &str) -> Result<(), AwsError> {
    let call = clients.logs.delete_log_group().log_group_name(name_in(arn));
    crate::aws::delete("logs:DeleteLogGroup", call.send()).await
}

/// Marks a group destroy keeps: a later pipeline of the name adopts it, none removes it.
pub async fn mark_retained(clients: &Clients, arn: &str) -> Result<(), AwsError> {
    clients
        .logs
        .tag_resource()
        .resource_arn(arn)
        .tags(RETAINED_TAG, "true")
        .send()
        .await
        .map_err(aws_error("logs:TagResource"))?;
    Ok(())
}

async fn list_tags(clients: &Clients, arn: &str) -> Result<HashMap<String, String>, AwsError> {
    Ok(clients
        .logs
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(aws_error("logs:ListTagsForResource"))?
        .tags
        .unwrap_or_default())
}

/// Applies a tag change to the group.
pub async fn retag(clients: &Clients, arn: &str, change: &TagChange) -> Result<(), AwsError> {
    change
        .apply(
            async |tags| {
                clients
                    .logs
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(tag_map(tags)))
                    .send()
                    .await
                    .map(drop)
                    .map_err(aws_error("logs:TagResource"))
            },
            async |removed| {
                clients
                    .logs
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(removed.to_vec()))
                    .send()
                    .await
                    .map(drop)
                    .map_err(aws_error("logs:UntagResource"))
            },
        )
        .await
}

/// The pipeline's log groups that exist, with their tags.
pub async fn inventory(clients: &Clients, pipeline: &str) -> Result<Vec<Tagged>, AwsError> {
    let mut found = Vec::new();
    for function in Function::ALL {
        let Some(group) = find(clients, &log_group_name(pipeline, function)).await? else {
            continue;
        };
        let tags = list_tags(clients, &group.arn).await?;
        found.push(Tagged::new(Kind::LogGroup(function), group.arn, tags));
    }
    Ok(found)
}

/// Writes the groups' live retention into state: the first that differs from the configured
/// one (so the plan shows it and the apply puts both back), else the configured one.
pub fn read_back(groups: &[Option<LogGroupFacts>], state: &mut PipelineState) {
    let configured = state.log_retention_days.as_ref_option().copied();
    let drifted = (groups.iter().flatten())
        .map(|group| group.retention_days)
        .find(|live| *live != configured);
    if let Some(live) = drifted {
        // Kept forever (no policy) shows as null: a plan then sets the configured days again.
        state.log_retention_days = live.map_or(Value::Null, Value::Value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_groups_name_is_read_from_either_form_of_its_arn() {
        let arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/nami-p-pre-queue";
        assert_eq!(name_in(arn), "/aws/lambda/nami-p-pre-queue");
        assert_eq!(name_in(&format!("{arn}:*")), "/aws/lambda/nami-p-pre-queue");
    }

    #[test]
    fn drifted_retention_shows_in_state() {
        let facts = |days| {
            Some(LogGroupFacts {
                arn: "arn".into(),
                retention_days: days,
            })
        };
        let mut state = PipelineState {
            log_retention_days: Value::Value(30),
            ..Default::default()
        };
        read_back(&[facts(Some(30)), facts(Some(30))], &mut state);
        assert_eq!(state.log_retention_days, Value::Value(30));
        read_back(&[facts(Some(30)), facts(Some(7))], &mut state);
        assert_eq!(state.log_retention_days, Value::Value(7));
        state.log_retention_days = Value::Value(30);
        read_back(&[None, facts(None)], &mut state);
        assert_eq!(state.log_retention_days, Value::Null);
    }
}
