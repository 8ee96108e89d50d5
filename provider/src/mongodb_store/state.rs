//! `nami_mongodb_store`'s state as Terraform stores it (also its configuration and plan), its
//! schema, defaults and plan-time checks.

use nami_contract::naming::{STORE_PREFIX, is_valid_store_name};
use serde::{Deserialize, Serialize};
use tf_provider::schema::{AttributeConstraint, AttributeType, NestedBlock, Schema};
use tf_provider::value::Value;
use tf_provider::{AttributePath, Diagnostics};

use crate::check::{Checker, at};
use crate::components::network::ManagedNetwork;
use crate::components::store::{
    DEFAULT_IMAGE, DEFAULT_INSTANCE_TYPE, ManagedSettings, VOLUME_SIZE, snapshots,
};
use crate::model::{
    NetworkBlock, Num, SettingsError, Str, StrMap, TimeoutsBlock, default, known, known_i32,
    optional_block, str_list, string_map, strings, to_str_map,
};
use crate::schema::{attribute, block, computed, number};
use crate::timeouts;

/// The resource's state (and configuration, and plan).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreState {
    /// The store's name.
    pub id: Str,
    /// Name of the store.
    pub name: Str,
    /// The resource's own tags.
    pub tags: StrMap,
    /// `tags` over the provider's `default_tags`.
    pub tags_all: StrMap,
    /// `network { }`: the user's VPC and subnets (absent: a network of the store's own).
    #[serde(with = "optional_block")]
    pub network: Value<NetworkBlock>,
    /// EC2 instance type.
    pub instance_type: Str,
    /// MongoDB container image.
    pub image: Str,
    /// Data volume size in GiB.
    pub volume_size: Num,
    /// An existing volume adopted as the data volume at create.
    pub volume_id: Str,
    /// Whether destroy keeps the data volume.
    pub retain_volume: Value<bool>,
    /// Days each daily snapshot is kept (null: no snapshots).
    pub snapshot_retention_days: Num,
    /// `timeouts { }`.
    #[serde(with = "optional_block")]
    pub timeouts: Value<TimeoutsBlock>,

    /// The token the store's create generated; every object carries it.
    pub owner_token: Str,
    /// The VPC the store runs in.
    pub vpc_id: Str,
    /// The subnets pipelines' functions use to reach it (the instance is in the first).
    pub subnet_ids: Value<Vec<Str>>,
    /// The managed network's internet gateway.
    pub internet_gateway_id: Str,
    /// The managed network's route table.
    pub route_table_id: Str,
    /// The managed network's interface endpoints' security group.
    pub endpoint_security_group_id: Str,
    /// The managed network's Secrets Manager interface endpoint.
    pub secrets_endpoint_id: Str,
    /// The store's security group.
    pub security_group_id: Str,
    /// The instance's role.
    pub role_arn: Str,
    /// The secret holding the root password.
    pub root_secret_arn: Str,
    /// The EC2 instance.
    pub instance_id: Str,
    /// The instance's private address.
    pub private_ip: Str,
    /// The data volume.
    pub data_volume_id: Str,
    /// The snapshots' role.
    pub snapshot_role_arn: Str,
    /// The snapshots' Data Lifecycle Manager policy.
    pub snapshot_policy_id: Str,
}

impl StoreState {
    /// The ids AWS assigns, for planning them unknown.
    pub fn id_fields(&mut self) -> [&mut Str; 14] {
        [
            &mut self.vpc_id,
            &mut self.internet_gateway_id,
            &mut self.route_table_id,
            &mut self.endpoint_security_group_id,
            &mut self.secrets_endpoint_id,
            &mut self.security_group_id,
            &mut self.role_arn,
            &mut self.root_secret_arn,
            &mut self.instance_id,
            &mut self.private_ip,
            &mut self.data_volume_id,
            &mut self.snapshot_role_arn,
            &mut self.snapshot_policy_id,
            &mut self.owner_token,
        ]
    }

    /// The store's own network's ids as the state holds them.
    pub fn network_ids(&self) -> ManagedNetwork {
        let owned = |field: &Str| field.as_ref_option().cloned();
        ManagedNetwork {
            vpc_id: owned(&self.vpc_id),
            subnet_ids: strings(&self.subnet_ids),
            internet_gateway_id: owned(&self.internet_gateway_id),
            route_table_id: owned(&self.route_table_id),
            endpoint_security_group_id: owned(&self.endpoint_security_group_id),
            secrets_endpoint_id: owned(&self.secrets_endpoint_id),
        }
    }

    /// Records the store's own network's ids.
    pub fn record_network(&mut self, network: &ManagedNetwork) {
        let value = |id: &Option<String>| id.clone().map_or(Value::Null, Value::Value);
        self.vpc_id = value(&network.vpc_id);
        self.subnet_ids = str_list(&network.subnet_ids);
        self.internet_gateway_id = value(&network.internet_gateway_id);
        self.route_table_id = value(&network.route_table_id);
        self.endpoint_security_group_id = value(&network.endpoint_security_group_id);
        self.secrets_endpoint_id = value(&network.secrets_endpoint_id);
    }

    /// Whether the store runs in a network of its own (no `network` block).
    pub fn managed_network(&self) -> bool {
        !(self.network.as_ref_option()).is_some_and(|network| network.vpc_id.is_value())
    }

    /// The store's settings, from a planned state.
    pub fn settings(&self) -> Result<ManagedSettings, SettingsError> {
        Ok(ManagedSettings {
            instance_type: known(&self.instance_type, "instance_type")?,
            image: known(&self.image, "image")?,
            volume_size: known_i32(&self.volume_size, "volume_size")?,
            retain_volume: known(&self.retain_volume, "retain_volume")?,
            volume_id: self.volume_id.as_ref_option().cloned(),
            snapshot_retention_days: match self.snapshot_retention_days {
                Value::Null => None,
                _ => Some(known_i32(
                    &self.snapshot_retention_days,
                    "snapshot_retention_days",
                )?),
            },
        })
    }
}

/// The resource's schema.
pub fn schema() -> Schema {
    use AttributeConstraint::{Computed, Optional, OptionalComputed, Required};
    use AttributeType::{Bool, Number, String as Text};
    let string_map = || AttributeType::Map(AttributeType::String.into());
    let max = nami_contract::limits::PIPELINE_NAME_MAX_LEN - STORE_PREFIX.len();
    let root = block(
        "A managed MongoDB that several `nami_webhook_pipeline`s store into: MongoDB in Docker on an EC2 instance \
         (Amazon Linux 2023, IMDSv2 required, no SSH, no key pair) in a network of its own or yours, its data on a \
         separate encrypted EBS volume, its root password generated into Secrets Manager. Its security group admits \
         MongoDB's port from nothing until a pipeline that uses it admits its own function.",
        vec![
            ("id", computed("The store's name.")),
            (
                "name",
                attribute(
                    Text,
                    Required,
                    &format!(
                        "Name of the store: 1–{max} lower-case letters, digits and hyphens, starting with a letter. Its AWS \
                         objects are named `nami-store-<name>…`. Changing it replaces the store."
                    ),
                ),
            ),
            (
                "tags",
                attribute(
                    string_map(),
                    Optional,
                    "Tags for every AWS object of the store, merged over the provider's `default_tags`.",
                ),
            ),
            (
                "tags_all",
                attribute(
                    string_map(),
                    Computed,
                    "`tags` merged over the provider's `default_tags`.",
                ),
            ),
            (
                "instance_type",
                attribute(
                    Text,
                    OptionalComputed,
                    &format!(
                        "EC2 instance type. Default `{DEFAULT_INSTANCE_TYPE}`. A change replaces the instance; the data volume is re-attached."
                    ),
                ),
            ),
            (
                "image",
                attribute(
                    Text,
                    OptionalComputed,
                    &format!(
                        "The MongoDB container image, pinned. Default `{DEFAULT_IMAGE}`. A change replaces the instance; the data volume is re-attached."
                    ),
                ),
            ),
            (
                "volume_size",
                number("Data volume size in GiB (it only grows)", VOLUME_SIZE),
            ),
            (
                "volume_id",
                attribute(
                    Text,
                    Optional,
                    "An existing EBS volume to use as the data volume when the store is created (one a destroyed store or \
                     pipeline kept). It must be available, in the store's availability zone. Not changeable afterwards.",
                ),
            ),
            (
                "retain_volume",
                attribute(
                    Bool,
                    OptionalComputed,
                    "Keep the data volume when the store is destroyed. Default `true`.",
                ),
            ),
            (
                "snapshot_retention_days",
                attribute(
                    Number,
                    Optional,
                    &format!(
                        "Take a snapshot of the data volume every day (from {} UTC) and keep each this many days, {}. \
                         Unset: no snapshots. Snapshots already taken outlive a destroy.",
                        snapshots::START_TIME_UTC,
                        snapshots::RETENTION_DAYS,
                    ),
                ),
            ),
            (
                "owner_token",
                computed(
                    "The token the store's create generated; every object of the store carries it in the tag `nami:owner`.",
                ),
            ),
            (
                "vpc_id",
                computed("The VPC the store runs in: `network.vpc_id`, or its own network's."),
            ),
            (
                "subnet_ids",
                attribute(
                    AttributeType::List(AttributeType::String.into()),
                    Computed,
                    "The subnets of the store's network (the instance runs in the first): where pipelines that use the store run their post-queue function.",
                ),
            ),
            (
                "internet_gateway_id",
                computed(
                    "The store's own network's internet gateway (the instance's outbound route: its image).",
                ),
            ),
            (
                "route_table_id",
                computed("The store's own network's route table."),
            ),
            (
                "endpoint_security_group_id",
                computed("The security group of the store's own network's interface endpoints."),
            ),
            (
                "secrets_endpoint_id",
                computed("The store's own network's Secrets Manager interface endpoint."),
            ),
            (
                "security_group_id",
                computed(
                    "The store's security group: MongoDB's port, from the post-queue functions of the pipelines that use it only.",
                ),
            ),
            (
                "role_arn",
                computed("The instance's IAM role: it may read the store's secrets only."),
            ),
            (
                "root_secret_arn",
                computed(
                    "The Secrets Manager secret holding the root password (user `nami`), for the operator.",
                ),
            ),
            ("instance_id", computed("The EC2 instance.")),
            ("private_ip", computed("The instance's private address.")),
            ("data_volume_id", computed("The EBS data volume.")),
            (
                "snapshot_role_arn",
                computed("The role the snapshots' policy runs as."),
            ),
            (
                "snapshot_policy_id",
                computed("The Data Lifecycle Manager policy taking the daily snapshots."),
            ),
        ],
    );
    let mut root = root;
    root.blocks = [
        (
            "network".to_owned(),
            NestedBlock::Optional(block(
                "Your VPC and subnets for the store (the instance in the first subnet; its routing must let it pull its \
                 image and reach Secrets Manager). Absent: a network of the store's own (VPC, two subnets in two \
                 availability zones, internet gateway, a Secrets Manager endpoint; no NAT gateway). Changing it replaces \
                 the store.",
                vec![
                    ("vpc_id", attribute(Text, Required, "ID of the VPC.")),
                    (
                        "subnet_ids",
                        attribute(
                            AttributeType::List(AttributeType::String.into()),
                            Required,
                            "Subnets of the VPC (at least one; two in two availability zones recommended).",
                        ),
                    ),
                ],
            )),
        ),
        (
            "timeouts".to_owned(),
            NestedBlock::Optional(timeouts::schema()),
        ),
    ]
    .into();
    Schema {
        version: 0,
        block: root,
    }
}

/// Checks every known value of a configuration or plan; each problem at its attribute.
pub fn validate(state: &StoreState, diags: &mut Diagnostics) {
    let mut check = Checker::new(diags);
    if let Some(name) = state.name.as_ref_option() {
        check.that(
            is_valid_store_name(name),
            AttributePath::new("name"),
            "Invalid store name",
            format!(
                "{name:?}: use 1–{} lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen",
                nami_contract::limits::PIPELINE_NAME_MAX_LEN - STORE_PREFIX.len()
            ),
        );
    }
    if let Some(network) = state.network.as_ref_option() {
        check.aws_id(
            network.vpc_id.as_ref_option(),
            "vpc",
            at("network", "vpc_id"),
        );
        let subnets = network.subnet_ids.as_ref_option();
        check.that(
            !subnets.is_some_and(Vec::is_empty),
            at("network", "subnet_ids"),
            "Subnets required",
            "give at least one subnet of network.vpc_id in network.subnet_ids",
        );
        for subnet in subnets.into_iter().flatten() {
            check.aws_id(
                subnet.as_ref_option(),
                "subnet",
                at("network", "subnet_ids"),
            );
        }
    }
    check.limit(
        &state.volume_size,
        VOLUME_SIZE,
        AttributePath::new("volume_size"),
    );
    check.limit(
        &state.snapshot_retention_days,
        snapshots::RETENTION_DAYS,
        AttributePath::new("snapshot_retention_days"),
    );
    check.aws_id(
        state.volume_id.as_ref_option(),
        "vol",
        AttributePath::new("volume_id"),
    );
    timeouts::validate(&state.timeouts, &mut check);
}

/// Fills defaults and `tags_all` of a plan.
pub fn fill(default_tags: &std::collections::BTreeMap<String, String>, state: &mut StoreState) {
    default(&mut state.instance_type, DEFAULT_INSTANCE_TYPE.to_owned());
    default(&mut state.image, DEFAULT_IMAGE.to_owned());
    default(&mut state.volume_size, VOLUME_SIZE.default);
    default(&mut state.retain_volume, true);
    state.tags_all = if state.tags.is_unknown() {
        Value::Unknown
    } else {
        to_str_map(&crate::aws::tags_all(
            default_tags,
            &string_map(&state.tags),
        ))
    };
}

/// Plans a create: defaults, and every id unknown.
pub fn plan_create(
    default_tags: &std::collections::BTreeMap<String, String>,
    state: &mut StoreState,
    diags: &mut Diagnostics,
) {
    fill(default_tags, state);
    validate(state, diags);
    all_unknown(state);
}

/// Every id unknown: the store is made anew.
fn all_unknown(state: &mut StoreState) {
    for field in state.id_fields() {
        *field = Value::Unknown;
    }
    state.id = state.name.clone();
    state.subnet_ids = Value::Unknown;
    clear_unused(state);
}

/// The ids this configuration does not use: the snapshots' without snapshots, the store's own
/// network's in the user's network.
fn clear_unused(state: &mut StoreState) {
    if state.snapshot_retention_days.is_null() {
        state.snapshot_role_arn = Value::Null;
        state.snapshot_policy_id = Value::Null;
    }
    if !state.managed_network() {
        clear_managed_network(state);
    }
}

/// The managed network's ids are null with the user's network.
fn clear_managed_network(state: &mut StoreState) {
    let network = state.network.as_ref_option().cloned().unwrap_or_default();
    state.vpc_id = network.vpc_id;
    state.subnet_ids = network.subnet_ids;
    state.internet_gateway_id = Value::Null;
    state.route_table_id = Value::Null;
    state.endpoint_security_group_id = Value::Null;
    state.secrets_endpoint_id = Value::Null;
}

/// Plans an update of `prior` to `state`; returns what replaces the store (its name, its VPC).
pub fn plan_update(
    default_tags: &std::collections::BTreeMap<String, String>,
    prior: &StoreState,
    state: &mut StoreState,
    diags: &mut Diagnostics,
) -> Vec<AttributePath> {
    fill(default_tags, state);
    validate(state, diags);
    let vpc = |s: &StoreState| (s.network.as_ref_option()).map(|n| n.vpc_id.clone());
    let mut replace = Vec::new();
    if state.name != prior.name {
        replace.push(AttributePath::new("name"));
    }
    if vpc(state) != vpc(prior) {
        replace.push(AttributePath::new("network").attribute("vpc_id"));
    }
    if !replace.is_empty() {
        all_unknown(state);
        return replace;
    }
    let mut check = Checker::new(diags);
    if let (Some(&old), Some(&new)) = (
        prior.volume_size.as_ref_option(),
        state.volume_size.as_ref_option(),
    ) {
        check.that(
            new >= old,
            AttributePath::new("volume_size"),
            "The data volume cannot shrink",
            format!("{old} GiB → {new} GiB: EBS volumes only grow. Keep {old} or more"),
        );
    }
    check.that(
        !state.volume_id.is_value() || state.volume_id == prior.volume_id,
        AttributePath::new("volume_id"),
        "The data volume is chosen at create",
        "volume_id adopts a volume when the store is created; to use another volume, create a new store with it",
    );
    // A new instance type or image: a new instance (its id and address unknown).
    let changed = |old: &Str, new: &Str| old.is_value() && new.is_value() && old != new;
    if changed(&prior.instance_type, &state.instance_type) || changed(&prior.image, &state.image) {
        state.instance_id = Value::Unknown;
        state.private_ip = Value::Unknown;
    }
    // An object deleted out of band (read cleared its id) is made again; snapshots turned on
    // get their role and policy, turned off lose them.
    for field in state.id_fields() {
        if field.is_null() {
            *field = Value::Unknown;
        }
    }
    clear_unused(state);
    replace
}
