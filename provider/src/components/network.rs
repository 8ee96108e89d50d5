//! Where the post-queue function (and the managed store) run: outside any VPC, in the user's
//! VPC (`network {}`), or in a managed network — a VPC, two subnets in two AZs, an internet
//! gateway for the store instance's outbound traffic (its image pull), and a Secrets Manager
//! interface endpoint (private DNS) through which the function reads its store password at start.
//! No NAT gateway: nothing in it accepts inbound traffic from the internet, and the Lambda
//! functions need no internet access.

use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, ResourceType, State as EndpointState, VpcAttributeName,
    VpcEndpointType,
};
use nami_contract::naming::Part;
use tf_provider::schema::{AttributeConstraint, AttributeType, Block};
use tf_provider::value::Value;

use super::{Context, ec2_tag_map, security_groups, tagged_with};
use crate::aws::{
    AwsError, Clients, OptionalNotFound, after_create, aws_error, has_code, retry_while, returned,
    wait_for,
};
use crate::check::{Checker, at};
use crate::model::{PipelineState, SettingsError, known};
use crate::ownership::{Kind, Tagged};
use crate::schema::attribute;

/// The `network` block's schema.
pub fn schema() -> Block {
    crate::schema::block(
        "An existing VPC for the post-queue function (and the managed store). Without it: with the managed store, a managed \
         network (a VPC, two subnets in two AZs, an internet gateway for the instance's outbound traffic and a Secrets Manager \
         interface endpoint, no NAT gateway); with an existing store, the function runs outside any VPC. In a VPC of yours, \
         the function reads its store secret from Secrets Manager when it starts (and the managed store's instance reads its \
         passwords, pulls its image and packages): give the subnets a route to Secrets Manager — an interface endpoint with \
         private DNS, or a NAT gateway — the provider does not change your network.",
        vec![
            (
                "vpc_id",
                attribute(
                    AttributeType::String,
                    AttributeConstraint::Optional,
                    "ID of the VPC. Changing it replaces the pipeline.",
                ),
            ),
            (
                "subnet_ids",
                attribute(
                    AttributeType::List(AttributeType::String.into()),
                    AttributeConstraint::Optional,
                    "Subnets for the post-queue function (at least one; two AZs recommended).",
                ),
            ),
        ],
    )
}

/// Checks that a VPC comes with subnets and subnets with their VPC.
pub fn validate(state: &PipelineState, check: &mut Checker<'_>) {
    let Some(network) = state.network.as_ref_option() else {
        return;
    };
    let subnets = network.subnet_ids.as_ref_option().map(Vec::len);
    match (network.vpc_id.is_null(), subnets) {
        (false, Some(0)) | (false, None) if !network.subnet_ids.is_unknown() => check.fail(
            at("network", "subnet_ids"),
            "Subnets required",
            "network.vpc_id is set: give at least one subnet in network.subnet_ids",
        ),
        (true, Some(n)) if n > 0 => check.fail(
            at("network", "vpc_id"),
            "VPC required",
            "network.subnet_ids is set: give their network.vpc_id",
        ),
        _ => {}
    }
    check.aws_id(
        network.vpc_id.as_ref_option(),
        "vpc",
        at("network", "vpc_id"),
    );
    for subnet in network.subnet_ids.as_ref_option().into_iter().flatten() {
        check.aws_id(
            subnet.as_ref_option(),
            "subnet",
            at("network", "subnet_ids"),
        );
    }
}

/// The user's VPC and subnets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingNetwork {
    /// The VPC.
    pub vpc_id: String,
    /// Subnets of the post-queue function (and the store).
    pub subnet_ids: Vec<String>,
}

/// Where the post-queue function (and the managed store) run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Outside any VPC (an existing store reachable from Lambda).
    None,
    /// The user's VPC and subnets.
    Existing(ExistingNetwork),
    /// A VPC the pipeline creates (the managed store without a `network` block).
    Managed,
    /// The network of the shared store it names (without a `network` block), read at apply.
    SharedStore(String),
}

impl Plan {
    /// The network of a planned state.
    pub fn from_state(state: &PipelineState) -> Result<Self, SettingsError> {
        let managed_store = state
            .store
            .as_ref_option()
            .is_some_and(crate::model::StoreBlock::is_managed);
        let shared_store =
            (state.store.as_ref_option()).and_then(|store| store.shared.as_ref_option());
        let existing = state
            .network
            .as_ref_option()
            .filter(|n| n.vpc_id.is_value());
        Ok(match existing {
            Some(network) => Plan::Existing(ExistingNetwork {
                vpc_id: known(&network.vpc_id, "network.vpc_id")?,
                subnet_ids: known(&network.subnet_ids, "network.subnet_ids")?
                    .iter()
                    .map(|id| known(id, "network.subnet_ids[*]"))
                    .collect::<Result<_, _>>()?,
            }),
            None if managed_store => Plan::Managed,
            None => match shared_store {
                Some(store) => Plan::SharedStore(store.clone()),
                None => Plan::None,
            },
        })
    }

    /// Whether the post-queue function runs in a VPC.
    pub fn in_vpc(&self) -> bool {
        !matches!(self, Plan::None)
    }
}

/// The managed network's ids; `None` for a part not made (yet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagedNetwork {
    /// The VPC.
    pub vpc_id: Option<String>,
    /// Its two subnets, in two availability zones (empty: not made).
    pub subnet_ids: Vec<String>,
    /// The internet gateway (the store instance's outbound route).
    pub internet_gateway_id: Option<String>,
    /// The route table of both subnets.
    pub route_table_id: Option<String>,
    /// The security group of the interface endpoints.
    pub endpoint_security_group_id: Option<String>,
    /// The Secrets Manager interface endpoint.
    pub secrets_endpoint_id: Option<String>,
}

const VPC_CIDR: &str = "10.42.0.0/16";
const SUBNET_CIDRS: [&str; 2] = ["10.42.1.0/24", "10.42.2.0/24"];

/// Creates what the managed network lacks, and finishes what an interrupted create left: a
/// gateway not yet attached, a route table without its route or associations. Each id is
/// recorded in `network` as soon as it exists.
pub async fn create_managed(
    ctx: Context<'_>,
    network: &mut ManagedNetwork,
) -> Result<(), AwsError> {
    let ec2 = &ctx.clients.ec2;
    let name = ctx.object_name(Part::Main);
    let vpc_id = match &network.vpc_id {
        Some(id) => id.clone(),
        None => {
            let vpc = ec2
                .create_vpc()
                .cidr_block(VPC_CIDR)
                .tag_specifications(ctx.ec2_tags(ResourceType::Vpc, &name))
                .send()
                .await
                .map_err(aws_error("ec2:CreateVpc"))?;
            let id = returned("ec2:CreateVpc", vpc.vpc.and_then(|v| v.vpc_id))?;
            network.vpc_id.insert(id).clone()
        }
    };
    if network.subnet_ids.len() < SUBNET_CIDRS.len() {
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
        let zones = zones.iter().cycle();
        // Subnet i has CIDR i: the ones recorded so far are the first ones.
        for (cidr, zone) in SUBNET_CIDRS
            .iter()
            .zip(zones)
            .skip(network.subnet_ids.len())
        {
            let subnet = ec2
                .create_subnet()
                .vpc_id(&vpc_id)
                .cidr_block(*cidr)
                .availability_zone(zone)
                .tag_specifications(ctx.ec2_tags(ResourceType::Subnet, &format!("{name}-{zone}")))
                .send()
                .await
                .map_err(aws_error("ec2:CreateSubnet"))?;
            let id = returned("ec2:CreateSubnet", subnet.subnet.and_then(|s| s.subnet_id))?;
            network.subnet_ids.push(id);
        }
    }
    let gateway_id = match &network.internet_gateway_id {
        Some(id) => id.clone(),
        None => {
            let gateway = ec2
                .create_internet_gateway()
                .tag_specifications(ctx.ec2_tags(ResourceType::InternetGateway, &name))
                .send()
                .await
                .map_err(aws_error("ec2:CreateInternetGateway"))?;
            let id = returned(
                "ec2:CreateInternetGateway",
                gateway.internet_gateway.and_then(|g| g.internet_gateway_id),
            )?;
            network.internet_gateway_id.insert(id).clone()
        }
    };
    // Each call below may come moments after its object's create: see `after_create`.
    let gateway = after_create(ctx.deadline, || async {
        ec2.describe_internet_gateways()
            .internet_gateway_ids(&gateway_id)
            .send()
            .await
            .map_err(aws_error("ec2:DescribeInternetGateways"))
    })
    .await?;
    let attached = (gateway.internet_gateways.unwrap_or_default().into_iter())
        .flat_map(|g| g.attachments.unwrap_or_default())
        .any(|a| a.vpc_id.as_deref() == Some(vpc_id.as_str()));
    if !attached {
        after_create(ctx.deadline, || async {
            ec2.attach_internet_gateway()
                .internet_gateway_id(&gateway_id)
                .vpc_id(&vpc_id)
                .send()
                .await
                .map_err(aws_error("ec2:AttachInternetGateway"))
        })
        .await?;
    }
    let table_id = match &network.route_table_id {
        Some(id) => id.clone(),
        None => {
            let table = ec2
                .create_route_table()
                .vpc_id(&vpc_id)
                .tag_specifications(ctx.ec2_tags(ResourceType::RouteTable, &name))
                .send()
                .await
                .map_err(aws_error("ec2:CreateRouteTable"))?;
            let table_id = returned(
                "ec2:CreateRouteTable",
                table.route_table.and_then(|t| t.route_table_id),
            )?;
            network.route_table_id.insert(table_id).clone()
        }
    };
    let table = after_create(ctx.deadline, || async {
        ec2.describe_route_tables()
            .route_table_ids(&table_id)
            .send()
            .await
            .map_err(aws_error("ec2:DescribeRouteTables"))
    })
    .await?
    .route_tables
    .unwrap_or_default()
    .into_iter()
    .next()
    .unwrap_or_else(|| aws_sdk_ec2::types::RouteTable::builder().build());
    let has_default_route =
        (table.routes().iter()).any(|r| r.destination_cidr_block() == Some("0.0.0.0/0"));
    if !has_default_route {
        after_create(ctx.deadline, || async {
            ec2.create_route()
                .route_table_id(&table_id)
                .destination_cidr_block("0.0.0.0/0")
                .gateway_id(&gateway_id)
                .send()
                .await
                .map_err(aws_error("ec2:CreateRoute"))
        })
        .await?;
    }
    for subnet_id in &network.subnet_ids {
        let associated = (table.associations().iter())
            .any(|a| a.subnet_id.as_deref() == Some(subnet_id.as_str()));
        if !associated {
            after_create(ctx.deadline, || async {
                ec2.associate_route_table()
                    .route_table_id(&table_id)
                    .subnet_id(subnet_id)
                    .send()
                    .await
                    .map_err(aws_error("ec2:AssociateRouteTable"))
            })
            .await?;
        }
    }
    ensure_secrets_endpoint(ctx, network, &vpc_id).await
}

/// The Secrets Manager interface endpoint, in both subnets, with private DNS (so the SDK's usual
/// endpoint name resolves to it inside the VPC, which needs the VPC's DNS hostnames on), behind a
/// group admitting HTTPS from the network only.
async fn ensure_secrets_endpoint(
    ctx: Context<'_>,
    network: &mut ManagedNetwork,
    vpc_id: &str,
) -> Result<(), AwsError> {
    let ec2 = &ctx.clients.ec2;
    let hostnames = after_create(ctx.deadline, || async {
        ec2.describe_vpc_attribute()
            .vpc_id(vpc_id)
            .attribute(VpcAttributeName::EnableDnsHostnames)
            .send()
            .await
            .map_err(aws_error("ec2:DescribeVpcAttribute"))
    })
    .await?
    .enable_dns_hostnames
    .and_then(|value| value.value);
    if hostnames != Some(true) {
        ec2.modify_vpc_attribute()
            .vpc_id(vpc_id)
            .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
            .send()
            .await
            .map_err(aws_error("ec2:ModifyVpcAttribute"))?;
    }
    let group_id = match &network.endpoint_security_group_id {
        Some(id) => id.clone(),
        None => {
            let id = security_groups::create_endpoint_group(ctx, vpc_id).await?;
            network.endpoint_security_group_id.insert(id).clone()
        }
    };
    security_groups::open_endpoints(ctx, &group_id, VPC_CIDR).await?;
    if network.secrets_endpoint_id.is_none() {
        let name = ctx.object_name(Part::Endpoints);
        let endpoint = ec2
            .create_vpc_endpoint()
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .vpc_id(vpc_id)
            .service_name(secrets_service(&ctx.clients.region))
            .set_subnet_ids(Some(network.subnet_ids.clone()))
            .security_group_ids(&group_id)
            .private_dns_enabled(true)
            .client_token(uuid::Uuid::new_v4().simple().to_string())
            .tag_specifications(ctx.ec2_tags(ResourceType::VpcEndpoint, &name))
            .send()
            .await
            .map_err(aws_error("ec2:CreateVpcEndpoint"))?;
        let id = endpoint.vpc_endpoint.and_then(|e| e.vpc_endpoint_id);
        network.secrets_endpoint_id = Some(returned("ec2:CreateVpcEndpoint", id)?);
    }
    Ok(())
}

/// Secrets Manager's endpoint service in `region`.
pub fn secrets_service(region: &str) -> String {
    format!("com.amazonaws.{region}.secretsmanager")
}

/// The interface endpoint `endpoint_id`'s state, or `None` when it is gone (deleted counts).
pub async fn find_endpoint(
    clients: &Clients,
    endpoint_id: &str,
) -> Result<Option<EndpointState>, AwsError> {
    let output = clients
        .ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(endpoint_id)
        .send()
        .await
        .map_err(aws_error("ec2:DescribeVpcEndpoints"))
        .found()?;
    let state = output
        .and_then(|o| o.vpc_endpoints.unwrap_or_default().into_iter().next())
        .map(|e| e.state.unwrap_or(EndpointState::Pending));
    Ok(state.filter(|state| !endpoint_gone(Some(state))))
}

/// Whether an endpoint in `state` is deleted (EC2 spells its states in lower case, which the
/// SDK's enum, spelled in upper case, reads as unknown values).
fn endpoint_gone(state: Option<&EndpointState>) -> bool {
    state.is_some_and(|state| state.as_str().eq_ignore_ascii_case("deleted"))
}

/// Deletes the interface endpoint and waits until it is gone (its network interfaces hold the
/// subnets and its group until then).
async fn delete_endpoint(ctx: Context<'_>, endpoint_id: &str) -> Result<(), AwsError> {
    let ec2 = &ctx.clients.ec2;
    let call = ec2.delete_vpc_endpoints().vpc_endpoint_ids(endpoint_id);
    crate::aws::delete("ec2:DeleteVpcEndpoints", call.send()).await?;
    wait_for(
        &format!("interface endpoint {endpoint_id} to be deleted"),
        ctx.deadline,
        || async {
            Ok(find_endpoint(ctx.clients, endpoint_id)
                .await?
                .is_none()
                .then_some(()))
        },
    )
    .await
}

/// Of `candidates`, the subnets of `vpc_id` a managed network can use, in its subnets' order:
/// the one with the first CIDR, then the second (a later one without the earlier is not used).
pub async fn subnets_in_order(
    clients: &Clients,
    vpc_id: &str,
    candidates: &[String],
) -> Result<Vec<String>, AwsError> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let subnets = clients
        .ec2
        .describe_subnets()
        .set_subnet_ids(Some(candidates.to_vec()))
        .send()
        .await
        .map_err(aws_error("ec2:DescribeSubnets"))?
        .subnets
        .unwrap_or_default();
    let with_cidr = |cidr: &str| {
        subnets
            .iter()
            .find(|s| s.vpc_id.as_deref() == Some(vpc_id) && s.cidr_block.as_deref() == Some(cidr))
            .and_then(|s| s.subnet_id.clone())
    };
    Ok(SUBNET_CIDRS
        .iter()
        .map_while(|cidr| with_cidr(cidr))
        .collect())
}

/// Deletes the managed network (endpoint and its group, subnets, route table, gateway, VPC). Subnets and the VPC wait,
/// within the deadline, while Lambda still holds network interfaces in them (DependencyViolation
/// until Lambda releases them, minutes after the function is deleted).
pub async fn delete_managed(ctx: Context<'_>, network: &ManagedNetwork) -> Result<(), AwsError> {
    let ec2 = &ctx.clients.ec2;
    let busy = has_code(&["DependencyViolation"]);
    if let Some(endpoint_id) = &network.secrets_endpoint_id {
        delete_endpoint(ctx, endpoint_id).await?;
    }
    if let Some(group_id) = &network.endpoint_security_group_id {
        security_groups::delete(ctx, group_id).await?;
    }
    if let Some(table_id) = &network.route_table_id {
        let tables = ec2
            .describe_route_tables()
            .route_table_ids(table_id)
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
            let call = ec2
                .disassociate_route_table()
                .association_id(association_id);
            crate::aws::delete("ec2:DisassociateRouteTable", call.send()).await?;
        }
    }
    for subnet_id in &network.subnet_ids {
        retry_while(&busy, ctx.deadline, || async {
            let call = ec2.delete_subnet().subnet_id(subnet_id);
            crate::aws::delete("ec2:DeleteSubnet", call.send()).await
        })
        .await?;
    }
    if let Some(table_id) = &network.route_table_id {
        let call = ec2.delete_route_table().route_table_id(table_id);
        crate::aws::delete("ec2:DeleteRouteTable", call.send()).await?;
    }
    if let Some(gateway_id) = &network.internet_gateway_id {
        if let Some(vpc_id) = &network.vpc_id {
            let call = ec2
                .detach_internet_gateway()
                .internet_gateway_id(gateway_id)
                .vpc_id(vpc_id);
            crate::aws::delete("ec2:DetachInternetGateway", call.send()).await?;
        }
        let call = ec2
            .delete_internet_gateway()
            .internet_gateway_id(gateway_id);
        crate::aws::delete("ec2:DeleteInternetGateway", call.send()).await?;
    }
    if let Some(vpc_id) = &network.vpc_id {
        retry_while(&busy, ctx.deadline, || async {
            let call = ec2.delete_vpc().vpc_id(vpc_id);
            crate::aws::delete("ec2:DeleteVpc", call.send()).await
        })
        .await?;
    }
    Ok(())
}

/// The managed network's parts tagged with `pipeline`'s name (see [`crate::ownership`]).
pub async fn inventory(clients: &Clients, pipeline: &str) -> Result<Vec<Tagged>, AwsError> {
    inventory_matching(clients, tagged_with(pipeline)).await
}

/// The managed network's parts `filter` matches (an owner's tag).
pub async fn inventory_matching(
    clients: &Clients,
    filter: Filter,
) -> Result<Vec<Tagged>, AwsError> {
    let ec2 = &clients.ec2;
    let (vpcs, subnets, gateways, tables, endpoints) = tokio::try_join!(
        async {
            let call = ec2.describe_vpcs().filters(filter.clone());
            call.send().await.map_err(aws_error("ec2:DescribeVpcs"))
        },
        async {
            let call = ec2.describe_subnets().filters(filter.clone());
            call.send().await.map_err(aws_error("ec2:DescribeSubnets"))
        },
        async {
            let call = ec2.describe_internet_gateways().filters(filter.clone());
            call.send()
                .await
                .map_err(aws_error("ec2:DescribeInternetGateways"))
        },
        async {
            let call = ec2.describe_route_tables().filters(filter.clone());
            call.send()
                .await
                .map_err(aws_error("ec2:DescribeRouteTables"))
        },
        async {
            let call = ec2.describe_vpc_endpoints().filters(filter.clone());
            call.send()
                .await
                .map_err(aws_error("ec2:DescribeVpcEndpoints"))
        },
    )?;
    let mut found = Vec::new();
    for vpc in vpcs.vpcs.unwrap_or_default() {
        found.extend(
            vpc.vpc_id
                .map(|id| Tagged::new(Kind::Vpc, id, ec2_tag_map(vpc.tags))),
        );
    }
    for subnet in subnets.subnets.unwrap_or_default() {
        let tags = ec2_tag_map(subnet.tags);
        found.extend(
            subnet
                .subnet_id
                .map(|id| Tagged::new(Kind::Subnet, id, tags)),
        );
    }
    for gateway in gateways.internet_gateways.unwrap_or_default() {
        let tags = ec2_tag_map(gateway.tags);
        let id = gateway.internet_gateway_id;
        found.extend(id.map(|id| Tagged::new(Kind::InternetGateway, id, tags)));
    }
    for table in tables.route_tables.unwrap_or_default() {
        let tags = ec2_tag_map(table.tags);
        found.extend(
            table
                .route_table_id
                .map(|id| Tagged::new(Kind::RouteTable, id, tags)),
        );
    }
    let live = |e: &aws_sdk_ec2::types::VpcEndpoint| {
        !matches!(
            e.state,
            Some(EndpointState::Deleted | EndpointState::Deleting)
        )
    };
    for endpoint in (endpoints.vpc_endpoints.unwrap_or_default().into_iter()).filter(live) {
        let tags = ec2_tag_map(endpoint.tags);
        let id = endpoint.vpc_endpoint_id;
        found.extend(id.map(|id| Tagged::new(Kind::VpcEndpoint, id, tags)));
    }
    Ok(found)
}

/// Checks, before anything is created in it, that the user's VPC exists and that every given
/// subnet exists in it.
pub async fn check_existing(clients: &Clients, network: &ExistingNetwork) -> Result<(), AwsError> {
    let region = &clients.region;
    if !vpc_exists(clients, &network.vpc_id).await? {
        return Err(AwsError::Unusable(format!(
            "network.vpc_id {}: no such VPC in {region}",
            network.vpc_id
        )));
    }
    // One unknown id fails the whole call: ask for the VPC's subnets and compare.
    let subnets = clients
        .ec2
        .describe_subnets()
        .filters(
            Filter::builder()
                .name("vpc-id")
                .values(&network.vpc_id)
                .build(),
        )
        .send()
        .await
        .map_err(aws_error("ec2:DescribeSubnets"))?
        .subnets
        .unwrap_or_default();
    let missing: Vec<&str> = (network.subnet_ids.iter())
        .filter(|id| !subnets.iter().any(|s| s.subnet_id.as_ref() == Some(*id)))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(AwsError::Unusable(format!(
            "network.subnet_ids: {} not found in VPC {} ({region})",
            missing.join(", "),
            network.vpc_id
        )))
    }
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

/// Clears the managed network's ids, and those of the groups in it, when its VPC is gone: the
/// whole network, and everything in it, is then re-made.
pub async fn read_back(clients: &Clients, state: &mut PipelineState) -> Result<(), AwsError> {
    if !state.internet_gateway_id.is_value() {
        return Ok(());
    }
    let Some(vpc_id) = state.vpc_id.as_ref_option().cloned() else {
        return Ok(());
    };
    if !vpc_exists(clients, &vpc_id).await? {
        for field in [
            &mut state.vpc_id,
            &mut state.internet_gateway_id,
            &mut state.route_table_id,
            &mut state.security_group_id,
            &mut state.store_security_group_id,
            &mut state.endpoint_security_group_id,
            &mut state.secrets_endpoint_id,
        ] {
            *field = Value::Null;
        }
        state.subnet_ids = Value::Null;
    }
    Ok(())
}
