//! The managed store's EC2 parts: MongoDB in Docker on an instance (IMDSv2 required, no key
//! pair), its data on a separate encrypted EBS volume that outlives the instance (and, with
//! `retain_volume`, the pipeline).

use aws_sdk_ec2::types::{
    Filter, HttpTokensState, IamInstanceProfileSpecification, InstanceMetadataEndpointState,
    InstanceMetadataOptionsRequest, InstanceNetworkInterfaceSpecification, InstanceStateName,
    InstanceType, ResourceType, TagSpecification, VolumeType,
};
use base64::Engine as _;
use nami_contract::naming::{Part, RETAINED_TAG, object_name};
use tf_provider::value::Value;

use super::{ManagedSettings, ROOT_USER, WRITER_USER};
use crate::aws::{
    AwsError, Clients, OptionalNotFound, TagChange, aws_error, has_code, has_code_and_message,
    retry_while, returned, wait_for,
};
use crate::components::security_groups::MONGODB_PORT;
use crate::components::{Context, add_ec2_tag, ec2_tag_map, retag_ec2, tagged_with};
use crate::model::{PipelineState, block};
use crate::ownership::{Kind, Tagged};

/// The public SSM parameter naming the latest Amazon Linux 2023 AMI.
pub const AMI_PARAMETER: &str =
    "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";
/// The device the data volume is attached as.
pub const DATA_DEVICE: &str = "/dev/sdf";

fn tags(ctx: Context<'_>, resource_type: ResourceType, part: Part) -> TagSpecification {
    ctx.ec2_tags(resource_type, &ctx.object_name(part))
}

/// The encrypted gp3 data volume, in the instance's availability zone.
pub async fn create_volume(
    ctx: Context<'_>,
    zone: &str,
    size_gib: i32,
) -> Result<String, AwsError> {
    let output = ctx
        .clients
        .ec2
        .create_volume()
        .availability_zone(zone)
        .size(size_gib)
        .volume_type(VolumeType::Gp3)
        .encrypted(true)
        .client_token(uuid::Uuid::new_v4().simple().to_string())
        .tag_specifications(tags(ctx, ResourceType::Volume, Part::DataVolume))
        .send()
        .await
        .map_err(aws_error("ec2:CreateVolume"))?;
    returned("ec2:CreateVolume", output.volume_id)
}

/// Makes the data volume in `subnet_id`'s zone (where the instance runs): adopts
/// `settings.volume_id` (a kept volume) or creates one, and records `retain_volume` on it.
/// Returns its id.
pub async fn make_data_volume(
    ctx: Context<'_>,
    subnet_id: &str,
    settings: &ManagedSettings,
) -> Result<String, AwsError> {
    let zone = crate::aws::after_create(ctx.deadline, || {
        crate::components::network::subnet_zone(ctx.clients, subnet_id)
    })
    .await?;
    let volume_id = match &settings.volume_id {
        Some(volume_id) => {
            adopt_volume(ctx, volume_id, &zone).await?;
            volume_id.clone()
        }
        None => create_volume(ctx, &zone, settings.volume_size).await?,
    };
    record_retention(ctx.clients, &volume_id, settings.retain_volume).await?;
    Ok(volume_id)
}

/// Makes `volume_id` (named by `store.volume_id`: the volume a destroyed pipeline kept) this
/// pipeline's data volume: it must exist, be available and lie in `zone`; it is re-tagged as the
/// pipeline's and no longer marked retained.
pub async fn adopt_volume(ctx: Context<'_>, volume_id: &str, zone: &str) -> Result<(), AwsError> {
    let volume = find_volume(ctx.clients, volume_id).await?;
    let unusable = |why: String| AwsError::Unusable(format!("store.volume_id {volume_id}: {why}"));
    let volume =
        volume.ok_or_else(|| unusable(format!("no such volume in {}", ctx.clients.region)))?;
    let volume_zone = volume.availability_zone.unwrap_or_default();
    if volume_zone != zone {
        return Err(unusable(format!(
            "it is in {volume_zone}, the store runs in {zone}: snapshot it and create a volume from the snapshot in {zone}"
        )));
    }
    if volume.state != Some(aws_sdk_ec2::types::VolumeState::Available) {
        return Err(unusable(
            "it is attached to an instance or not ready".into(),
        ));
    }
    let mut tags = ctx.object_tags();
    tags.insert("Name".into(), ctx.object_name(Part::DataVolume));
    let change = TagChange {
        tags,
        removed: vec![RETAINED_TAG.to_owned()],
    };
    retag_ec2(ctx.clients, &[volume_id.to_owned()], &change).await
}

/// The user data script (`user-data.sh`, its own file, checked by shellcheck in the tests):
/// Docker, the data volume found by its id and mounted at /data (formatted only when blank), and
/// MongoDB as a systemd service that starts only on that volume, with its users made to match
/// the store's secrets before every start.
const USER_DATA: &str = include_str!("user-data.sh");

/// The script that makes MongoDB's users match the secrets (run by mongosh; installed by the
/// user data, run against SecantusDB in the tests).
pub const CONVERGE_USERS_JS: &str = include_str!("converge-users.js");

/// The script that makes a shared store's tenants' users match their secrets (run by mongosh
/// every 30 s; installed by the user data of a shared store, run against SecantusDB in the tests).
pub const CONVERGE_TENANTS_JS: &str = include_str!("converge-tenants.js");

/// EC2's limit on user data, before base64.
pub const USER_DATA_MAX_BYTES: usize = 16 * 1024;

/// What an instance's user data names besides the store's settings: never a password.
#[derive(Debug, Clone, Copy)]
pub struct Boot<'a> {
    /// The data volume, found by its id.
    pub volume_id: &'a str,
    /// The secret holding the root password.
    pub root_secret_arn: &'a str,
    /// The store's own writer (a pipeline's inline store); a shared store has none.
    pub writer: Option<Writer<'a>>,
    /// A shared store's name: its tenants' users are made from the secrets tagged with it.
    pub shared_store: Option<&'a str>,
}

/// The user the store makes for its pipeline's post-queue function.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    /// The database the writer may read and write.
    pub database: &'a str,
    /// The secret holding the writer's password.
    pub secret_arn: &'a str,
}

/// The user data of an instance, base64-encoded for EC2.
pub fn user_data(settings: &ManagedSettings, boot: Boot<'_>) -> String {
    base64::engine::general_purpose::STANDARD.encode(user_data_script(settings, boot))
}

/// The user data script itself.
pub fn user_data_script(settings: &ManagedSettings, boot: Boot<'_>) -> String {
    // Every value sits between single quotes in the script; the user script in a quoted
    // here-document.
    let quoted = |value: &str| value.replace('\'', r"'\''");
    [
        ("@VOLUME_ID@", quoted(boot.volume_id)),
        ("@IMAGE@", quoted(&settings.image)),
        ("@PORT@", MONGODB_PORT.to_string()),
        ("@ROOT_USER@", quoted(ROOT_USER)),
        (
            "@WRITER_USER@",
            quoted(boot.writer.map_or("", |_| WRITER_USER)),
        ),
        (
            "@DATABASE@",
            quoted(boot.writer.map_or("", |writer| writer.database)),
        ),
        ("@ROOT_SECRET_ARN@", quoted(boot.root_secret_arn)),
        (
            "@WRITER_SECRET_ARN@",
            quoted(boot.writer.map_or("", |writer| writer.secret_arn)),
        ),
        ("@CONVERGE_USERS_JS@", embedded(CONVERGE_USERS_JS)),
        ("@STORE_NAME@", quoted(boot.shared_store.unwrap_or(""))),
        (
            "@CONVERGE_TENANTS_JS@",
            boot.shared_store
                .map_or_else(String::new, |_| embedded(CONVERGE_TENANTS_JS)),
        ),
    ]
    .iter()
    .fold(USER_DATA.to_owned(), |script, (placeholder, value)| {
        script.replace(placeholder, value)
    })
}

/// A script as the user data embeds it: without its comment lines (`// …`; the repository's
/// file keeps them) and trailing blank lines, so the user data stays within EC2's 16 KiB.
pub fn embedded(script: &str) -> String {
    (script.lines())
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_owned()
}

/// Where an instance is launched, and as whom.
#[derive(Debug, Clone, Copy)]
pub struct Placement<'a> {
    /// Its subnet.
    pub subnet_id: &'a str,
    /// The store's security group.
    pub security_group_id: &'a str,
    /// Whether it gets a public address (the managed network has no NAT gateway).
    pub public_ip: bool,
    /// The instance profile whose role reads the store's secrets.
    pub instance_profile: &'a str,
}

/// Launches the instance (IMDSv2 required, hop limit 1, no key pair). Returns its id.
pub async fn launch(
    ctx: Context<'_>,
    settings: &ManagedSettings,
    boot: Boot<'_>,
    placement: Placement<'_>,
) -> Result<String, AwsError> {
    let image_id = ctx
        .clients
        .ssm
        .get_parameter()
        .name(AMI_PARAMETER)
        .send()
        .await
        .map_err(aws_error("ssm:GetParameter"))?
        .parameter
        .and_then(|p| p.value);
    let image_id = returned("ssm:GetParameter", image_id)?;
    // The SDK's own retries (a lost response) then return this instance, not a second one.
    let token = uuid::Uuid::new_v4().simple().to_string();
    // A new instance profile is unknown to EC2 for a few seconds.
    let profile_unknown = has_code_and_message("InvalidParameterValue", "nstance Profile");
    let output = retry_while(profile_unknown, ctx.deadline, || async {
        ctx.clients
            .ec2
            .run_instances()
            .image_id(&image_id)
            .instance_type(InstanceType::from(settings.instance_type.as_str()))
            .min_count(1)
            .max_count(1)
            .client_token(&token)
            .iam_instance_profile(
                IamInstanceProfileSpecification::builder()
                    .name(placement.instance_profile)
                    .build(),
            )
            .network_interfaces(
                InstanceNetworkInterfaceSpecification::builder()
                    .device_index(0)
                    .subnet_id(placement.subnet_id)
                    .groups(placement.security_group_id)
                    .associate_public_ip_address(placement.public_ip)
                    .build(),
            )
            .metadata_options(
                InstanceMetadataOptionsRequest::builder()
                    .http_tokens(HttpTokensState::Required)
                    // One hop: the instance itself, not a container on it, reaches the metadata.
                    .http_put_response_hop_limit(1)
                    .http_endpoint(InstanceMetadataEndpointState::Enabled)
                    .build(),
            )
            .user_data(user_data(settings, boot))
            .tag_specifications(tags(ctx, ResourceType::Instance, Part::Store))
            // The root volume is the instance's (deleted with it), tagged and named as it is.
            .tag_specifications(tags(ctx, ResourceType::Volume, Part::Store))
            .send()
            .await
            .map_err(aws_error("ec2:RunInstances"))
    })
    .await?;
    let instance_id = output
        .instances
        .unwrap_or_default()
        .into_iter()
        .next()
        .and_then(|instance| instance.instance_id);
    returned("ec2:RunInstances", instance_id)
}

/// Attaches the data volume to the instance once it runs, unless it is attached already.
pub async fn ensure_attached(
    ctx: Context<'_>,
    volume_id: &str,
    instance_id: &str,
) -> Result<(), AwsError> {
    let volume = find_volume(ctx.clients, volume_id).await?;
    let attached = (volume.into_iter())
        .flat_map(|v| v.attachments.unwrap_or_default())
        .any(|a| a.instance_id.as_deref() == Some(instance_id));
    if attached {
        return Ok(());
    }
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
    // A volume just released by a terminated instance (an instance swap) reads as in use, or in
    // the wrong state, until EC2 shows it available.
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
    /// Its private address (the store's connection string names it).
    pub private_ip: String,
    /// Whether it is running.
    pub running: bool,
    /// Its instance type.
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
    size_gib: i32,
) -> Result<(), AwsError> {
    ctx.clients
        .ec2
        .modify_volume()
        .volume_id(volume_id)
        .size(size_gib)
        .send()
        .await
        .map_err(aws_error("ec2:ModifyVolume"))?;
    Ok(())
}

/// The managed store's settings as its instance and volume tell them (import).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagedFacts {
    /// The MongoDB image its user data runs.
    pub image: Option<String>,
    /// Whether destroy keeps the volume (its `nami:retain-volume` tag).
    pub retain_volume: Option<bool>,
    /// The volume's size in GiB.
    pub volume_size: Option<i32>,
}

/// The tag on the data volume recording `retain_volume`, so import can read it back.
pub const RETAIN_VOLUME_TAG: &str = "nami:retain-volume";

/// Records `retain` on the data volume (at create, and when it changes).
pub async fn record_retention(
    clients: &Clients,
    volume_id: &str,
    retain: bool,
) -> Result<(), AwsError> {
    add_ec2_tag(clients, volume_id, RETAIN_VOLUME_TAG, retain.to_string()).await
}

/// The store's settings from its instance (`instance_id`) and data volume (`volume` with its
/// tags, from the pipeline's inventory).
pub async fn read_facts(
    clients: &Clients,
    instance_id: &str,
    volume: Option<&crate::ownership::Tagged>,
) -> Result<ManagedFacts, AwsError> {
    let user_data = clients
        .ec2
        .describe_instance_attribute()
        .instance_id(instance_id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .map_err(aws_error("ec2:DescribeInstanceAttribute"))?
        .user_data
        .and_then(|value| value.value)
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    let volume_size = match volume {
        Some(volume) => volume_size(clients, &volume.id).await?,
        None => None,
    };
    Ok(ManagedFacts {
        image: user_data.as_deref().and_then(image_in),
        retain_volume: volume
            .and_then(|v| v.tags.get(RETAIN_VOLUME_TAG))
            .and_then(|value| value.parse().ok()),
        volume_size,
    })
}

/// The image a user data script (see [`user_data`]) runs: its `IMAGE='…'` line.
pub fn image_in(script: &str) -> Option<String> {
    let line = script.lines().find(|line| line.starts_with("IMAGE='"))?;
    let image = line.strip_prefix("IMAGE='")?.strip_suffix('\'')?;
    Some(image.replace(r"'\''", "'"))
}

/// The store's live instances (not terminated) and its volumes tagged with `pipeline`'s name
/// (see [`crate::ownership`]).
pub async fn inventory(clients: &Clients, pipeline: &str) -> Result<Vec<Tagged>, AwsError> {
    let ec2 = &clients.ec2;
    let (instances, volumes) = tokio::try_join!(
        async {
            ec2.describe_instances()
                .filters(tagged_with(pipeline))
                .filters(live_instances())
                .send()
                .await
                .map_err(aws_error("ec2:DescribeInstances"))
        },
        async {
            ec2.describe_volumes()
                .filters(tagged_with(pipeline))
                .send()
                .await
                .map_err(aws_error("ec2:DescribeVolumes"))
        },
    )?;
    let mut found = Vec::new();
    for instance in instances
        .reservations
        .unwrap_or_default()
        .into_iter()
        .flat_map(|r| r.instances.unwrap_or_default())
    {
        let tags = ec2_tag_map(instance.tags);
        found.extend(
            instance
                .instance_id
                .map(|id| Tagged::new(Kind::Instance, id, tags)),
        );
    }
    // The data volume by its name: the instance's root volume carries the pipeline's tags too.
    let data_volume = object_name(pipeline, Part::DataVolume);
    for volume in volumes.volumes.unwrap_or_default() {
        let tags = ec2_tag_map(volume.tags);
        if tags.get("Name") == Some(&data_volume) {
            found.extend(
                volume
                    .volume_id
                    .map(|id| Tagged::new(Kind::Volume, id, tags)),
            );
        }
    }
    Ok(found)
}

/// Instances that are not terminated (or on their way there).
pub fn live_instances() -> Filter {
    Filter::builder()
        .name("instance-state-name")
        .values("pending")
        .values("running")
        .values("stopping")
        .values("stopped")
        .build()
}

/// Tags a data volume kept by `retain_volume` as retained: the data of a destroyed pipeline,
/// never adopted as a leftover by a later create of the same name.
pub async fn mark_retained(clients: &Clients, volume_id: &str) -> Result<(), AwsError> {
    // The value: when, in seconds since the Unix epoch.
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs().to_string())
        .unwrap_or_default();
    add_ec2_tag(clients, volume_id, RETAINED_TAG, since).await
}

/// Volume `volume_id` as EC2 reports it, or `None` when it does not exist.
pub async fn find_volume(
    clients: &Clients,
    volume_id: &str,
) -> Result<Option<aws_sdk_ec2::types::Volume>, AwsError> {
    Ok(clients
        .ec2
        .describe_volumes()
        .volume_ids(volume_id)
        .send()
        .await
        .map_err(aws_error("ec2:DescribeVolumes"))
        .found()?
        .and_then(|o| o.volumes.unwrap_or_default().into_iter().next()))
}

/// The size in GiB of volume `volume_id`, or `None` when it does not exist.
pub async fn volume_size(clients: &Clients, volume_id: &str) -> Result<Option<i32>, AwsError> {
    let volume = find_volume(clients, volume_id).await?;
    Ok(volume.map(|volume| volume.size.unwrap_or_default()))
}

/// Deletes the data volume (after its instance is gone; until EC2 shows it detached, it answers
/// VolumeInUse or IncorrectState).
pub async fn delete_volume(ctx: Context<'_>, volume_id: &str) -> Result<(), AwsError> {
    retry_while(
        has_code(&["VolumeInUse", "IncorrectState"]),
        ctx.deadline,
        || async {
            let call = ctx.clients.ec2.delete_volume().volume_id(volume_id);
            crate::aws::delete("ec2:DeleteVolume", call.send()).await
        },
    )
    .await
}

/// Writes what EC2 reports into `state`: the instance type, and ids cleared when the instance
/// (terminated counts as gone) or the volume is gone.
pub async fn read_back(clients: &Clients, state: &mut PipelineState) -> Result<(), AwsError> {
    if let Some(id) = state.instance_id.as_ref_option().cloned() {
        match find_instance(clients, &id).await? {
            Some(facts) => {
                block(&mut state.store).instance_type = Value::Value(facts.instance_type)
            }
            None => state.instance_id = Value::Null,
        }
    }
    if let Some(id) = state.data_volume_id.as_ref_option().cloned() {
        match volume_size(clients, &id).await? {
            Some(size) => block(&mut state.store).volume_size = Value::Value(size.into()),
            None => state.data_volume_id = Value::Null,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The script's logic runs against fixture trees in tests/tests/it/user_data.rs, where
    //! shellcheck checks it too.
    use base64::Engine as _;

    use super::*;

    const VOLUME: &str = "vol-0123456789abcdef0";

    const BOOT: Boot<'static> = Boot {
        volume_id: VOLUME,
        root_secret_arn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:nami-p-store-root-AbCdEf",
        writer: Some(Writer {
            database: "events",
            secret_arn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:nami-p-store-writer-GhIjKl",
        }),
        shared_store: None,
    };

    fn rendered(settings: &ManagedSettings) -> String {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(user_data(settings, BOOT))
            .unwrap();
        String::from_utf8(bytes).unwrap()
    }

    fn settings() -> ManagedSettings {
        ManagedSettings {
            instance_type: "t3.small".into(),
            image: "mongo:7.0.99".into(),
            volume_size: 20,
            retain_volume: true,
            volume_id: None,
            snapshot_retention_days: None,
        }
    }

    #[test]
    fn import_reads_the_image_back_from_the_user_data() {
        assert_eq!(
            image_in(&rendered(&settings())).as_deref(),
            Some("mongo:7.0.99")
        );
        let quoted = ManagedSettings {
            image: "registry.example/it's:1".into(),
            ..settings()
        };
        assert_eq!(
            image_in(&rendered(&quoted)).as_deref(),
            Some("registry.example/it's:1")
        );
        assert_eq!(image_in("#!/bin/bash\necho no store\n"), None);
    }

    #[test]
    fn every_value_is_filled_in_between_single_quotes() {
        let script = rendered(&settings());
        assert!(script.starts_with("#!/bin/bash\n"));
        for placeholder in [
            "VOLUME_ID",
            "IMAGE",
            "PORT",
            "ROOT_USER",
            "WRITER_USER",
            "DATABASE",
            "ROOT_SECRET_ARN",
            "WRITER_SECRET_ARN",
            "CONVERGE_USERS_JS",
        ] {
            assert!(USER_DATA.contains(&format!("@{placeholder}@")));
            assert!(
                !script.contains(&format!("@{placeholder}@")),
                "{placeholder}"
            );
        }
        for line in [
            format!("VOLUME_ID='{VOLUME}'"),
            "IMAGE='mongo:7.0.99'".to_owned(),
            format!("PORT='{MONGODB_PORT}'"),
            format!("ROOT_USER='{ROOT_USER}'"),
            format!("WRITER_USER='{WRITER_USER}'"),
            "DATABASE='events'".to_owned(),
            format!("ROOT_SECRET_ARN='{}'", BOOT.root_secret_arn),
            format!(
                "WRITER_SECRET_ARN='{}'",
                BOOT.writer.map_or("", |writer| writer.secret_arn)
            ),
        ] {
            assert!(script.lines().any(|l| l == line), "{line} missing");
        }
        assert!(script.contains(&embedded(CONVERGE_USERS_JS)));
        assert!(script.len() < USER_DATA_MAX_BYTES, "{} bytes", script.len());
        // A shared store's, with its tenants' script: within the limit too.
        let shared = user_data_script(
            &settings(),
            Boot {
                writer: None,
                shared_store: Some("team"),
                ..BOOT
            },
        );
        assert!(shared.contains(&embedded(CONVERGE_TENANTS_JS)));
        assert!(shared.contains("STORE_NAME='team'"));
        assert!(shared.len() < USER_DATA_MAX_BYTES, "{} bytes", shared.len());
    }

    #[test]
    fn user_data_is_valid_bash() {
        let path = std::env::temp_dir().join(format!("nami-user-data-{}.sh", std::process::id()));
        std::fs::write(&path, rendered(&settings())).unwrap();
        let check = std::process::Command::new("bash")
            .arg("-n")
            .arg(&path)
            .output()
            .unwrap();
        std::fs::remove_file(&path).ok();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
}
