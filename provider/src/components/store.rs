//! The store: an existing MongoDB reached by connection string, or a managed one (MongoDB in
//! Docker on an EC2 instance in the pipeline's VPC). The post-queue function gets the connection
//! string through its environment.

use std::collections::HashMap;

use nami_handlers::config::vars;
use tf_provider::value::Value;

use crate::pipeline::model::StoreBlock;
use crate::pipeline::spec::StoreSettings;

/// The password inside a managed store's connection string.
pub fn password_of(uri: &str) -> Option<String> {
    let credentials = uri.strip_prefix(&format!("mongodb://{MONGODB_USER}:"))?;
    Some(credentials.split_once('@')?.0.to_owned())
}

/// Server-selection timeout given to the function: a third of its timeout, at most 5 s, so a dead
/// store fails a batch well before the function is killed.
pub fn server_selection_timeout_ms(function_timeout_seconds: i64) -> i64 {
    (function_timeout_seconds * 1000 / 3).clamp(100, 5000)
}

/// The post-queue function's store variables.
pub fn environment(
    mongodb_uri: &str,
    store: &StoreSettings,
    function_timeout_seconds: i64,
) -> HashMap<String, String> {
    HashMap::from([
        (vars::MONGODB_URI.to_owned(), mongodb_uri.to_owned()),
        (vars::MONGODB_DATABASE.to_owned(), store.database.clone()),
        (
            vars::MONGODB_COLLECTION.to_owned(),
            store.collection.clone(),
        ),
        (
            vars::MONGODB_TIMEOUT_MS.to_owned(),
            server_selection_timeout_ms(function_timeout_seconds).to_string(),
        ),
    ])
}

/// The `store` block a function's environment describes (for import).
pub fn from_environment(env: &HashMap<String, String>) -> StoreBlock {
    let get = |var: &str| {
        env.get(var)
            .cloned()
            .map(Value::Value)
            .unwrap_or(Value::Null)
    };
    StoreBlock {
        mongodb_uri: get(vars::MONGODB_URI),
        database: get(vars::MONGODB_DATABASE),
        collection: get(vars::MONGODB_COLLECTION),
        ..Default::default()
    }
}

// --- The managed store: MongoDB in Docker on an EC2 instance, its data on a separate EBS volume
// that outlives the instance (and, with `retain_volume`, the pipeline).

use aws_sdk_ec2::types::{
    HttpTokensState, InstanceMetadataEndpointState, InstanceMetadataOptionsRequest,
    InstanceNetworkInterfaceSpecification, InstanceStateName, InstanceType, IpPermission,
    ResourceType, TagSpecification, UserIdGroupPair, VolumeType,
};
use base64::Engine as _;

use super::Context;
use crate::aws::{AwsError, Clients, OptionalNotFound, aws_error, has_code, retry_while, wait_for};

/// The MongoDB image run by default (pinned).
pub const DEFAULT_IMAGE: &str = "mongo:7.0.14";
/// The instance type by default.
pub const DEFAULT_INSTANCE_TYPE: &str = "t3.small";
/// Data volume size in GiB by default.
pub const DEFAULT_VOLUME_SIZE: i64 = 20;
/// The public SSM parameter naming the latest Amazon Linux 2023 AMI.
pub const AMI_PARAMETER: &str =
    "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";
/// MongoDB's port, the only one the store's security group opens (to the post-queue function).
pub const MONGODB_PORT: i32 = 27017;
/// The device the data volume is attached as.
pub const DATA_DEVICE: &str = "/dev/sdf";
/// The MongoDB user the function connects as.
pub const MONGODB_USER: &str = "nami";

/// How the managed store is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedSettings {
    pub instance_type: String,
    pub image: String,
    pub volume_size: i64,
    pub retain_volume: bool,
    pub password: String,
}

/// The connection string of the managed store.
pub fn managed_uri(password: &str, private_ip: &str) -> String {
    format!(
        "mongodb://{MONGODB_USER}:{password}@{private_ip}:{MONGODB_PORT}/?authSource=admin&directConnection=true"
    )
}

/// A fresh password (122 random bits, hex).
pub fn generate_password() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn tags(ctx: Context<'_>, resource_type: ResourceType, part: &str) -> TagSpecification {
    super::network::tag_spec(ctx, resource_type, &ctx.object_name(part))
}

/// The store's security group: MongoDB's port from the post-queue function's group, nothing else.
pub async fn create_security_group(
    ctx: Context<'_>,
    vpc_id: &str,
    function_group_id: &str,
) -> Result<String, AwsError> {
    let ec2 = &ctx.clients.ec2;
    let group_id = ec2
        .create_security_group()
        .group_name(ctx.object_name("store"))
        .description(format!(
            "Nami pipeline {}: MongoDB, from the post-queue function only",
            ctx.name
        ))
        .vpc_id(vpc_id)
        .tag_specifications(tags(ctx, ResourceType::SecurityGroup, "store"))
        .send()
        .await
        .map_err(aws_error("ec2:CreateSecurityGroup"))?
        .group_id
        .unwrap_or_default();
    ec2.authorize_security_group_ingress()
        .group_id(&group_id)
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
        .map_err(aws_error("ec2:AuthorizeSecurityGroupIngress"))?;
    Ok(group_id)
}

/// The encrypted gp3 data volume, in the instance's availability zone.
pub async fn create_volume(
    ctx: Context<'_>,
    zone: &str,
    size_gib: i64,
) -> Result<String, AwsError> {
    let output = ctx
        .clients
        .ec2
        .create_volume()
        .availability_zone(zone)
        .size(size_gib as i32)
        .volume_type(VolumeType::Gp3)
        .encrypted(true)
        .tag_specifications(tags(ctx, ResourceType::Volume, "data"))
        .send()
        .await
        .map_err(aws_error("ec2:CreateVolume"))?;
    Ok(output.volume_id.unwrap_or_default())
}

/// The user data: Docker, the data volume mounted at /data (formatted only when blank), and
/// MongoDB with authentication, restarted with the instance.
pub fn user_data(settings: &ManagedSettings) -> String {
    let script = format!(
        r#"#!/bin/bash
set -euo pipefail
dnf install -y docker
systemctl enable --now docker
# The data volume: /dev/sdf, or its NVMe name on Nitro instances. Format only a blank volume.
for _ in $(seq 1 120); do
  device=$(lsblk -dpno NAME,SERIAL | awk '$2 ~ /^vol/ {{print $1}}' | head -n 1)
  [ -b /dev/sdf ] && device=/dev/sdf
  [ -n "${{device:-}}" ] && break
  sleep 2
done
blkid "$device" || mkfs.xfs "$device"
mkdir -p /data
grep -q " /data " /etc/fstab || echo "UUID=$(blkid -s UUID -o value "$device") /data xfs defaults,nofail 0 2" >> /etc/fstab
mount -a
mkdir -p /data/db
docker rm -f mongodb 2>/dev/null || true
docker run -d --name mongodb --restart always -p {port}:{port} -v /data/db:/data/db \
  -e MONGO_INITDB_ROOT_USERNAME={user} -e MONGO_INITDB_ROOT_PASSWORD='{password}' {image}
"#,
        port = MONGODB_PORT,
        user = MONGODB_USER,
        password = settings.password,
        image = settings.image,
    );
    base64::engine::general_purpose::STANDARD.encode(script)
}

/// Launches the instance (IMDSv2 required, no key pair). Returns its id and private IP.
pub async fn launch(
    ctx: Context<'_>,
    settings: &ManagedSettings,
    subnet_id: &str,
    security_group_id: &str,
    public_ip: bool,
) -> Result<(String, String), AwsError> {
    let image_id = ctx
        .clients
        .ssm
        .get_parameter()
        .name(AMI_PARAMETER)
        .send()
        .await
        .map_err(aws_error("ssm:GetParameter"))?
        .parameter
        .and_then(|p| p.value)
        .unwrap_or_default();
    let output = ctx
        .clients
        .ec2
        .run_instances()
        .image_id(image_id)
        .instance_type(InstanceType::from(settings.instance_type.as_str()))
        .min_count(1)
        .max_count(1)
        .network_interfaces(
            InstanceNetworkInterfaceSpecification::builder()
                .device_index(0)
                .subnet_id(subnet_id)
                .groups(security_group_id)
                .associate_public_ip_address(public_ip)
                .build(),
        )
        .metadata_options(
            InstanceMetadataOptionsRequest::builder()
                .http_tokens(HttpTokensState::Required)
                .http_endpoint(InstanceMetadataEndpointState::Enabled)
                .build(),
        )
        .user_data(user_data(settings))
        .tag_specifications(tags(ctx, ResourceType::Instance, "store"))
        .send()
        .await
        .map_err(aws_error("ec2:RunInstances"))?;
    let instance = output
        .instances
        .unwrap_or_default()
        .into_iter()
        .next()
        .unwrap_or_else(|| aws_sdk_ec2::types::Instance::builder().build());
    Ok((
        instance.instance_id.unwrap_or_default(),
        instance.private_ip_address.unwrap_or_default(),
    ))
}

/// Attaches the data volume once the instance runs.
pub async fn attach_volume(
    ctx: Context<'_>,
    volume_id: &str,
    instance_id: &str,
) -> Result<(), AwsError> {
    wait_for(
        &format!("instance {instance_id} to run"),
        ctx.deadline,
        || async {
            Ok(find_instance(ctx.clients, instance_id)
                .await?
                .filter(|i| i.running)
                .map(drop))
        },
    )
    .await?;
    retry_while(
        has_code(&["IncorrectState", "VolumeInUse"]),
        ctx.deadline,
        || async {
            ctx.clients
                .ec2
                .attach_volume()
                .volume_id(volume_id)
                .instance_id(instance_id)
                .device(DATA_DEVICE)
                .send()
                .await
                .map_err(aws_error("ec2:AttachVolume"))
        },
    )
    .await?;
    Ok(())
}

/// An instance as AWS reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceFacts {
    pub private_ip: String,
    pub running: bool,
    pub instance_type: String,
}

/// The instance, or `None` when it does not exist or is terminated.
pub async fn find_instance(
    clients: &Clients,
    instance_id: &str,
) -> Result<Option<InstanceFacts>, AwsError> {
    let output = clients
        .ec2
        .describe_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .map_err(aws_error("ec2:DescribeInstances"))
        .found()?;
    let instance = output
        .and_then(|o| o.reservations.unwrap_or_default().into_iter().next())
        .and_then(|r| r.instances.unwrap_or_default().into_iter().next());
    Ok(instance.and_then(|i| {
        let state = i
            .state
            .and_then(|s| s.name)
            .unwrap_or(InstanceStateName::Pending);
        let gone = matches!(
            state,
            InstanceStateName::Terminated | InstanceStateName::ShuttingDown
        );
        (!gone).then(|| InstanceFacts {
            private_ip: i.private_ip_address.unwrap_or_default(),
            running: state == InstanceStateName::Running,
            instance_type: i
                .instance_type
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
        })
    }))
}

/// Terminates the instance and waits until it is gone (its volume is then free).
pub async fn terminate(ctx: Context<'_>, instance_id: &str) -> Result<(), AwsError> {
    let terminated = ctx
        .clients
        .ec2
        .terminate_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .map_err(aws_error("ec2:TerminateInstances"))
        .found()?;
    if terminated.is_none() {
        return Ok(());
    }
    wait_for(
        &format!("instance {instance_id} to terminate"),
        ctx.deadline,
        || async {
            Ok(find_instance(ctx.clients, instance_id)
                .await?
                .is_none()
                .then_some(()))
        },
    )
    .await
}

/// Grows the data volume to `size_gib` (EBS volumes only grow).
pub async fn resize_volume(
    ctx: Context<'_>,
    volume_id: &str,
    size_gib: i64,
) -> Result<(), AwsError> {
    ctx.clients
        .ec2
        .modify_volume()
        .volume_id(volume_id)
        .size(size_gib as i32)
        .send()
        .await
        .map_err(aws_error("ec2:ModifyVolume"))?;
    Ok(())
}

/// The ids of the managed store's instance, data volume and security group, found by name (import).
pub async fn find_by_name(
    clients: &Clients,
    pipeline: &str,
) -> Result<(Option<String>, Option<String>, Option<String>), AwsError> {
    use aws_sdk_ec2::types::Filter;
    let name = |part: &str| super::object_name(pipeline, part);
    let instances = clients
        .ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag:Name")
                .values(name("store"))
                .build(),
        )
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .values("stopping")
                .values("stopped")
                .build(),
        )
        .send()
        .await
        .map_err(aws_error("ec2:DescribeInstances"))?;
    let instance_id = instances
        .reservations
        .unwrap_or_default()
        .into_iter()
        .flat_map(|r| r.instances.unwrap_or_default())
        .find_map(|i| i.instance_id);
    let volumes = clients
        .ec2
        .describe_volumes()
        .filters(
            Filter::builder()
                .name("tag:Name")
                .values(name("data"))
                .build(),
        )
        .send()
        .await
        .map_err(aws_error("ec2:DescribeVolumes"))?;
    let volume_id = volumes
        .volumes
        .unwrap_or_default()
        .into_iter()
        .find_map(|v| v.volume_id);
    let groups = clients
        .ec2
        .describe_security_groups()
        .filters(
            Filter::builder()
                .name("group-name")
                .values(name("store"))
                .build(),
        )
        .send()
        .await
        .map_err(aws_error("ec2:DescribeSecurityGroups"))?;
    let group_id = groups
        .security_groups
        .unwrap_or_default()
        .into_iter()
        .find_map(|g| g.group_id);
    Ok((instance_id, volume_id, group_id))
}

/// Whether volume `volume_id` exists.
pub async fn volume_exists(clients: &Clients, volume_id: &str) -> Result<bool, AwsError> {
    Ok(clients
        .ec2
        .describe_volumes()
        .volume_ids(volume_id)
        .send()
        .await
        .map_err(aws_error("ec2:DescribeVolumes"))
        .found()?
        .is_some_and(|o| !o.volumes.unwrap_or_default().is_empty()))
}

/// Deletes the data volume (after its instance is gone).
pub async fn delete_volume(ctx: Context<'_>, volume_id: &str) -> Result<(), AwsError> {
    retry_while(
        has_code(&["VolumeInUse", "IncorrectState"]),
        ctx.deadline,
        || async {
            ctx.clients
                .ec2
                .delete_volume()
                .volume_id(volume_id)
                .send()
                .await
                .map_err(aws_error("ec2:DeleteVolume"))
                .found()
        },
    )
    .await
    .map(drop)
}
