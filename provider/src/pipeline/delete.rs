//! Destroy: every object by its id in state, in reverse dependency order; an object already
//! gone counts as deleted.
//!
//! Order: API and mapping (nothing new arrives, nothing is polled) → functions → store instance
//! → roles, queue, data volume (unless retained), store group → function group, DLQ → managed
//! network.

use nami_contract::naming::Function;
use tokio::time::Instant;

use super::ids::{Ids, with_id};
use crate::aws::{AwsError, Clients};
use crate::components::store::instance;
use crate::components::{Context, api, functions, iam, mapping, network, queue, security_groups};
use crate::model::PipelineState;

/// Deletes everything `state` names, by the deadline.
pub async fn teardown(
    clients: &Clients,
    state: &PipelineState,
    deadline: Instant,
) -> Result<(), AwsError> {
    let ids = Ids::from_state(state);
    let name = state
        .name
        .as_ref_option()
        .map(String::as_str)
        .unwrap_or_default();
    let tags = Default::default();
    let ctx = Context {
        clients,
        name,
        tags: &tags,
        deadline,
    };

    tokio::try_join!(
        with_id(ids.api_id.as_deref(), |id| api::delete(clients, id)),
        with_id(ids.mapping_id.as_deref(), |id| mapping::delete(clients, id)),
    )?;
    tokio::try_join!(
        functions::delete(clients, name, Function::PreQueue),
        functions::delete(clients, name, Function::PostQueue),
    )?;
    // The store's instance next; its volume stays unless retain_volume is false.
    with_id(ids.instance_id.as_deref(), |id| {
        instance::terminate(ctx, id)
    })
    .await?;
    let store = state.store.as_ref_option().cloned().unwrap_or_default();
    let delete_volume = store.is_managed() && store.retain_volume.as_ref_option() == Some(&false);
    let volume_id = ids.data_volume_id.as_deref().filter(|_| delete_volume);
    tokio::try_join!(
        iam::delete_role(clients, name, Function::PreQueue),
        iam::delete_role(clients, name, Function::PostQueue),
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
    if ids.has_managed_network() {
        network::delete_managed(ctx, &ids.managed_network()).await?;
    }
    Ok(())
}
