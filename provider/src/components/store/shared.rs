//! A pipeline's place in a shared store (`nami_mongodb_store`, `store { shared = … }`): finding
//! the store, the pipeline's database user (its password in a secret of the pipeline's, tagged
//! so the store's instance finds it and makes the user), and the store's group admitting the
//! pipeline's function (`security_groups::admit_function`, `security_groups::revoke_function`).
//!
//! The store's instance makes every tenant's user from these tags (`tenants` in its user data):
//! [`TENANT_USER_TAG`] names the user, [`TENANT_DATABASE_TAG`] the database it may read and write,
//! and `nami:store` the store. A tenant whose secret is gone loses its user.

use aws_sdk_ec2::types::{Filter, InstanceStateName};
use nami_contract::naming::{PIPELINE_TAG, STORE_TAG};

use crate::aws::{AwsError, Clients, TagChange, aws_error};
use crate::components::{Context, secret, store_tagged_with};

/// The tag on a tenant's secret naming its database user.
pub const TENANT_USER_TAG: &str = "nami:store-user";
/// The tag on a tenant's secret naming the database its user may read and write.
pub const TENANT_DATABASE_TAG: &str = "nami:store-database";

/// A shared store as a pipeline needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedStore {
    /// Its instance.
    pub instance_id: String,
    /// The instance's private address.
    pub private_ip: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Its subnets (the instance's first; its own network's both), where pipelines place their
    /// functions.
    pub subnet_ids: Vec<String>,
    /// Its security group.
    pub security_group_id: String,
}

/// The live instance of shared store `name`, as EC2 reports it.
pub async fn find_instance(
    clients: &Clients,
    name: &str,
) -> Result<Option<aws_sdk_ec2::types::Instance>, AwsError> {
    let live = Filter::builder()
        .name("instance-state-name")
        .values("pending")
        .values("running")
        .values("stopping")
        .values("stopped")
        .build();
    let reservations = clients
        .ec2
        .describe_instances()
        .filters(store_tagged_with(name))
        .filters(live)
        .send()
        .await
        .map_err(aws_error("ec2:DescribeInstances"))?
        .reservations
        .unwrap_or_default();
    Ok((reservations.into_iter())
        .flat_map(|reservation| reservation.instances.unwrap_or_default())
        .find(|instance| {
            let state = instance.state.as_ref().and_then(|s| s.name.clone());
            !matches!(
                state,
                Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown)
            )
        }))
}

/// The groups of `instance` (from its description or its network interfaces).
pub fn groups_of(instance: &aws_sdk_ec2::types::Instance) -> Vec<String> {
    let direct = (instance.security_groups.iter().flatten()).filter_map(|g| g.group_id.clone());
    let by_interface = (instance.network_interfaces.iter().flatten())
        .flat_map(|interface| interface.groups.iter().flatten())
        .filter_map(|g| g.group_id.clone());
    let mut groups: Vec<String> = direct.chain(by_interface).collect();
    groups.dedup();
    groups
}

/// Shared store `name`, or an error saying it does not exist.
pub async fn find(clients: &Clients, name: &str) -> Result<SharedStore, AwsError> {
    let missing = || {
        AwsError::Unusable(format!(
            "store.shared {name:?}: no nami_mongodb_store of that name is running in {} (create it first, and refer to it as nami_mongodb_store.<label>.id so Terraform orders the two)",
            clients.region
        ))
    };
    let instance = find_instance(clients, name).await?.ok_or_else(missing)?;
    let vpc_id = instance.vpc_id.clone().ok_or_else(missing)?;
    let own_subnets = clients
        .ec2
        .describe_subnets()
        .filters(store_tagged_with(name))
        .send()
        .await
        .map_err(aws_error("ec2:DescribeSubnets"))?
        .subnets
        .unwrap_or_default();
    let own: Vec<String> = (own_subnets.into_iter())
        .filter_map(|subnet| subnet.subnet_id)
        .collect();
    // In the order the store made them (the instance's first), as its state lists them.
    let mut subnet_ids =
        crate::components::network::subnets_in_order(clients, &vpc_id, &own).await?;
    if subnet_ids.is_empty() {
        subnet_ids.extend(instance.subnet_id.clone());
    }
    Ok(SharedStore {
        instance_id: instance.instance_id.clone().unwrap_or_default(),
        private_ip: instance.private_ip_address.clone().unwrap_or_default(),
        security_group_id: groups_of(&instance)
            .into_iter()
            .next()
            .ok_or_else(missing)?,
        vpc_id,
        subnet_ids,
    })
}

/// The database user of pipeline `pipeline` in a shared store.
pub fn tenant_user(pipeline: &str) -> String {
    format!("nami-{pipeline}")
}

/// Marks the pipeline's writer secret `arn` as its tenancy of store `store`: the store's instance
/// makes user [`tenant_user`] with readWrite on `database` from it.
pub async fn register_tenant(
    ctx: Context<'_>,
    arn: &str,
    store: &str,
    database: &str,
) -> Result<(), AwsError> {
    let change = TagChange {
        tags: [
            (STORE_TAG.to_owned(), store.to_owned()),
            (TENANT_USER_TAG.to_owned(), tenant_user(ctx.name)),
            (TENANT_DATABASE_TAG.to_owned(), database.to_owned()),
        ]
        .into(),
        removed: Vec::new(),
    };
    secret::retag(ctx.clients, arn, &change).await
}

/// The pipelines whose secrets name store `store` as theirs (its tenants).
pub async fn tenants(clients: &Clients, store: &str) -> Result<Vec<String>, AwsError> {
    use aws_sdk_secretsmanager::types::{Filter as SecretFilter, FilterNameStringType};
    let filter = |key: FilterNameStringType, value: &str| {
        SecretFilter::builder().key(key).values(value).build()
    };
    let mut found = Vec::new();
    let mut pages = clients
        .secretsmanager
        .list_secrets()
        .filters(filter(FilterNameStringType::TagKey, STORE_TAG))
        .filters(filter(FilterNameStringType::TagValue, store))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws_error("secretsmanager:ListSecrets"))?;
        for listed in page.secret_list.unwrap_or_default() {
            let tags = listed.tags.unwrap_or_default();
            let tag = |key: &str| {
                (tags.iter())
                    .find(|tag| tag.key.as_deref() == Some(key))
                    .and_then(|tag| tag.value.clone())
            };
            if tag(STORE_TAG).as_deref() == Some(store) {
                found.extend(tag(PIPELINE_TAG));
            }
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}
