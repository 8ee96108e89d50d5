//! Create and update: every object the store lacks is made (each id recorded in the state as
//! soon as it exists, so an apply that fails midway leaves state `destroy` cleans up), then what
//! differs is converged.
//!
//! Order: network → root secret, role (policy, instance profile), security group → data volume →
//! instance (then the volume attached) → snapshots.

use std::time::Duration;

use nami_contract::naming::{Part, store_stem};
use tf_provider::Diagnostics;
use tf_provider::value::Value;
use tokio::time::Instant;

use super::state::StoreState;
use crate::aws::{AwsError, Clients, TagChange};
use crate::components::network::{self, ExistingNetwork};
use crate::components::store::instance::{self, Boot, Placement};
use crate::components::store::{ManagedSettings, shared, snapshots};
use crate::components::{Context, Owner, iam, retag_ec2, secret, security_groups};
use crate::model::{str_list, string_map, strings};
use crate::ownership;

/// The id in `field`, when it is known.
fn id(field: &Value<String>) -> Option<&str> {
    field.as_ref_option().map(String::as_str)
}

/// The id a step before should have made.
fn need<'a>(field: &'a Value<String>, what: &str) -> Result<&'a str, AwsError> {
    id(field).ok_or_else(|| AwsError::Unusable(format!("the store's {what} is missing")))
}

/// Creates what is missing and converges the rest, within `timeout`; errors go to `diags` and
/// `state` keeps every id made so far. `prior` is the state before an update.
pub async fn apply(
    clients: &Clients,
    prior: Option<&StoreState>,
    state: &mut StoreState,
    timeout: Duration,
    diags: &mut Diagnostics,
) {
    if prior.is_none() {
        state.owner_token = Value::Value(ownership::generate_token());
    }
    // Unknown ids are the objects to make.
    for field in state.id_fields() {
        if field.is_unknown() {
            *field = Value::Null;
        }
    }
    if state.subnet_ids.is_unknown() {
        state.subnet_ids = Value::Null;
    }
    let settings = match state.settings() {
        Ok(settings) => settings,
        Err(error) => {
            diags.root_error("Invalid store configuration", error.to_string());
            return;
        }
    };
    let stem = store_stem(state.name.as_ref_option().map_or("", String::as_str));
    let tags = string_map(&state.tags);
    let owner = state.owner_token.as_ref_option().cloned();
    let ctx = Context {
        clients,
        kind: Owner::Store,
        name: &stem,
        tags: &tags,
        owner: owner.as_deref(),
        deadline: Instant::now() + timeout,
    };
    let work = async {
        if let Some(prior) = prior {
            retire_replaced_instance(ctx, prior, state).await?;
        }
        ensure(ctx, &settings, state).await?;
        if let Some(prior) = prior {
            converge(ctx, &settings, prior, state).await?;
        }
        Ok::<(), AwsError>(())
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => diags.root_error("Applying the store failed", error.to_string()),
        Err(_) => diags.root_error(
            "Applying the store timed out",
            format!("not finished within its timeout ({timeout:?}); the next apply finishes it"),
        ),
    }
}

/// Makes every object the state has no id for.
async fn ensure(
    ctx: Context<'_>,
    settings: &ManagedSettings,
    state: &mut StoreState,
) -> Result<(), AwsError> {
    if state.managed_network() {
        let mut network = state.network_ids();
        let made = network::create_managed(ctx, &mut network).await;
        state.record_network(&network);
        made?;
    } else {
        let given = state.network.as_ref_option().cloned().unwrap_or_default();
        let existing = ExistingNetwork {
            vpc_id: given.vpc_id.as_ref_option().cloned().unwrap_or_default(),
            subnet_ids: strings(&given.subnet_ids),
        };
        if state.security_group_id.is_null() {
            network::check_existing(ctx.clients, &existing).await?;
        }
        state.vpc_id = Value::Value(existing.vpc_id.clone());
        state.subnet_ids = str_list(&existing.subnet_ids);
    }

    if state.root_secret_arn.is_null() {
        let password = secret::generate_password();
        state.root_secret_arn =
            Value::Value(secret::create(ctx, Part::StoreRootSecret, &password).await?);
    }
    if state.role_arn.is_null() {
        state.role_arn = Value::Value(iam::create_store_role(ctx).await?);
    }
    let role_arn = need(&state.role_arn, "role")?.to_owned();
    let root_secret_arn = need(&state.root_secret_arn, "root secret")?.to_owned();
    iam::put_shared_store_policy(ctx, &role_arn, &root_secret_arn).await?;
    let instance_profile = iam::ensure_instance_profile(ctx, &role_arn).await?;
    let vpc_id = need(&state.vpc_id, "VPC")?.to_owned();
    if state.security_group_id.is_null() {
        state.security_group_id =
            Value::Value(security_groups::create_store_group(ctx, &vpc_id).await?);
    }
    let group_id = need(&state.security_group_id, "security group")?.to_owned();
    shared::record_subnets(ctx.clients, &group_id, &strings(&state.subnet_ids)).await?;
    let subnet_id = (strings(&state.subnet_ids).into_iter().next())
        .ok_or_else(|| AwsError::Unusable("the store's network has no subnet".into()))?;

    if state.data_volume_id.is_null() {
        let volume_id = instance::make_data_volume(ctx, &subnet_id, settings).await?;
        state.data_volume_id = Value::Value(volume_id);
    }
    let volume_id = need(&state.data_volume_id, "data volume")?.to_owned();
    if state.instance_id.is_null() {
        let boot = Boot {
            volume_id: &volume_id,
            root_secret_arn: &root_secret_arn,
            writer: None,
            shared_store: Some(ctx.owner_name()),
        };
        let placement = Placement {
            subnet_id: &subnet_id,
            security_group_id: &group_id,
            public_ip: state.managed_network(),
            instance_profile: &instance_profile,
        };
        state.instance_id = Value::Value(instance::launch(ctx, settings, boot, placement).await?);
    }
    let instance_id = need(&state.instance_id, "instance")?.to_owned();
    instance::ensure_attached(ctx, &volume_id, &instance_id).await?;
    let facts = instance::find_instance(ctx.clients, &instance_id).await?;
    state.private_ip = facts.map_or(Value::Null, |facts| Value::Value(facts.private_ip));

    if let Some(retention_days) = settings.snapshot_retention_days {
        if state.snapshot_role_arn.is_null() {
            state.snapshot_role_arn = Value::Value(iam::create_snapshot_role(ctx).await?);
        }
        let snapshot_role = need(&state.snapshot_role_arn, "snapshot role")?.to_owned();
        iam::put_snapshot_policy(ctx, &snapshot_role, &volume_id).await?;
        snapshots::target(ctx, &volume_id).await?;
        match id(&state.snapshot_policy_id) {
            None => {
                let policy = snapshots::create(ctx, &snapshot_role, retention_days).await?;
                state.snapshot_policy_id = Value::Value(policy);
            }
            Some(policy) => {
                snapshots::update(ctx, policy, &snapshot_role, retention_days).await?;
            }
        }
    }
    Ok(())
}

/// A planned new instance (its type or image changed): the old one goes first, freeing the
/// data volume for the new one.
async fn retire_replaced_instance(
    ctx: Context<'_>,
    prior: &StoreState,
    state: &StoreState,
) -> Result<(), AwsError> {
    match id(&prior.instance_id) {
        Some(old) if id(&state.instance_id) != Some(old) => instance::terminate(ctx, old).await,
        _ => Ok(()),
    }
}

/// Converges what an update changes in place: the volume's size and retention, snapshots turned
/// off, the tags.
async fn converge(
    ctx: Context<'_>,
    settings: &ManagedSettings,
    prior: &StoreState,
    state: &mut StoreState,
) -> Result<(), AwsError> {
    let volume_id = need(&state.data_volume_id, "data volume")?.to_owned();
    let live_size = instance::volume_size(ctx.clients, &volume_id).await?;
    if live_size.is_some_and(|size| size < settings.volume_size) {
        instance::resize_volume(ctx, &volume_id, settings.volume_size).await?;
    }
    if prior.retain_volume.as_ref_option() != Some(&settings.retain_volume) {
        instance::record_retention(ctx.clients, &volume_id, settings.retain_volume).await?;
    }
    if settings.snapshot_retention_days.is_none() {
        if let Some(policy) = id(&prior.snapshot_policy_id) {
            snapshots::delete(ctx.clients, policy).await?;
        }
        if let Some(role) = id(&prior.snapshot_role_arn) {
            iam::delete_role(ctx.clients, role).await?;
        }
        snapshots::untarget(ctx.clients, &volume_id).await?;
    }
    let before = string_map(&prior.tags_all);
    if before != crate::aws::tags_all(&ctx.clients.default_tags, ctx.tags) {
        retag(ctx, state, &TagChange::new(&before, ctx.object_tags())).await?;
    }
    Ok(())
}

/// Applies a tag change to every object of the store.
async fn retag(ctx: Context<'_>, state: &StoreState, change: &TagChange) -> Result<(), AwsError> {
    let mut ec2_ids: Vec<String> = [
        &state.security_group_id,
        &state.instance_id,
        &state.data_volume_id,
        &state.internet_gateway_id,
        &state.route_table_id,
        &state.endpoint_security_group_id,
        &state.secrets_endpoint_id,
    ]
    .into_iter()
    .filter_map(|field| field.as_ref_option().cloned())
    .collect();
    if state.managed_network() {
        ec2_ids.extend(state.vpc_id.as_ref_option().cloned());
        ec2_ids.extend(strings(&state.subnet_ids));
    }
    retag_ec2(ctx.clients, &ec2_ids, change).await?;
    if let Some(arn) = id(&state.root_secret_arn) {
        secret::retag(ctx.clients, arn, change).await?;
    }
    for role in [id(&state.role_arn), id(&state.snapshot_role_arn)]
        .into_iter()
        .flatten()
    {
        iam::retag(ctx.clients, role, change).await?;
    }
    if let Some(policy) = id(&state.snapshot_policy_id) {
        snapshots::retag(ctx.clients, policy, change).await?;
    }
    Ok(())
}
