//! Refresh: each object the state names is looked up; one deleted out of band loses its id, so
//! the next plan shows it made again. A store whose instance, volume and group are all gone has
//! vanished and leaves the state.

use tf_provider::value::Value;

use super::state::StoreState;
use crate::aws::{AwsError, Clients};
use crate::components::secret;
use crate::components::security_groups;
use crate::components::store::{instance, shared, snapshots};

/// The state as AWS holds it now, or `None` when the store is gone.
pub async fn refresh(
    clients: &Clients,
    mut state: StoreState,
) -> Result<Option<StoreState>, AwsError> {
    let id = |field: &Value<String>| field.as_ref_option().cloned();
    let (instance, volume_size, group, root, policy) = tokio::try_join!(
        async {
            match id(&state.instance_id) {
                Some(instance_id) => instance::find_instance(clients, &instance_id).await,
                None => Ok(None),
            }
        },
        async {
            match id(&state.data_volume_id) {
                Some(volume_id) => instance::volume_size(clients, &volume_id).await,
                None => Ok(None),
            }
        },
        async {
            match id(&state.security_group_id) {
                Some(group_id) => security_groups::find(clients, &group_id).await,
                None => Ok(None),
            }
        },
        async {
            match id(&state.root_secret_arn) {
                Some(arn) => secret::value(clients, &arn).await.map(|v| v.map(drop)),
                None => Ok(None),
            }
        },
        async {
            match id(&state.snapshot_policy_id) {
                Some(policy_id) => snapshots::find(clients, &policy_id)
                    .await
                    .map(|p| p.map(drop)),
                None => Ok(None),
            }
        },
    )?;
    if instance.is_none() && volume_size.is_none() && group.is_none() {
        return Ok(None);
    }
    match instance {
        Some(facts) => {
            state.private_ip = Value::Value(facts.private_ip);
            state.instance_type = Value::Value(facts.instance_type);
        }
        None => {
            state.instance_id = Value::Null;
            state.private_ip = Value::Null;
        }
    }
    match volume_size {
        Some(size) => state.volume_size = Value::Value(i64::from(size)),
        None => state.data_volume_id = Value::Null,
    }
    if group.is_none() {
        state.security_group_id = Value::Null;
    }
    if root.is_none() {
        state.root_secret_arn = Value::Null;
    }
    if policy.is_none() {
        state.snapshot_policy_id = Value::Null;
    }
    Ok(Some(state))
}

/// The store named `name`, read back from AWS (import), or `None` when no live instance carries
/// its tag. Its settings are what the instance, its user data and the data volume say; the
/// network is its own when the VPC carries the store's tag.
pub async fn import(clients: &Clients, name: &str) -> Result<Option<StoreState>, AwsError> {
    use crate::components::{Owner, ec2_tag_map, network, object_name, store_tagged_with};
    use crate::model::{str_list, to_str_map, value_of};
    use crate::ownership::{Kind, Tagged};
    use nami_contract::naming::Part;
    use nami_contract::naming::{OWNER_TAG, store_stem};

    let Some(found) = shared::find_instance(clients, name).await? else {
        return Ok(None);
    };
    let tags = ec2_tag_map(found.tags.clone());
    let instance_id = found.instance_id.clone().unwrap_or_default();
    let data_volume_id = (found.block_device_mappings.iter().flatten())
        .find(|mapping| mapping.device_name.as_deref() == Some(instance::DATA_DEVICE))
        .and_then(|mapping| mapping.ebs.as_ref()?.volume_id.clone());
    let volume_tags = match &data_volume_id {
        Some(volume_id) => (instance::find_volume(clients, volume_id).await?)
            .map(|volume| ec2_tag_map(volume.tags)),
        None => None,
    };
    let volume = (data_volume_id.as_ref())
        .map(|id| Tagged::new(Kind::Volume, id, volume_tags.unwrap_or_default()));
    let facts = instance::read_facts(clients, &instance_id, volume.as_ref()).await?;
    let vpc_id = found.vpc_id.clone().unwrap_or_default();
    let stem = store_stem(name);
    let named = |part| object_name(Owner::Store, &stem, part);
    let own_network = network::inventory_matching(clients, store_tagged_with(name)).await?;
    let of_kind = |kind: Kind| {
        (own_network.iter())
            .filter(move |object| object.kind == kind)
            .map(|object| object.id.clone())
    };
    let mut state = StoreState {
        id: Value::Value(name.to_owned()),
        name: Value::Value(name.to_owned()),
        owner_token: value_of(tags.get(OWNER_TAG).cloned()),
        instance_id: Value::Value(instance_id.clone()),
        private_ip: value_of(found.private_ip_address.clone()),
        instance_type: value_of(found.instance_type.as_ref().map(|t| t.as_str().to_owned())),
        image: value_of(facts.image),
        volume_size: value_of(facts.volume_size.map(i64::from)),
        retain_volume: value_of(facts.retain_volume),
        data_volume_id: value_of(data_volume_id),
        security_group_id: value_of(shared::groups_of(&found).into_iter().next()),
        vpc_id: Value::Value(vpc_id.clone()),
        ..Default::default()
    };
    // EC2 shows its own `Name` among the tags.
    let mut user_tags = crate::aws::own_tags(&clients.default_tags, &tags);
    user_tags.remove("Name");
    state.tags = if user_tags.is_empty() {
        Value::Null
    } else {
        to_str_map(&user_tags)
    };
    state.tags_all = to_str_map(&crate::aws::tags_all(&clients.default_tags, &user_tags));
    if of_kind(Kind::Vpc).any(|id| id == vpc_id) {
        let subnets: Vec<String> = of_kind(Kind::Subnet).collect();
        let subnets = network::subnets_in_order(clients, &vpc_id, &subnets).await?;
        state.subnet_ids = str_list(&subnets);
        state.internet_gateway_id = value_of(of_kind(Kind::InternetGateway).next());
        state.route_table_id = value_of(of_kind(Kind::RouteTable).next());
        state.secrets_endpoint_id = value_of(of_kind(Kind::VpcEndpoint).next());
        state.endpoint_security_group_id =
            value_of(security_groups::find_named(clients, &vpc_id, &named(Part::Endpoints)).await?);
    } else {
        let subnets = shared::store_subnets(clients, &found).await?;
        state.subnet_ids = str_list(&subnets);
        state.network = Value::Value(crate::model::NetworkBlock {
            vpc_id: Value::Value(vpc_id),
            subnet_ids: str_list(&subnets),
        });
    }
    let account = (found.iam_instance_profile.as_ref())
        .and_then(|profile| profile.arn.as_deref())
        .and_then(|arn| arn.split(':').nth(4))
        .unwrap_or_default()
        .to_owned();
    state.role_arn = Value::Value(format!(
        "arn:aws:iam::{account}:role/{}",
        named(Part::Store)
    ));
    state.root_secret_arn =
        value_of(secret::arn_named(clients, &named(Part::StoreRootSecret)).await?);
    let policies = snapshots::inventory(clients, &stem, true).await?;
    if let Some(policy) = policies.first() {
        let facts = snapshots::find(clients, &policy.id).await?;
        state.snapshot_policy_id = Value::Value(policy.id.clone());
        state.snapshot_role_arn = value_of(facts.as_ref().and_then(|f| f.role_arn.clone()));
        state.snapshot_retention_days =
            value_of(facts.and_then(|f| f.retention_days).map(i64::from));
    }
    Ok(Some(state))
}
