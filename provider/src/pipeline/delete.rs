//! Destroy: every object by its id in state, in reverse dependency order, and only objects that
//! carry the pipeline's name and owner token (see [`crate::ownership`]); an object already gone
//! counts as deleted.
//!
//! Order: API and mapping (nothing new arrives, nothing is polled) → functions → store instance
//! → roles, queue, data volume (unless retained), store group → function group, DLQ → managed
//! network.

use tokio::time::Instant;

use super::ids::{Ids, with_id};
use crate::aws::{AwsError, Clients};
use crate::components::store::instance;
use crate::components::{Context, api, functions, iam, mapping, network, queue, security_groups};
use crate::lookup::inventory;
use crate::model::PipelineState;

/// Deletes everything `state` names that the pipeline owns, by the deadline. Returns the objects
/// the state names that belong to someone else: left untouched.
pub async fn teardown(
    clients: &Clients,
    state: &PipelineState,
    deadline: Instant,
) -> Result<Vec<String>, AwsError> {
    let name = state
        .name
        .as_ref_option()
        .map(String::as_str)
        .unwrap_or_default();
    let token = state.owner_token.as_ref_option().map(String::as_str);
    let found = inventory(clients, name).await?;
    let owned = Ids::from_state(state).owned(&found, name, token);
    let tags = Default::default();
    let ctx = Context {
        clients,
        name,
        tags: &tags,
        owner: token,
        deadline,
    };
    let store = state.store.as_ref_option().cloned().unwrap_or_default();
    let scope = Scope {
        data_volume: store.is_managed() && store.retain_volume.as_ref_option() == Some(&false),
        network: owned.ids.has_managed_network(),
    };
    remove(ctx, &owned.ids, scope).await?;
    if let Some(volume_id) = owned
        .ids
        .data_volume_id
        .as_deref()
        .filter(|_| !scope.data_volume)
    {
        instance::mark_retained(clients, volume_id).await?;
    }
    Ok(owned.foreign)
}

/// What a removal deletes besides the objects that are only the pipeline's.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    /// The data volume (kept with `retain_volume`).
    pub data_volume: bool,
    /// The VPC and subnets (a network the user gave is never deleted).
    pub network: bool,
}

/// Deletes the objects `ids` names, in reverse dependency order.
pub async fn remove(ctx: Context<'_>, ids: &Ids, scope: Scope) -> Result<(), AwsError> {
    let clients = ctx.clients;
    tokio::try_join!(
        with_id(ids.api_id.as_deref(), |id| api::delete(clients, id)),
        with_id(ids.mapping_id.as_deref(), |id| mapping::delete(clients, id)),
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
    tokio::try_join!(
        with_id(ids.pre_queue_role_arn.as_deref(), |arn| iam::delete_role(
            clients, arn
        )),
        with_id(ids.post_queue_role_arn.as_deref(), |arn| iam::delete_role(
            clients, arn
        )),
        with_id(ids.queue.as_ref().map(|q| q.url.as_str()), |url| {
            queue::delete(clients, url)
        }),
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
        with_id(ids.dlq.as_ref().map(|q| q.url.as_str()), |url| {
            queue::delete(clients, url)
        }),
    )?;
    if scope.network {
        network::delete_managed(ctx, &ids.managed_network()).await?;
    }
    Ok(())
}
