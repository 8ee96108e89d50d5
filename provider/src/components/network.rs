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

// --- The managed network: a VPC, two subnets in two AZs, an internet gateway for the store
// instance's outbound traffic (its image pull). No NAT gateway: nothing in it accepts inbound
// traffic from the internet, and the Lambda functions need no internet access.

/// The managed network's ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagedNetwork {
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    pub internet_gateway_id: String,
    pub route_table_id: String,
}

const VPC_CIDR: &str = "10.42.0.0/16";
const SUBNET_CIDRS: [&str; 2] = ["10.42.1.0/24", "10.42.2.0/24"];

/// EC2 tags for an object of the pipeline, with its `Name`.
pub fn tag_spec(ctx: Context<'_>, resource_type: ResourceType, name: &str) -> TagSpecification {
    let mut tags = object_tags(ctx.clients, ctx.tags, ctx.name);
    tags.insert("Name".into(), name.into());
    TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(
            tags.into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build()
}

/// Creates the managed network. Each id is recorded in `network` as soon as it exists.
pub async fn create_managed(
    ctx: Context<'_>,
    network: &mut ManagedNetwork,
) -> Result<(), AwsError> {
    let ec2 = &ctx.clients.ec2;
    let name = ctx.object_name("");
    if network.vpc_id.is_empty() {
        let vpc = ec2
            .create_vpc()
            .cidr_block(VPC_CIDR)
            .tag_specifications(tag_spec(ctx, ResourceType::Vpc, &name))
            .send()
            .await
            .map_err(aws_error("ec2:CreateVpc"))?;
        network.vpc_id = vpc.vpc.and_then(|v| v.vpc_id).unwrap_or_default();
    }
    if network.subnet_ids.is_empty() {
        let zones: Vec<String> = ec2
            .describe_availability_zones()
            .send()
            .await
            .map_err(aws_error("ec2:DescribeAvailabilityZones"))?
            .availability_zones
            .unwrap_or_default()
            .into_iter()
            .filter_map(|z| z.zone_name)
            .take(2)
            .collect();
        for (cidr, zone) in SUBNET_CIDRS.iter().zip(zones.iter().cycle()) {
            let subnet = ec2
                .create_subnet()
                .vpc_id(&network.vpc_id)
                .cidr_block(*cidr)
                .availability_zone(zone)
                .tag_specifications(tag_spec(
                    ctx,
                    ResourceType::Subnet,
                    &format!("{name}-{zone}"),
                ))
                .send()
                .await
                .map_err(aws_error("ec2:CreateSubnet"))?;
            network
                .subnet_ids
                .push(subnet.subnet.and_then(|s| s.subnet_id).unwrap_or_default());
        }
    }
    if network.internet_gateway_id.is_empty() {
        let gateway = ec2
            .create_internet_gateway()
            .tag_specifications(tag_spec(ctx, ResourceType::InternetGateway, &name))
            .send()
            .await
            .map_err(aws_error("ec2:CreateInternetGateway"))?;
        network.internet_gateway_id = gateway
            .internet_gateway
            .and_then(|g| g.internet_gateway_id)
            .unwrap_or_default();
        ec2.attach_internet_gateway()
            .internet_gateway_id(&network.internet_gateway_id)
            .vpc_id(&network.vpc_id)
            .send()
            .await
            .map_err(aws_error("ec2:AttachInternetGateway"))?;
    }
    if network.route_table_id.is_empty() {
        let table = ec2
            .create_route_table()
            .vpc_id(&network.vpc_id)
            .tag_specifications(tag_spec(ctx, ResourceType::RouteTable, &name))
            .send()
            .await
            .map_err(aws_error("ec2:CreateRouteTable"))?;
        network.route_table_id = table
            .route_table
            .and_then(|t| t.route_table_id)
            .unwrap_or_default();
        ec2.create_route()
            .route_table_id(&network.route_table_id)
            .destination_cidr_block("0.0.0.0/0")
            .gateway_id(&network.internet_gateway_id)
            .send()
            .await
            .map_err(aws_error("ec2:CreateRoute"))?;
        for subnet_id in &network.subnet_ids {
            ec2.associate_route_table()
                .route_table_id(&network.route_table_id)
                .subnet_id(subnet_id)
                .send()
                .await
                .map_err(aws_error("ec2:AssociateRouteTable"))?;
        }
    }
    Ok(())
}

/// Deletes the managed network (subnets, route table, gateway, VPC), waiting within the deadline
/// while Lambda still holds network interfaces in it.
pub async fn delete_managed(ctx: Context<'_>, network: &ManagedNetwork) -> Result<(), AwsError> {
    let ec2 = &ctx.clients.ec2;
    let busy = has_code(&["DependencyViolation"]);
    if !network.route_table_id.is_empty() {
        let tables = ec2
            .describe_route_tables()
            .route_table_ids(&network.route_table_id)
            .send()
            .await
            .map_err(aws_error("ec2:DescribeRouteTables"))
            .found()?;
        let associations = tables
            .into_iter()
            .flat_map(|t| t.route_tables.unwrap_or_default())
            .flat_map(|t| t.associations.unwrap_or_default())
            .filter(|a| a.main != Some(true))
            .filter_map(|a| a.route_table_association_id);
        for association_id in associations {
            ec2.disassociate_route_table()
                .association_id(association_id)
                .send()
                .await
                .map_err(aws_error("ec2:DisassociateRouteTable"))
                .found()?;
        }
    }
    for subnet_id in network.subnet_ids.iter().filter(|id| !id.is_empty()) {
        retry_while(&busy, ctx.deadline, || async {
            ec2.delete_subnet()
                .subnet_id(subnet_id)
                .send()
                .await
                .map_err(aws_error("ec2:DeleteSubnet"))
                .found()
        })
        .await?;
    }
    if !network.route_table_id.is_empty() {
        ec2.delete_route_table()
            .route_table_id(&network.route_table_id)
            .send()
            .await
            .map_err(aws_error("ec2:DeleteRouteTable"))
            .found()?;
    }
    if !network.internet_gateway_id.is_empty() {
        if !network.vpc_id.is_empty() {
            ec2.detach_internet_gateway()
                .internet_gateway_id(&network.internet_gateway_id)
                .vpc_id(&network.vpc_id)
                .send()
                .await
                .map_err(aws_error("ec2:DetachInternetGateway"))
                .found()?;
        }
        ec2.delete_internet_gateway()
            .internet_gateway_id(&network.internet_gateway_id)
            .send()
            .await
            .map_err(aws_error("ec2:DeleteInternetGateway"))
            .found()?;
    }
    if !network.vpc_id.is_empty() {
        retry_while(&busy, ctx.deadline, || async {
            ec2.delete_vpc()
                .vpc_id(&network.vpc_id)
                .send()
                .await
                .map_err(aws_error("ec2:DeleteVpc"))
                .found()
        })
        .await?;
    }
    Ok(())
}

/// The managed network of `pipeline`, found by its tags (import).
pub async fn find_managed(
    clients: &Clients,
    pipeline: &str,
) -> Result<Option<ManagedNetwork>, AwsError> {
    let name = super::object_name(pipeline, "");
    let by_name = || Filter::builder().name("tag:Name").values(&name).build();
    let ec2 = &clients.ec2;
    let vpcs = ec2
        .describe_vpcs()
        .filters(by_name())
        .send()
        .await
        .map_err(aws_error("ec2:DescribeVpcs"))?;
    let Some(vpc_id) = vpcs
        .vpcs
        .unwrap_or_default()
        .into_iter()
        .find_map(|v| v.vpc_id)
    else {
        return Ok(None);
    };
    let in_vpc = || Filter::builder().name("vpc-id").values(&vpc_id).build();
    let subnets = ec2
        .describe_subnets()
        .filters(in_vpc())
        .send()
        .await
        .map_err(aws_error("ec2:DescribeSubnets"))?;
    let mut subnets: Vec<(String, String)> = subnets
        .subnets
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            (
                s.cidr_block.unwrap_or_default(),
                s.subnet_id.unwrap_or_default(),
            )
        })
        .collect();
    subnets.sort();
    let gateways = ec2
        .describe_internet_gateways()
        .filters(
            Filter::builder()
                .name("attachment.vpc-id")
                .values(&vpc_id)
                .build(),
        )
        .send()
        .await
        .map_err(aws_error("ec2:DescribeInternetGateways"))?;
    let tables = ec2
        .describe_route_tables()
        .filters(in_vpc())
        .filters(by_name())
        .send()
        .await
        .map_err(aws_error("ec2:DescribeRouteTables"))?;
    Ok(Some(ManagedNetwork {
        subnet_ids: subnets.into_iter().map(|(_, id)| id).collect(),
        internet_gateway_id: gateways
            .internet_gateways
            .unwrap_or_default()
            .into_iter()
            .find_map(|g| g.internet_gateway_id)
            .unwrap_or_default(),
        route_table_id: tables
            .route_tables
            .unwrap_or_default()
            .into_iter()
            .find_map(|t| t.route_table_id)
            .unwrap_or_default(),
        vpc_id,
    }))
}

/// Sets `tags` on EC2 objects (keeping their `Name`) and removes the keys in `removed`.
pub async fn retag(
    clients: &Clients,
    resource_ids: &[String],
    tags: &std::collections::BTreeMap<String, String>,
    removed: &[String],
) -> Result<(), AwsError> {
    if resource_ids.is_empty() {
        return Ok(());
    }
    let tags: Vec<Tag> = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    clients
        .ec2
        .create_tags()
        .set_resources(Some(resource_ids.to_vec()))
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(aws_error("ec2:CreateTags"))?;
    if !removed.is_empty() {
        let keys: Vec<Tag> = removed
            .iter()
            .map(|k| Tag::builder().key(k).build())
            .collect();
        clients
            .ec2
            .delete_tags()
            .set_resources(Some(resource_ids.to_vec()))
            .set_tags(Some(keys))
            .send()
            .await
            .map_err(aws_error("ec2:DeleteTags"))?;
    }
    Ok(())
}

/// Whether VPC `vpc_id` exists.
pub async fn vpc_exists(clients: &Clients, vpc_id: &str) -> Result<bool, AwsError> {
    Ok(clients
        .ec2
        .describe_vpcs()
        .vpc_ids(vpc_id)
        .send()
        .await
        .map_err(aws_error("ec2:DescribeVpcs"))
        .found()?
        .is_some_and(|o| !o.vpcs.unwrap_or_default().is_empty()))
}

/// The availability zone of subnet `subnet_id`.
pub async fn subnet_zone(clients: &Clients, subnet_id: &str) -> Result<String, AwsError> {
    Ok(clients
        .ec2
        .describe_subnets()
        .subnet_ids(subnet_id)
        .send()
        .await
        .map_err(aws_error("ec2:DescribeSubnets"))?
        .subnets
        .unwrap_or_default()
        .into_iter()
        .next()
        .and_then(|s| s.availability_zone)
        .unwrap_or_default())
}
