//! The two security groups: the post-queue function's (egress only, created when it runs in a
//! VPC) and the managed store's (MongoDB's port from the function's group, nothing else).

use aws_sdk_ec2::types::{IpPermission, ResourceType, UserIdGroupPair};
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
}

impl Group {
    fn part(self) -> Part {
        match self {
            Group::Function => Part::Function(Function::PostQueue),
            Group::Store => Part::Store,
        }
    }
}

/// Creates the post-queue function's group in `vpc_id` (egress only). Returns its id.
pub async fn create_function_group(ctx: Context<'_>, vpc_id: &str) -> Result<String, AwsError> {
    let description = format!("Nami pipeline {}: post-queue function", ctx.name);
    create(ctx, Group::Function, vpc_id, &description).await
}

/// Creates the store's group in `vpc_id`, without rules (see [`admit_function`]).
pub async fn create_store_group(ctx: Context<'_>, vpc_id: &str) -> Result<String, AwsError> {
    let description = format!(
        "Nami pipeline {}: MongoDB, from the post-queue function only",
        ctx.name
    );
    create(ctx, Group::Store, vpc_id, &description).await
}

/// Opens MongoDB's port on the store's group to `function_group_id` only. A rule that exists
/// already (every apply after the first) is kept.
pub async fn admit_function(
    ctx: Context<'_>,
    store_group_id: &str,
    function_group_id: &str,
) -> Result<(), AwsError> {
    let authorized = after_create(ctx.deadline, || async {
        ctx.clients
            .ec2
            .authorize_security_group_ingress()
            .group_id(store_group_id)
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(MONGODB_PORT)
                    .to_port(MONGODB_PORT)
                    .user_id_group_pairs(
                        UserIdGroupPair::builder()
                            .group_id(function_group_id)
                            .build(),
                    )
                    .build(),
            )
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
        }
    }
}
