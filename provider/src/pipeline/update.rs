//! Update in place: [`converge`] brings existing objects to the planned settings, changing only
//! what differs from what AWS reports; [`retag`] re-tags every object after a tag change.

use nami_contract::naming::Function;

use super::create::{environments, store_connection};
use super::error::ApplyError;
use super::ids::{Ids, MissingId, need};
use super::spec::Spec;
use crate::aws::TagChange;
use crate::components::store::{StoreKind, UriSource, instance, snapshots};
use crate::components::{
    Context, alarms, api, dashboard, functions, iam, logs, mapping, queue, replay, retag_ec2,
    secret,
};
use crate::model::{PipelineState, string_map};

/// Brings existing objects to `spec`, changing only what differs. `prior` is the state before
/// this apply (`None` on create).
pub async fn converge(
    ctx: Context<'_>,
    spec: &Spec,
    prior: Option<&PipelineState>,
    ids: &mut Ids,
) -> Result<(), ApplyError> {
    let clients = ctx.clients;
    let main = ids.queue.clone().ok_or(MissingId("queue_url"))?;
    let dlq = ids.dlq.clone().ok_or(MissingId("dlq_url"))?;
    let mapping_id = need(&ids.mapping_id, "event_source_mapping_id")?.to_owned();
    let pre_arn = need(&ids.pre_queue_function_arn, "pre_queue_function_arn")?;
    let post_arn = need(&ids.post_queue_function_arn, "post_queue_function_arn")?;
    let (queue_facts, dlq_facts, pre, post, mapping_facts) = tokio::try_join!(
        queue::find(clients, &main.url),
        queue::find(clients, &dlq.url),
        functions::find(clients, pre_arn),
        functions::find(clients, post_arn),
        mapping::find(clients, &mapping_id),
    )?;
    if spec.queue.drifted(queue_facts.as_ref(), dlq_facts.as_ref()) {
        queue::update(ctx, &spec.queue, &main, &dlq).await?;
    }
    let log_groups: &Ids = ids;
    let retention = |function| async move {
        match log_groups.log_group_arn(function) {
            Some(arn) => logs::converge(clients, arn, spec.logs.retention_days).await,
            None => Ok(()),
        }
    };
    tokio::try_join!(
        retention(Function::PreQueue),
        retention(Function::PostQueue)
    )?;

    if let (Some(prior), Some(settings)) = (prior, spec.store.managed()) {
        let prior_store = prior.store.as_ref_option().cloned().unwrap_or_default();
        let grows = prior_store
            .volume_size
            .as_ref_option()
            .is_some_and(|&old| old < i64::from(settings.volume_size));
        if grows {
            let volume_id = need(&ids.data_volume_id, "data_volume_id")?;
            instance::resize_volume(ctx, volume_id, settings.volume_size).await?;
        }
        if prior_store.retain_volume.as_ref_option() != Some(&settings.retain_volume) {
            let volume_id = need(&ids.data_volume_id, "data_volume_id")?;
            instance::record_retention(clients, volume_id, settings.retain_volume).await?;
        }
    }
    converge_snapshots(ctx, spec, prior, ids).await?;

    // The values given in the configuration, as configured, in the pipeline's secrets.
    let by_value = spec.signature.secret.as_ref_option();
    if let (Some(value), Some(arn)) = (by_value, &ids.signing_secret_arn) {
        secret::converge(clients, arn, value).await?;
    }
    let uri_by_value = match &spec.store.kind {
        StoreKind::External(UriSource::Value(mongodb_uri)) => Some(mongodb_uri),
        _ => None,
    };
    if let (Some(mongodb_uri), Some(arn)) = (uri_by_value, &ids.store_uri_secret_arn) {
        secret::converge(clients, arn, mongodb_uri).await?;
    }
    // What the prior state has and this configuration no longer uses (a value now given by ARN,
    // a replay window removed) goes once the functions no longer read or write it. (The plan
    // already dropped its id: it is the prior state's.)
    let unused = |id: fn(&PipelineState) -> &crate::model::Str, used: bool| {
        prior
            .and_then(|prior| id(prior).as_ref_option().cloned())
            .filter(|_| !used)
    };
    let unused_secrets = [
        unused(|s| &s.signing_secret_arn, by_value.is_some()),
        unused(|s| &s.store_uri_secret_arn, uri_by_value.is_some()),
    ];
    let unused_table = unused(
        |s| &s.replay_table_arn,
        spec.signature.replay_window_seconds.is_value(),
    );

    let connection = store_connection(clients, spec, ids, None).await?;
    let mut environments = environments(spec, ids, &main.url, &connection);
    for (function, facts) in [(Function::PreQueue, pre), (Function::PostQueue, post)] {
        let (Some(facts), Some(environment)) = (facts, environments.remove(&function)) else {
            continue;
        };
        functions::converge(ctx, &facts, spec.function(function), environment).await?;
    }
    for arn in unused_secrets.into_iter().flatten() {
        secret::delete(clients, &arn).await?;
    }
    if let Some(arn) = unused_table {
        replay::delete(clients, &arn).await?;
    }

    if mapping_facts.is_some_and(|facts| spec.mapping.drifted(&facts)) {
        mapping::update(ctx, &mapping_id, &spec.mapping).await?;
    }

    if let Some(prior) = prior {
        retag_and_rename(ctx, spec, prior, ids).await?;
    }
    // After a rename: the throttle is the (new) stage's.
    let api_id = need(&ids.api_id, "api_id")?;
    api::throttle(ctx, api_id, &spec.api.stage, spec.api.throttle).await?;
    converge_alarms(ctx, spec, prior, ids).await?;
    if spec.dashboard {
        let alarm_arns = ids.alarm_arns.values().cloned();
        ids.dashboard_url = Some(dashboard::ensure(ctx, &spec.api.stage, alarm_arns).await?);
    } else {
        // The plan dropped its URL: the live dashboard says whether it is this pipeline's.
        dashboard::delete_owned(ctx).await?;
        ids.dashboard_url = None;
    }
    Ok(())
}

/// Puts every alarm again (`PutMetricAlarm` updates in place: thresholds, actions, the stage);
/// with alarms turned off, deletes the prior state's.
async fn converge_alarms(
    ctx: Context<'_>,
    spec: &Spec,
    prior: Option<&PipelineState>,
    ids: &mut Ids,
) -> Result<(), ApplyError> {
    if spec.alarms.enabled {
        let put = alarms::put(ctx, alarms::Alarm::ALL, &spec.alarms, &spec.api.stage).await?;
        ids.alarm_arns.extend(put);
    } else if let Some(prior) = prior {
        // The plan dropped the ids: they are the prior state's.
        alarms::delete(ctx.clients, ctx.name, &alarms::arns_from_state(prior)).await?;
        ids.alarm_arns.clear();
    }
    Ok(())
}

/// Brings the snapshot policy to the configured retention (and back to enabled, targeting the
/// data volume, run as its role); removes policy, target tag and role once unset.
async fn converge_snapshots(
    ctx: Context<'_>,
    spec: &Spec,
    prior: Option<&PipelineState>,
    ids: &Ids,
) -> Result<(), ApplyError> {
    let clients = ctx.clients;
    let retention = spec.store.managed().and_then(|s| s.snapshot_retention_days);
    match (retention, &ids.snapshot_policy_id, &ids.snapshot_role_arn) {
        (Some(days), Some(policy_id), Some(role_arn)) => {
            let facts = snapshots::find(clients, policy_id).await?;
            if facts.is_some_and(|facts| facts.drifted(ctx.name, role_arn, days)) {
                snapshots::update(ctx, policy_id, role_arn, days).await?;
            }
        }
        (None, _, _) => {
            // The plan dropped the ids: they are the prior state's. The policy goes first (it
            // runs as the role).
            let prior_id = |id: fn(&PipelineState) -> &crate::model::Str| {
                prior.and_then(|prior| id(prior).as_ref_option().cloned())
            };
            if let Some(policy_id) = prior_id(|s| &s.snapshot_policy_id) {
                snapshots::delete(clients, &policy_id).await?;
            }
            if let Some(role_arn) = prior_id(|s| &s.snapshot_role_arn) {
                if let Some(volume_id) = ids.data_volume_id.as_deref() {
                    snapshots::untarget(clients, volume_id).await?;
                }
                iam::delete_role(clients, &role_arn).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// What an update changes beyond settings: tags, and the stage's name.
async fn retag_and_rename(
    ctx: Context<'_>,
    spec: &Spec,
    prior: &PipelineState,
    ids: &Ids,
) -> Result<(), ApplyError> {
    let clients = ctx.clients;
    let prior_tags = string_map(&prior.tags_all);
    if prior_tags != crate::aws::tags_all(&clients.default_tags, &spec.tags) {
        let change = TagChange::new(&prior_tags, ctx.object_tags());
        retag(ctx, ids, &change).await?;
    }
    let old_stage = prior.stage.as_ref_option();
    if let Some(old_stage) =
        old_stage.filter(|old| prior.endpoint_url.is_value() && **old != spec.api.stage)
    {
        let api_id = need(&ids.api_id, "api_id")?;
        let function_arn = need(&ids.pre_queue_function_arn, "pre_queue_function_arn")?;
        let account = iam::account_of(function_arn)
            .ok_or(MissingId("the account in pre_queue_function_arn"))?;
        let invoke = api::Invoke {
            account,
            function_arn,
        };
        api::rename_stage(ctx, api_id, old_stage, &spec.api.stage, invoke).await?;
    }
    Ok(())
}

/// Terminates the store instance an update replaces (a new type or image: the plan shows its id
/// unknown), so that `ensure` launches its successor and moves the data volume over.
pub async fn retire_replaced_instance(
    ctx: Context<'_>,
    prior: &PipelineState,
    ids: &Ids,
) -> Result<(), ApplyError> {
    match prior.instance_id.as_ref_option() {
        Some(old) if ids.instance_id.as_ref() != Some(old) => {
            instance::terminate(ctx, old).await?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Applies a tag change to every object of the pipeline.
pub async fn retag(ctx: Context<'_>, ids: &Ids, change: &TagChange) -> Result<(), ApplyError> {
    let clients = ctx.clients;
    let mut ec2_ids: Vec<String> = [
        &ids.security_group_id,
        &ids.store_security_group_id,
        &ids.instance_id,
        &ids.data_volume_id,
        &ids.internet_gateway_id,
        &ids.route_table_id,
        &ids.endpoint_security_group_id,
        &ids.secrets_endpoint_id,
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    if ids.has_managed_network() {
        ec2_ids.extend(ids.vpc_id.clone());
        ec2_ids.extend(ids.subnet_ids.iter().cloned());
    }
    for queue_ids in [&ids.queue, &ids.dlq].into_iter().flatten() {
        queue::retag(clients, &queue_ids.url, change).await?;
    }
    for arn in [&ids.pre_queue_function_arn, &ids.post_queue_function_arn]
        .into_iter()
        .flatten()
    {
        functions::retag(clients, arn, change).await?;
    }
    for arn in [
        &ids.pre_queue_role_arn,
        &ids.post_queue_role_arn,
        &ids.store_role_arn,
        &ids.snapshot_role_arn,
    ]
    .into_iter()
    .flatten()
    {
        iam::retag(clients, arn, change).await?;
    }
    if let Some(policy_id) = &ids.snapshot_policy_id {
        snapshots::retag(clients, policy_id, change).await?;
    }
    if let Some(api_id) = &ids.api_id {
        api::retag(clients, api_id, change).await?;
    }
    if let Some(arn) = &ids.replay_table_arn {
        replay::retag(clients, arn, change).await?;
    }
    for arn in ids.alarm_arns.values() {
        alarms::retag(clients, arn, change).await?;
    }
    for arn in [&ids.pre_queue_log_group_arn, &ids.post_queue_log_group_arn]
        .into_iter()
        .flatten()
    {
        logs::retag(clients, arn, change).await?;
    }
    for arn in ids.secret_arns() {
        secret::retag(clients, arn, change).await?;
    }
    retag_ec2(clients, &ec2_ids, change).await?;
    Ok(())
}
