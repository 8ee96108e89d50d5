//! Destroy, refused while pipelines use the store; then in reverse order of create: snapshots'
//! policy → instance → roles → root secret → data volume (unless retained: then marked so) →
//! security group → the store's own network. Snapshots already taken stay.

use std::time::Duration;

use nami_contract::naming::store_stem;
use tf_provider::value::Value;
use tokio::time::Instant;

use super::state::StoreState;
use crate::aws::{AwsError, Clients};
use crate::components::network;
use crate::components::store::{instance, shared, snapshots};
use crate::components::{Context, Owner, iam, secret, security_groups};
use crate::model::string_map;

/// Deletes every object of the store, within `timeout`.
pub async fn teardown(
    clients: &Clients,
    state: &StoreState,
    timeout: Duration,
) -> Result<(), AwsError> {
    let name = state.name.as_ref_option().map_or("", String::as_str);
    // Its pipelines store into it: they go first (or move to another store).
    let tenants = shared::tenants(clients, name).await?;
    if !tenants.is_empty() {
        return Err(AwsError::Unusable(format!(
            "store {name:?} is used by pipeline{} {}: destroy {} or point {} at another store first; nothing was deleted",
            if tenants.len() == 1 { "" } else { "s" },
            tenants.join(", "),
            if tenants.len() == 1 { "it" } else { "them" },
            if tenants.len() == 1 { "it" } else { "them" },
        )));
    }
    let stem = store_stem(name);
    let tags = string_map(&state.tags);
    let ctx = Context {
        clients,
        kind: Owner::Store,
        name: &stem,
        tags: &tags,
        owner: state.owner_token.as_ref_option().map(String::as_str),
        deadline: Instant::now() + timeout,
    };
    let id = |field: &Value<String>| field.as_ref_option().cloned();
    if let Some(policy) = id(&state.snapshot_policy_id) {
        snapshots::delete(clients, &policy).await?;
    }
    if let Some(instance_id) = id(&state.instance_id) {
        instance::terminate(ctx, &instance_id).await?;
    }
    if let Some(role) = id(&state.role_arn) {
        iam::delete_store_role(clients, &role).await?;
    }
    if let Some(role) = id(&state.snapshot_role_arn) {
        iam::delete_role(clients, &role).await?;
    }
    if let Some(arn) = id(&state.root_secret_arn) {
        secret::delete(clients, &arn).await?;
    }
    if let Some(volume_id) = id(&state.data_volume_id) {
        if state.retain_volume.as_ref_option() == Some(&false) {
            instance::delete_volume(ctx, &volume_id).await?;
        } else {
            instance::mark_retained(clients, &volume_id).await?;
            snapshots::untarget(clients, &volume_id).await?;
        }
    }
    if let Some(group_id) = id(&state.security_group_id) {
        security_groups::delete(ctx, &group_id).await?;
    }
    if state.managed_network() {
        network::delete_managed(ctx, &state.network_ids()).await?;
    }
    Ok(())
}
