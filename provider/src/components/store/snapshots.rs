//! The managed store's daily snapshots (`store.snapshot_retention_days`): a Data Lifecycle
//! Manager policy that snapshots the data volume once a day and deletes each snapshot after the
//! retention, run as a role of the pipeline's own ([`crate::components::iam::snapshot_policy`]).
//!
//! The policy finds the volume by a tag only the data volume carries ([`TARGET_TAG`], the
//! pipeline's name; the root volume, tagged as the pipeline's too, is not snapshotted). DLM
//! policies have no name: the policy's description is `nami-<name>-snapshots`, its tags are the
//! pipeline's, and the inventory finds it by its target tag. Snapshots outlive the policy: a
//! destroy deletes the policy and leaves the snapshots already taken (data, like a retained
//! volume; they carry the pipeline's tags).

use std::collections::HashMap;

use aws_sdk_dlm::types::{
    CreateRule, GettablePolicyStateValues, IntervalUnitValues, PolicyDetails, PolicyTypeValues,
    ResourceLocationValues, ResourceTypeValues, RetainRule, RetentionIntervalUnitValues, Schedule,
    SettablePolicyStateValues, Tag,
};
use nami_contract::limits::Limit;
use nami_contract::naming::{OWNER_TAG, PIPELINE_TAG, Part};

use crate::aws::{AwsError, Clients, OptionalNotFound, TagChange, aws_error, returned};
use crate::components::{Context, retag_ec2};
use crate::model::{PipelineState, block, value_of};
use crate::ownership::{Kind, Tagged};
use tf_provider::value::Value;

/// Days a daily snapshot is kept: one day up to DLM's longest retention (100 years). The
/// attribute has no default: unset, there are no snapshots.
pub const RETENTION_DAYS: Limit = Limit::new(1, 36_500, 7);

/// The tag on the data volume (only it) that the snapshot policy targets: the pipeline's name.
pub const TARGET_TAG: &str = "nami:snapshots";

/// When the daily snapshot starts (UTC; DLM starts it within the hour after).
pub const START_TIME_UTC: &str = "03:00";

/// The policy's one schedule.
const SCHEDULE_NAME: &str = "daily";

/// What a snapshot policy says, as DLM reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFacts {
    /// Days each snapshot is kept (`None`: not an age-based daily schedule of ours).
    pub retention_days: Option<i32>,
    /// Whether the policy runs.
    pub enabled: bool,
    /// The pipeline whose data volume it targets (the value of [`TARGET_TAG`]).
    pub target: Option<String>,
    /// The role it runs as.
    pub role_arn: Option<String>,
}

impl PolicyFacts {
    /// Whether the policy differs from a daily schedule keeping `retention_days`, for `pipeline`,
    /// run as `role_arn`.
    pub fn drifted(&self, pipeline: &str, role_arn: &str, retention_days: i32) -> bool {
        self.retention_days != Some(retention_days)
            || !self.enabled
            || self.target.as_deref() != Some(pipeline)
            || self.role_arn.as_deref() != Some(role_arn)
    }
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

/// The policy's details: the volume tagged [`TARGET_TAG`] = `pipeline`, snapshotted every 24
/// hours from [`START_TIME_UTC`], each snapshot kept `retention_days` days and tagged as the
/// pipeline's (`owner`: its token), so the role may delete it.
pub fn policy_details(
    pipeline: &str,
    owner: Option<&str>,
    retention_days: i32,
) -> Result<PolicyDetails, AwsError> {
    let create = CreateRule::builder()
        .interval(24)
        .interval_unit(IntervalUnitValues::Hours)
        .times(START_TIME_UTC)
        .build();
    let retain = RetainRule::builder()
        .interval(retention_days)
        .interval_unit(RetentionIntervalUnitValues::Days)
        .build();
    let mut snapshot_tags = vec![tag(PIPELINE_TAG, pipeline)];
    if let Some(owner) = owner {
        snapshot_tags.push(tag(OWNER_TAG, owner));
    }
    let schedule = Schedule::builder()
        .name(SCHEDULE_NAME)
        .create_rule(create)
        .retain_rule(retain)
        .copy_tags(false)
        .set_tags_to_add(Some(snapshot_tags))
        .build();
    Ok(PolicyDetails::builder()
        .policy_type(PolicyTypeValues::EbsSnapshotManagement)
        .resource_types(ResourceTypeValues::Volume)
        .resource_locations(ResourceLocationValues::Cloud)
        .target_tags(tag(TARGET_TAG, pipeline))
        .schedules(schedule)
        .build())
}

/// What `details` say: the retention of a daily age-based schedule, and the target.
pub fn facts_of(
    details: Option<&PolicyDetails>,
    enabled: bool,
    role_arn: Option<String>,
) -> PolicyFacts {
    let schedules = details.map(|d| d.schedules()).unwrap_or_default();
    let daily = match schedules {
        [only] => Some(only),
        _ => None,
    };
    let every_day = daily.and_then(Schedule::create_rule).is_some_and(|rule| {
        rule.interval() == Some(24) && rule.interval_unit() == Some(&IntervalUnitValues::Hours)
    });
    let retention_days = daily
        .and_then(Schedule::retain_rule)
        .filter(|rule| rule.interval_unit() == Some(&RetentionIntervalUnitValues::Days))
        .and_then(RetainRule::interval)
        .filter(|&days| every_day && days > 0);
    let target = details
        .map(|d| d.target_tags())
        .unwrap_or_default()
        .iter()
        .find(|tag| tag.key() == Some(TARGET_TAG))
        .and_then(|tag| tag.value().map(str::to_owned));
    PolicyFacts {
        retention_days,
        enabled,
        target,
        role_arn,
    }
}

/// Tags the data volume as the one the policy snapshots (removed again by [`untarget`]).
pub async fn target(ctx: Context<'_>, volume_id: &str) -> Result<(), AwsError> {
    let change = TagChange {
        tags: [(TARGET_TAG.to_owned(), ctx.name.to_owned())].into(),
        removed: Vec::new(),
    };
    retag_ec2(ctx.clients, &[volume_id.to_owned()], &change).await
}

/// Removes the target tag from a volume: no policy of this name snapshots it any more (snapshots
/// turned off, or the volume retained by a destroy, so that a later pipeline of the same name
/// does not snapshot a volume it did not adopt).
pub async fn untarget(clients: &Clients, volume_id: &str) -> Result<(), AwsError> {
    let change = TagChange {
        tags: Default::default(),
        removed: vec![TARGET_TAG.to_owned()],
    };
    retag_ec2(clients, &[volume_id.to_owned()], &change).await
}

/// Creates the policy, enabled, run as `role_arn`. Returns its id.
pub async fn create(
    ctx: Context<'_>,
    role_arn: &str,
    retention_days: i32,
) -> Result<String, AwsError> {
    let details = policy_details(ctx.name, ctx.owner, retention_days)?;
    let tags: HashMap<String, String> = ctx.object_tags().into_iter().collect();
    // A role made moments ago may not be assumable yet: DLM then refuses it, naming the role.
    let propagating = crate::aws::has_code_and_message("InvalidRequestException", "role");
    let output = crate::aws::retry_while(propagating, ctx.deadline, || async {
        ctx.clients
            .dlm
            .create_lifecycle_policy()
            .execution_role_arn(role_arn)
            .description(ctx.object_name(Part::Snapshots))
            .state(SettablePolicyStateValues::Enabled)
            .policy_details(details.clone())
            .set_tags(Some(tags.clone()))
            .send()
            .await
            .map_err(aws_error("dlm:CreateLifecyclePolicy"))
    })
    .await?;
    returned("dlm:CreateLifecyclePolicy", output.policy_id)
}

/// Brings the policy back to a daily schedule keeping `retention_days`, enabled, run as
/// `role_arn`.
pub async fn update(
    ctx: Context<'_>,
    policy_id: &str,
    role_arn: &str,
    retention_days: i32,
) -> Result<(), AwsError> {
    ctx.clients
        .dlm
        .update_lifecycle_policy()
        .policy_id(policy_id)
        .execution_role_arn(role_arn)
        .state(SettablePolicyStateValues::Enabled)
        .description(ctx.object_name(Part::Snapshots))
        .policy_details(policy_details(ctx.name, ctx.owner, retention_days)?)
        .send()
        .await
        .map_err(aws_error("dlm:UpdateLifecyclePolicy"))?;
    Ok(())
}

/// The policy `policy_id` as DLM holds it, or `None` when it does not exist.
async fn get(
    clients: &Clients,
    policy_id: &str,
) -> Result<Option<aws_sdk_dlm::types::LifecyclePolicy>, AwsError> {
    Ok(clients
        .dlm
        .get_lifecycle_policy()
        .policy_id(policy_id)
        .send()
        .await
        .map_err(aws_error("dlm:GetLifecyclePolicy"))
        .found()?
        .and_then(|output| output.policy))
}

/// The policy `policy_id`, or `None` when it does not exist.
pub async fn find(clients: &Clients, policy_id: &str) -> Result<Option<PolicyFacts>, AwsError> {
    let policy = get(clients, policy_id).await?;
    Ok(policy.map(|policy| {
        let enabled = policy.state == Some(GettablePolicyStateValues::Enabled);
        facts_of(
            policy.policy_details.as_ref(),
            enabled,
            policy.execution_role_arn,
        )
    }))
}

/// Deletes the policy (DLM stops taking snapshots; those taken stay); a missing one is already
/// deleted.
pub async fn delete(clients: &Clients, policy_id: &str) -> Result<(), AwsError> {
    let call = clients.dlm.delete_lifecycle_policy().policy_id(policy_id);
    crate::aws::delete("dlm:DeleteLifecyclePolicy", call.send()).await
}

/// The policy's ARN (DLM tags by ARN): `arn:aws:dlm:<region>:<account>:policy/<id>`.
async fn policy_arn(clients: &Clients, policy_id: &str) -> Result<String, AwsError> {
    let policy = get(clients, policy_id).await?;
    returned("dlm:GetLifecyclePolicy", policy.and_then(|p| p.policy_arn))
}

/// Applies a tag change to the policy.
pub async fn retag(clients: &Clients, policy_id: &str, change: &TagChange) -> Result<(), AwsError> {
    let arn = policy_arn(clients, policy_id).await?;
    change
        .apply(
            async |tags| {
                clients
                    .dlm
                    .tag_resource()
                    .resource_arn(&arn)
                    .set_tags(Some(tags.clone().into_iter().collect()))
                    .send()
                    .await
                    .map_err(aws_error("dlm:TagResource"))
            },
            async |removed| {
                clients
                    .dlm
                    .untag_resource()
                    .resource_arn(&arn)
                    .set_tag_keys(Some(removed.to_vec()))
                    .send()
                    .await
                    .map_err(aws_error("dlm:UntagResource"))
            },
        )
        .await
}

/// Writes what DLM reports into `state`: the retention of an enabled daily policy targeting this
/// pipeline's volume as its role (otherwise null, so the plan shows the configured value to put
/// back), and the policy's id cleared when it is gone.
pub async fn read_back(clients: &Clients, state: &mut PipelineState) -> Result<(), AwsError> {
    let Some(policy_id) = state.snapshot_policy_id.as_ref_option().cloned() else {
        return Ok(());
    };
    let Some(facts) = find(clients, &policy_id).await? else {
        state.snapshot_policy_id = Value::Null;
        return Ok(());
    };
    let pipeline = state.name.as_ref_option().cloned().unwrap_or_default();
    let role_arn = state.snapshot_role_arn.as_ref_option().cloned();
    let as_configured = facts.retention_days.filter(|&days| {
        role_arn
            .as_deref()
            .is_some_and(|role| !facts.drifted(&pipeline, role, days))
    });
    block(&mut state.store).snapshot_retention_days = value_of(as_configured.map(i64::from));
    Ok(())
}

/// The policies targeting `pipeline`'s data volume, with their tags. DLM is asked only when
/// `role_found`: the policy's role is created before it and deleted after it, so without the
/// role no policy of the pipeline's can exist (and pipelines without snapshots never call DLM).
pub async fn inventory(
    clients: &Clients,
    pipeline: &str,
    role_found: bool,
) -> Result<Vec<Tagged>, AwsError> {
    if !role_found {
        return Ok(Vec::new());
    }
    let policies = clients
        .dlm
        .get_lifecycle_policies()
        .target_tags(format!("{TARGET_TAG}={pipeline}"))
        .send()
        .await
        .map_err(aws_error("dlm:GetLifecyclePolicies"))
        .found()?
        .and_then(|output| output.policies)
        .unwrap_or_default();
    Ok(policies
        .into_iter()
        .filter_map(|policy| {
            let id = policy.policy_id?;
            let tags = policy.tags.unwrap_or_default();
            Some(Tagged::new(Kind::SnapshotPolicy, id, tags))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/nami-ledger-snapshots";

    #[test]
    fn the_policy_snapshots_the_tagged_data_volume_daily_and_keeps_each_the_configured_days() {
        let details = policy_details("ledger", Some("tok"), 14).unwrap();
        assert_eq!(
            details.policy_type(),
            Some(&PolicyTypeValues::EbsSnapshotManagement)
        );
        assert_eq!(details.resource_types(), [ResourceTypeValues::Volume]);
        let targets: Vec<_> = (details.target_tags().iter())
            .map(|t| (t.key(), t.value()))
            .collect();
        assert_eq!(targets, [(Some(TARGET_TAG), Some("ledger"))]);
        let [schedule] = details.schedules() else {
            panic!("one schedule")
        };
        let create = schedule.create_rule().unwrap();
        assert_eq!(create.interval(), Some(24));
        assert_eq!(create.interval_unit(), Some(&IntervalUnitValues::Hours));
        assert_eq!(create.times(), [START_TIME_UTC]);
        let retain = schedule.retain_rule().unwrap();
        assert_eq!(retain.interval(), Some(14));
        assert_eq!(retain.count(), None, "age-based, not count-based");
        let tags: Vec<_> = (schedule.tags_to_add().iter())
            .map(|t| (t.key(), t.value()))
            .collect();
        assert_eq!(
            tags,
            [
                (Some(PIPELINE_TAG), Some("ledger")),
                (Some(OWNER_TAG), Some("tok"))
            ]
        );
    }

    #[test]
    fn the_facts_read_back_what_the_details_say_and_drift_shows_every_difference() {
        let details = policy_details("ledger", None, 30).unwrap();
        let facts = facts_of(Some(&details), true, Some(ROLE.into()));
        assert_eq!(facts.retention_days, Some(30));
        assert_eq!(facts.target.as_deref(), Some("ledger"));
        assert!(!facts.drifted("ledger", ROLE, 30));
        assert!(facts.drifted("ledger", ROLE, 31), "another retention");
        assert!(facts.drifted("other", ROLE, 30), "another target");
        assert!(facts.drifted("ledger", "arn:aws:iam::1:role/x", 30));
        let disabled = facts_of(Some(&details), false, Some(ROLE.into()));
        assert!(disabled.drifted("ledger", ROLE, 30), "disabled out of band");
        // A schedule edited out of band into something else is no retention of ours.
        let weekly = PolicyDetails::builder()
            .schedules(
                Schedule::builder()
                    .create_rule(
                        CreateRule::builder()
                            .interval(12)
                            .interval_unit(IntervalUnitValues::Hours)
                            .build(),
                    )
                    .retain_rule(RetainRule::builder().count(5).build())
                    .build(),
            )
            .build();
        assert_eq!(facts_of(Some(&weekly), true, None).retention_days, None);
        assert_eq!(facts_of(None, true, None).retention_days, None);
    }

    #[test]
    fn the_description_is_one_dlm_accepts() {
        // DLM: 1–500 characters of [0-9A-Za-z _-].
        let name = nami_contract::naming::object_name(
            "a-pipeline-of-forty-characters-long-0001",
            Part::Snapshots,
        );
        assert!(name.len() <= 500);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || " _-".contains(c))
        );
    }
}
