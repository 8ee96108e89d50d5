//! Destroy: every object by its id in state, in reverse dependency order, and only objects that
//! carry the pipeline's name and owner token (see [`crate::ownership`]); an object already gone
//! counts as deleted.
//!
//! Queued data first: without `force_destroy`, a pipeline whose dead-letter queue holds messages
//! is left untouched, and one whose queue holds messages loses its API (nothing new is
//! acknowledged) and gets the rest of the delete timeout, halved, to drain through the still
//! running mapping; if either queue then holds messages, destroy stops there and says so.
//!
//! Then the order: API, mapping, snapshot policy, alarms and dashboard (nothing new arrives,
//! nothing is polled, snapshotted or watched) → functions → store instance → roles (the store's with its instance profile, the
//! snapshots'), queue, secrets, log groups and data volume (each unless retained), store group →
//! function group, DLQ → managed network. Snapshots already taken stay.

use tokio::time::Instant;

use super::ids::{Ids, with_id};
use crate::aws::{AwsError, Clients};
use crate::components::queue::HoldsMessages;
use crate::components::store::{instance, shared, snapshots};
use crate::components::{
    Context, Owner, alarms, api, dashboard, functions, iam, logs, mapping, network, queue, replay,
    secret, security_groups,
};
use crate::lookup::inventory;
use crate::model::PipelineState;

/// Why a destroy stopped.
#[derive(Debug, thiserror::Error)]
pub enum DestroyError {
    /// An AWS call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The queues hold messages and `force_destroy` is off.
    #[error(transparent)]
    HoldsMessages(#[from] HoldsMessages),
}

/// Deletes everything `state` names that the pipeline owns, by the deadline. Returns the objects
/// the state names that belong to someone else: left untouched.
pub async fn teardown(
    clients: &Clients,
    state: &PipelineState,
    deadline: Instant,
) -> Result<Vec<String>, DestroyError> {
    let name = state
        .name
        .as_ref_option()
        .map(String::as_str)
        .unwrap_or_default();
    let token = state.owner_token.as_ref_option().map(String::as_str);
    let found = inventory(clients, name).await?;
    let mut owned = Ids::from_state(state).owned(&found, name, token);
    let tags = Default::default();
    let ctx = Context {
        clients,
        kind: Owner::Pipeline,
        name,
        tags: &tags,
        owner: token,
        deadline,
    };
    let store = state.store.as_ref_option().cloned().unwrap_or_default();
    let scope = Scope {
        data_volume: store.is_managed() && store.retain_volume.as_ref_option() == Some(&false),
        network: owned.ids.has_managed_network(),
        log_groups: state.retain_logs.as_ref_option() != Some(&true),
    };
    if state.force_destroy.as_ref_option() != Some(&true)
        && keep_queued_data(ctx, &owned.ids).await? == ApiRemoved::Yes
    {
        owned.ids.api_id = None;
    }
    if let (Some(store_name), Some(function_group)) = (
        store.shared.as_ref_option(),
        owned.ids.security_group_id.as_deref(),
    ) {
        leave_shared_store(clients, store_name, function_group).await?;
    }
    remove(ctx, &owned.ids, scope).await?;
    if let Some(volume_id) = owned
        .ids
        .data_volume_id
        .as_deref()
        .filter(|_| !scope.data_volume)
    {
        instance::mark_retained(clients, volume_id).await?;
        // No later pipeline of this name snapshots a volume it did not adopt.
        if owned.ids.snapshot_role_arn.is_some() {
            snapshots::untarget(clients, volume_id).await?;
        }
    }
    if !scope.log_groups {
        for arn in owned.ids.log_group_arns() {
            logs::mark_retained(clients, arn).await?;
        }
    }
    Ok(owned.foreign)
}

/// Whether [`keep_queued_data`] removed the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ApiRemoved {
    Yes,
    No,
}

/// Refuses while the queues hold messages, after giving the main queue the time to drain: the
/// API goes first (nothing new is acknowledged), the mapping keeps storing.
async fn keep_queued_data(ctx: Context<'_>, ids: &Ids) -> Result<ApiRemoved, DestroyError> {
    let clients = ctx.clients;
    let (queue_url, dlq_url) = ids.queue_urls();
    let backlog = queue::backlog(clients, queue_url, dlq_url).await?;
    if backlog.is_empty() {
        return Ok(ApiRemoved::No);
    }
    let refusal = |backlog, stalled, api_removed| HoldsMessages {
        pipeline: ctx.name.to_owned(),
        backlog,
        stalled,
        api_removed,
    };
    if backlog.dlq > 0 {
        return Err(refusal(backlog, None, false).into());
    }
    let polling = match (&ids.mapping_id, &ids.post_queue_function_arn) {
        (Some(uuid), Some(_)) => mapping::find(clients, uuid)
            .await?
            .is_some_and(|mapping| mapping.enabled),
        _ => false,
    };
    if !polling {
        let stalled = "its event source mapping or post-queue function is missing or disabled";
        return Err(refusal(backlog, Some(stalled), false).into());
    }
    with_id(ids.api_id.as_deref(), |id| api::delete(clients, id)).await?;
    let remaining = ctx.deadline.saturating_duration_since(Instant::now());
    let until = Instant::now() + remaining / 2;
    let backlog = queue::wait_for_drain(clients, queue_url, dlq_url, until).await?;
    if backlog.is_empty() {
        return Ok(ApiRemoved::Yes);
    }
    let stalled = (backlog.queue > 0).then_some("it did not drain within half of timeouts.delete");
    Err(refusal(backlog, stalled, true).into())
}

/// Takes the function's rule off shared store `store_name`'s group (the store stays, with the
/// data; the pipeline's user goes with its secret). A store already gone has no rule to take.
async fn leave_shared_store(
    clients: &Clients,
    store_name: &str,
    function_group: &str,
) -> Result<(), AwsError> {
    let Some(instance) = shared::find_instance(clients, store_name).await? else {
        return Ok(());
    };
    for store_group in shared::groups_of(&instance) {
        security_groups::revoke_function(clients, &store_group, function_group).await?;
    }
    Ok(())
}

/// What a removal deletes besides the objects that are only the pipeline's.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    /// The data volume (kept with `retain_volume`).
    pub data_volume: bool,
    /// The VPC and subnets (a network the user gave is never deleted).
    pub network: bool,
    /// The functions' log groups (kept with `retain_logs`).
    pub log_groups: bool,
}

/// Deletes the objects `ids` names, in reverse dependency order.
pub async fn remove(ctx: Context<'_>, ids: &Ids, scope: Scope) -> Result<(), AwsError> {
    let clients = ctx.clients;
    tokio::try_join!(
        with_id(ids.api_id.as_deref(), |id| api::delete(clients, id)),
        with_id(ids.mapping_id.as_deref(), |id| mapping::delete(clients, id)),
        with_id(ids.snapshot_policy_id.as_deref(), |id| snapshots::delete(
            clients, id
        )),
        alarms::delete(clients, ctx.name, &ids.alarm_arns),
        with_id(ids.dashboard_url.as_deref(), |_| dashboard::delete(
            clients, ctx.name
        )),
    )?;
    tokio::try_join!(
        with_id(ids.pre_queue_function_arn.as_deref(), |arn| {
            functions::delete(clients, arn)
        }),
        with_id(ids.post_queue_function_arn.as_deref(), |arn| {
            functions::delete(clients, arn)
        }),
    )?;
    // The store's instance next; its volume stays unless the scope says otherwise.
    with_id(ids.instance_id.as_deref(), |id| {
        instance::terminate(ctx, id)
    })
    .await?;
    let volume_id = ids.data_volume_id.as_deref().filter(|_| scope.data_volume);
    let log_groups = (ids.log_group_arns()).filter(|_| scope.log_groups);
    tokio::try_join!(
        with_id(ids.pre_queue_role_arn.as_deref(), |arn| iam::delete_role(
            clients, arn
        )),
        with_id(ids.post_queue_role_arn.as_deref(), |arn| iam::delete_role(
            clients, arn
        )),
        with_id(ids.queue_urls().0, |url| { queue::delete(clients, url) }),
        with_id(ids.replay_table_arn.as_deref(), |arn| replay::delete(
            clients, arn
        )),
        with_id(ids.store_role_arn.as_deref(), |arn| iam::delete_store_role(
            clients, arn
        )),
        with_id(ids.snapshot_role_arn.as_deref(), |arn| iam::delete_role(
            clients, arn
        )),
        async {
            for arn in ids.secret_arns() {
                secret::delete(clients, arn).await?;
            }
            Ok(())
        },
        async {
            for arn in log_groups {
                logs::delete(clients, arn).await?;
            }
            Ok(())
        },
        with_id(volume_id, |id| instance::delete_volume(ctx, id)),
        with_id(ids.store_security_group_id.as_deref(), |id| {
            security_groups::delete(ctx, id)
        }),
    )?;
    // The function's group after the store's (whose rule names it), the DLQ last of the queues.
    tokio::try_join!(
        with_id(ids.security_group_id.as_deref(), |id| {
            security_groups::delete(ctx, id)
        }),
        with_id(ids.queue_urls().1, |url| { queue::delete(clients, url) }),
    )?;
    if scope.network {
        network::delete_managed(ctx, &ids.managed_network()).await?;
    }
    Ok(())
}
