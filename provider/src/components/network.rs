//! The network of the post-queue function: in an existing VPC, its own security group.

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use super::Context;
use crate::artifacts::Function;
use crate::aws::{
    AwsError, Clients, OptionalNotFound, aws_error, has_code, object_tags, retry_while,
};

/// Creates the post-queue function's security group in `vpc_id` (egress only). Returns its ID.
pub async fn create_security_group(ctx: Context<'_>, vpc_id: &str) -> Result<String, AwsError> {
    let tags: Vec<Tag> = object_tags(ctx.clients, ctx.tags, ctx.name)
        .into_iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect();
    let output = ctx
        .clients
        .ec2
        .create_security_group()
        .group_name(ctx.object_name(Function::PostQueue.slug()))
        .description(format!("Nami pipeline {}: post-queue function", ctx.name))
        .vpc_id(vpc_id)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::SecurityGroup)
                .set_tags(Some(tags))
                .build(),
        )
        .send()
        .await
        .map_err(aws_error("ec2:CreateSecurityGroup"))?;
    Ok(output.group_id.unwrap_or_default())
}

/// Deletes the security group, waiting (within the deadline) while Lambda still holds network
/// interfaces in it.
pub async fn delete_security_group(ctx: Context<'_>, group_id: &str) -> Result<(), AwsError> {
    retry_while(has_code(&["DependencyViolation"]), ctx.deadline, || async {
        ctx.clients
            .ec2
            .delete_security_group()
            .group_id(group_id)
            .send()
            .await
            .map_err(aws_error("ec2:DeleteSecurityGroup"))
            .found()
    })
    .await
    .map(drop)
}

/// The VPC of security group `group_id`, or `None` when the group does not exist.
pub async fn find_security_group(
    clients: &Clients,
    group_id: &str,
) -> Result<Option<String>, AwsError> {
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

/// The ID and VPC of the pipeline's security group, found by name (for import).
pub async fn find_security_group_by_name(
    clients: &Clients,
    pipeline: &str,
) -> Result<Option<(String, String)>, AwsError> {
    let output = clients
        .ec2
        .describe_security_groups()
        .filters(
            Filter::builder()
                .name("group-name")
                .values(super::object_name(pipeline, Function::PostQueue.slug()))
                .build(),
        )
        .send()
        .await
        .map_err(aws_error("ec2:DescribeSecurityGroups"))?;
    Ok(output
        .security_groups
        .unwrap_or_default()
        .into_iter()
        .next()
        .map(|g| (g.group_id.unwrap_or_default(), g.vpc_id.unwrap_or_default())))
}
