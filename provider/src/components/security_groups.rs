//! The pipeline's security groups: the post-queue function's (created when it runs in a VPC; no
//! ingress, egress only to HTTPS and its store's port), the managed store's (MongoDB's port from
//! the function's group, nothing else) and the managed network's endpoints' (HTTPS from inside
//! the network, no egress).

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, UserIdGroupPair};
use nami_contract::naming::{Function, Part};
use tf_provider::value::Value;

use super::{Context, ec2_tag_map, tagged_with};
use crate::aws::{
    AwsError, Clients, OptionalNotFound, after_create, aws_error, has_code, retry_while, returned,
};
use crate::model::PipelineState;
use crate::ownership::{Kind, Tagged};

/// MongoDB's port, the only one the store's group opens (to the post-queue function).
pub const MONGODB_PORT: i32 = 27017;

/// Which of the pipeline's groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// The post-queue function's: `nami-<name>-post-queue`.
    Function,
    /// The managed store's: `nami-<name>-store`.
    Store,
    /// The managed network's interface endpoints': `nami-<name>-endpoints`.
    Endpoints,
}

impl Group {
    fn part(self) -> Part {
        match self {
            Group::Function => Part::Function(Function::PostQueue),
            Group::Store => Part::Store,
            Group::Endpoints => Part::Endpoints,
        }
    }
}

/// Creates the post-queue function's group in `vpc_id` (egress only). Returns its id.
pub async fn create_function_group(ctx: Context<'_>, vpc_id: &str) -> Result<String, AwsError> {
    let description = format!("{}: post-queue function", ctx.describe());
    create(ctx, Group::Function, vpc_id, &description).await
}

/// Creates the store's group in `vpc_id`, without rules (see [`admit_function`]).
pub async fn create_store_group(ctx: Context<'_>, vpc_id: &str) -> Result<String, AwsError> {
    let description = format!(
        "{}: MongoDB, from the post-queue functions only",
        ctx.describe()
    );
    create(ctx, Group::Store, vpc_id, &description).await
}

/// Creates the group of the managed network's interface endpoints in `vpc_id`, without rules
/// (see [`open_endpoints`]). Returns its id.
pub async fn create_endpoint_group(ctx: Context<'_>, vpc_id: &str) -> Result<String, AwsError> {
    let description = format!(
        "{}: AWS service endpoints, HTTPS from the network only",
        ctx.describe()
    );
    create(ctx, Group::Endpoints, vpc_id, &description).await
}

/// Makes the endpoints' group admit HTTPS from `vpc_cidr` (the function and the store instance)
/// and send nothing (an endpoint answers, it never calls). Rules that exist are kept.
pub async fn open_endpoints(
    ctx: Context<'_>,
    group_id: &str,
    vpc_cidr: &str,
) -> Result<(), AwsError> {
    let https = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(HTTPS_PORT)
        .to_port(HTTPS_PORT)
        .ip_ranges(IpRange::builder().cidr_ip(vpc_cidr).build())
        .build();
    authorize_ingress(ctx, group_id, https).await?;
    limit_egress(ctx, group_id, &BTreeSet::new()).await
}

/// Opens MongoDB's port on the store's group to `function_group_id` only. A rule that exists
/// already (every apply after the first) is kept.
pub async fn admit_function(
    ctx: Context<'_>,
    store_group_id: &str,
    function_group_id: &str,
) -> Result<(), AwsError> {
    authorize_ingress(ctx, store_group_id, mongodb_from(function_group_id)).await
}

/// Takes the rule admitting `function_group_id` off the store's group (a pipeline leaving a
/// shared store); a rule or group already gone is fine.
pub async fn revoke_function(
    clients: &Clients,
    store_group_id: &str,
    function_group_id: &str,
) -> Result<(), AwsError> {
    let revoked = clients
        .ec2
        .revoke_security_group_ingress()
        .group_id(store_group_id)
        .ip_permissions(mongodb_from(function_group_id))
        .send()
        .await
        .map_err(aws_error("ec2:RevokeSecurityGroupIngress"));
    match revoked {
        Err(error)
            if matches!(
                error.code(),
                Some("InvalidPermission.NotFound" | "InvalidGroup.NotFound")
            ) =>
        {
            Ok(())
        }
        other => other.map(drop),
    }
}

/// MongoDB's port, from the function's group.
fn mongodb_from(function_group_id: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(MONGODB_PORT)
        .to_port(MONGODB_PORT)
        .user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(function_group_id)
                .build(),
        )
        .build()
}

/// Adds an inbound rule to the group, unless it has it already (every apply after the first).
async fn authorize_ingress(
    ctx: Context<'_>,
    group_id: &str,
    rule: IpPermission,
) -> Result<(), AwsError> {
    let authorized = after_create(ctx.deadline, || async {
        ctx.clients
            .ec2
            .authorize_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(rule.clone())
            .send()
            .await
            .map_err(aws_error("ec2:AuthorizeSecurityGroupIngress"))
    })
    .await;
    match authorized {
        Err(error) if error.code() == Some("InvalidPermission.Duplicate") => Ok(()),
        other => other.map(drop),
    }
}

/// One outbound rule of the function's group: TCP to one port, towards addresses or a group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Egress {
    /// The TCP port.
    pub port: i32,
    /// Where to.
    pub to: Destination,
}

/// Where an outbound rule goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Destination {
    /// Any address.
    Anywhere,
    /// The members of a security group (the managed store's).
    Group(String),
}

/// HTTPS: the AWS endpoints the function calls (Secrets Manager, SSM; through an interface
/// endpoint or a NAT gateway).
pub const HTTPS_PORT: i32 = 443;

/// The function's outbound rules: HTTPS anywhere, and the store's ports — to the managed store's
/// group, or anywhere for a store the user has (its addresses are not the provider's to know).
pub fn function_egress(store_ports: &BTreeSet<i32>, store_group: Option<&str>) -> BTreeSet<Egress> {
    let to_store = || match store_group {
        Some(group) => Destination::Group(group.to_owned()),
        None => Destination::Anywhere,
    };
    let mut rules: BTreeSet<Egress> = store_ports
        .iter()
        .map(|&port| Egress {
            port,
            to: to_store(),
        })
        .collect();
    rules.insert(Egress {
        port: HTTPS_PORT,
        to: Destination::Anywhere,
    });
    rules
}

/// Makes the group's outbound rules exactly `wanted`: EC2's default allow-all rule, and any other
/// rule, are revoked; missing ones are added. Run on every apply (a rule added outside Terraform
/// does not show in the plan: it goes at the next apply that changes anything).
pub async fn limit_egress(
    ctx: Context<'_>,
    group_id: &str,
    wanted: &BTreeSet<Egress>,
) -> Result<(), AwsError> {
    let group = after_create(ctx.deadline, || async {
        let output = ctx
            .clients
            .ec2
            .describe_security_groups()
            .group_ids(group_id)
            .send()
            .await
            .map_err(aws_error("ec2:DescribeSecurityGroups"))?;
        returned(
            "ec2:DescribeSecurityGroups",
            output
                .security_groups
                .unwrap_or_default()
                .into_iter()
                .next(),
        )
    })
    .await?;
    let current = group.ip_permissions_egress.unwrap_or_default();
    let unwanted: Vec<IpPermission> = current
        .iter()
        .flat_map(split_permission)
        .filter(|(rule, _)| !rule.as_ref().is_some_and(|rule| wanted.contains(rule)))
        .map(|(_, permission)| permission)
        .collect();
    let present: BTreeSet<Egress> = current
        .iter()
        .flat_map(split_permission)
        .filter_map(|(rule, _)| rule)
        .collect();
    let missing: Vec<IpPermission> = wanted.difference(&present).map(permission_of).collect();
    let ec2 = &ctx.clients.ec2;
    if !missing.is_empty() {
        let added = ec2
            .authorize_security_group_egress()
            .group_id(group_id)
            .set_ip_permissions(Some(missing))
            .send()
            .await
            .map_err(aws_error("ec2:AuthorizeSecurityGroupEgress"));
        match added {
            Err(error) if error.code() == Some("InvalidPermission.Duplicate") => {}
            other => drop(other?),
        }
    }
    if !unwanted.is_empty() {
        ec2.revoke_security_group_egress()
            .group_id(group_id)
            .set_ip_permissions(Some(unwanted))
            .send()
            .await
            .map_err(aws_error("ec2:RevokeSecurityGroupEgress"))?;
    }
    Ok(())
}

/// Each destination of an EC2 permission on its own, with the rule it is (`None`: not one of
/// ours, e.g. all protocols to 0.0.0.0/0, EC2's default).
fn split_permission(permission: &IpPermission) -> Vec<(Option<Egress>, IpPermission)> {
    let protocol = permission.ip_protocol.as_deref().unwrap_or_default();
    let port = match (permission.from_port, permission.to_port) {
        (Some(from), Some(to)) if protocol == "tcp" && from == to => Some(from),
        _ => None,
    };
    let base = || {
        IpPermission::builder()
            .set_ip_protocol(permission.ip_protocol.clone())
            .set_from_port(permission.from_port)
            .set_to_port(permission.to_port)
    };
    let mut parts = Vec::new();
    for range in permission.ip_ranges() {
        let anywhere = range.cidr_ip.as_deref() == Some("0.0.0.0/0");
        let rule = port.filter(|_| anywhere).map(|port| Egress {
            port,
            to: Destination::Anywhere,
        });
        parts.push((rule, base().ip_ranges(range.clone()).build()));
    }
    for range in permission.ipv6_ranges() {
        parts.push((None, base().ipv6_ranges(range.clone()).build()));
    }
    for pair in permission.user_id_group_pairs() {
        let rule = port.zip(pair.group_id.clone()).map(|(port, group)| Egress {
            port,
            to: Destination::Group(group),
        });
        let pair = UserIdGroupPair::builder()
            .set_group_id(pair.group_id.clone())
            .build();
        parts.push((rule, base().user_id_group_pairs(pair).build()));
    }
    for list in permission.prefix_list_ids() {
        parts.push((None, base().prefix_list_ids(list.clone()).build()));
    }
    parts
}

fn permission_of(rule: &Egress) -> IpPermission {
    let permission = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(rule.port)
        .to_port(rule.port);
    match &rule.to {
        Destination::Anywhere => {
            permission.ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        }
        Destination::Group(group) => {
            permission.user_id_group_pairs(UserIdGroupPair::builder().group_id(group).build())
        }
    }
    .build()
}

async fn create(
    ctx: Context<'_>,
    group: Group,
    vpc_id: &str,
    description: &str,
) -> Result<String, AwsError> {
    let name = ctx.object_name(group.part());
    let output = ctx
        .clients
        .ec2
        .create_security_group()
        .group_name(&name)
        .description(description)
        .vpc_id(vpc_id)
        .tag_specifications(ctx.ec2_tags(ResourceType::SecurityGroup, &name))
        .send()
        .await
        .map_err(aws_error("ec2:CreateSecurityGroup"))?;
    returned("ec2:CreateSecurityGroup", output.group_id)
}

/// Deletes a group, waiting (within the deadline) while Lambda still holds network interfaces
/// in it — they are released minutes after the function is deleted (DependencyViolation).
pub async fn delete(ctx: Context<'_>, group_id: &str) -> Result<(), AwsError> {
    retry_while(has_code(&["DependencyViolation"]), ctx.deadline, || async {
        crate::aws::delete(
            "ec2:DeleteSecurityGroup",
            ctx.clients
                .ec2
                .delete_security_group()
                .group_id(group_id)
                .send(),
        )
        .await
    })
    .await
}

/// The id of the group named `name` in `vpc_id`, or `None` when there is none.
pub async fn find_named(
    clients: &Clients,
    vpc_id: &str,
    name: &str,
) -> Result<Option<String>, AwsError> {
    let filter = |key: &str, value: &str| {
        aws_sdk_ec2::types::Filter::builder()
            .name(key)
            .values(value)
            .build()
    };
    let output = clients
        .ec2
        .describe_security_groups()
        .filters(filter("vpc-id", vpc_id))
        .filters(filter("group-name", name))
        .send()
        .await
        .map_err(aws_error("ec2:DescribeSecurityGroups"))?;
    Ok((output.security_groups.unwrap_or_default().into_iter()).find_map(|g| g.group_id))
}

/// The VPC of group `group_id`, or `None` when the group does not exist.
pub async fn find(clients: &Clients, group_id: &str) -> Result<Option<String>, AwsError> {
    let output = clients
        .ec2
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
        .map_err(aws_error("ec2:DescribeSecurityGroups"))
        .found()?;
    Ok(output
        .and_then(|o| o.security_groups.unwrap_or_default().into_iter().next())
        .map(|g| g.vpc_id.unwrap_or_default()))
}

/// Both groups tagged with `pipeline`'s name (see [`crate::ownership`]).
pub async fn inventory(clients: &Clients, pipeline: &str) -> Result<Vec<Tagged>, AwsError> {
    let output = clients
        .ec2
        .describe_security_groups()
        .filters(tagged_with(pipeline))
        .send()
        .await
        .map_err(aws_error("ec2:DescribeSecurityGroups"))?;
    Ok(output
        .security_groups
        .unwrap_or_default()
        .into_iter()
        .filter_map(|g| {
            let tags = ec2_tag_map(g.tags);
            Some(Tagged::new(Kind::SecurityGroup, g.group_id?, tags))
        })
        .collect())
}

/// Clears the id of `group` in `state` when the group is gone (`found` false).
pub fn read_back(group: Group, found: bool, state: &mut PipelineState) {
    if !found {
        match group {
            Group::Function => state.security_group_id = Value::Null,
            Group::Store => state.store_security_group_id = Value::Null,
            Group::Endpoints => state.endpoint_security_group_id = Value::Null,
        }
    }
}
