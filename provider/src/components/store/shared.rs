//! A pipeline's place in a shared store (`nami_mongodb_store`, `store { shared = … }`): finding
//! the store, the pipeline's database user (its password in a secret of the pipeline's, tagged
//! so the store's instance finds it and makes the user), and the store's group admitting the
//! pipeline's function (`security_groups::admit_function`, `security_groups::revoke_function`).
//!
//! The store's instance makes every tenant's user from these tags (`tenants` in its user data):
//! [`TENANT_USER_TAG`] names the user, [`TENANT_DATABASE_TAG`] the database it may read and write,
//! and `nami:store` the store. A tenant whose secret is gone loses its user.

use nami_contract::naming::{PIPELINE_TAG, STORE_TAG};

use super::instance;
use crate::aws::{AwsError, Clients, TagChange, aws_error};
use crate::components::{Context, add_ec2_tag, secret, store_tagged_with};

/// The tag on a tenant's secret naming its database user.
pub const TENANT_USER_TAG: &str = "nami:store-user";
/// The tag on a tenant's secret naming the database its user may read and write.
pub const TENANT_DATABASE_TAG: &str = "nami:store-database";
/// The tag on a shared store's security group listing the subnets of its network (comma-separated,
/// the instance's first): where joining pipelines place their functions, and what import reads.
pub const SUBNETS_TAG: &str = "nami:store-subnets";

/// Records the store's subnets on its group ([`SUBNETS_TAG`]).
pub async fn record_subnets(
    clients: &Clients,
    group_id: &str,
    subnet_ids: &[String],
) -> Result<(), AwsError> {
    add_ec2_tag(clients, group_id, SUBNETS_TAG, subnet_ids.join(",")).await
}

/// The subnets a store was given: those its group records, else its instance's own.
pub async fn store_subnets(
    clients: &Clients,
    instance: &aws_sdk_ec2::types::Instance,
) -> Result<Vec<String>, AwsError> {
    let recorded = match groups_of(instance).into_iter().next() {
        Some(group_id) => recorded_subnets(clients, &group_id).await?,
        None => None,
    };
    Ok(recorded.unwrap_or_else(|| instance.subnet_id.clone().into_iter().collect()))
}

/// The subnets recorded on the store's group `group_id`, if any.
async fn recorded_subnets(
    clients: &Clients,
    group_id: &str,
) -> Result<Option<Vec<String>>, AwsError> {
    let groups = clients
        .ec2
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
        .map_err(aws_error("ec2:DescribeSecurityGroups"))?
        .security_groups
        .unwrap_or_default();
    let tags = (groups.into_iter().next())
        .map(|group| crate::components::ec2_tag_map(group.tags))
        .unwrap_or_default();
    Ok((tags.get(SUBNETS_TAG))
        .filter(|listed| !listed.is_empty())
        .map(|listed| listed.split(',').map(str::to_owned).collect()))
}

/// A shared store as a pipeline needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedStore {
    /// Its name.
    pub name: String,
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
    let reservations = clients
        .ec2
        .describe_instances()
        .filters(store_tagged_with(name))
        .filters(instance::live_instances())
        .send()
        .await
        .map_err(aws_error("ec2:DescribeInstances"))?
        .reservations
        .unwrap_or_default();
    Ok((reservations.into_iter())
        .flat_map(|reservation| reservation.instances.unwrap_or_default())
        .next())
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
    let security_group_id = groups_of(&instance)
        .into_iter()
        .next()
        .ok_or_else(missing)?;
    let subnet_ids = store_subnets(clients, &instance).await?;
    Ok(SharedStore {
        name: name.to_owned(),
        instance_id: instance.instance_id.clone().unwrap_or_default(),
        private_ip: instance.private_ip_address.clone().unwrap_or_default(),
        security_group_id,
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
