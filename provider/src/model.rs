//! `nami_webhook_pipeline`'s state as Terraform stores it (also its configuration and plan):
//! the shape every component reads its settings from and writes its live facts back into.
//! The schema describing it is assembled from the components (`crate::pipeline::schema`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tf_provider::value::Value;

use crate::artifacts::ArtifactError;

/// A string attribute.
pub type Str = Value<String>;
/// A whole-number attribute.
pub type Num = Value<i64>;
/// A map of strings.
pub type StrMap = Value<BTreeMap<String, Str>>;

/// Serde for an optional single block (`network {}`, `timeouts {}`, the provider's blocks). It
/// travels as a list of zero or one (tf-provider's encoding), and Terraform sends the whole list
/// unknown while it cannot tell whether the block exists — a `dynamic` block over an unknown
/// `for_each`, as in any module while Terraform validates it. tf-provider's `serde_as_vec`
/// cannot read that; this reads it as [`Value::Unknown`] and writes it back the same way.
pub mod optional_block {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use tf_provider::value::Value;

    /// Writes `Null` as no block, a value as one, `Unknown` as an unknown list.
    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Value<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Value::Value(block) => [block].serialize(serializer),
            Value::Null => <[&T; 0]>::default().serialize(serializer),
            Value::Unknown => Value::<[&T; 0]>::Unknown.serialize(serializer),
        }
    }

    /// Reads a list of zero or one block, or an unknown list.
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Value<T>, D::Error> {
        match Value::<Vec<Value<T>>>::deserialize(deserializer)? {
            Value::Value(blocks) => {
                let mut blocks = blocks.into_iter();
                match (blocks.next(), blocks.next()) {
                    (None, _) => Ok(Value::Null),
                    (Some(block), None) => Ok(block),
                    (Some(_), Some(_)) => Err(D::Error::custom(
                        "a block allowed once was given more than once",
                    )),
                }
            }
            Value::Null => Ok(Value::Null),
            Value::Unknown => Ok(Value::Unknown),
        }
    }
}

/// The resource's state (and configuration, and plan).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineState {
    /// The pipeline's name.
    pub id: Str,
    /// Name of the pipeline; prefixes every AWS name.
    pub name: Str,
    /// API Gateway stage.
    pub stage: Str,
    /// The resource's own tags.
    pub tags: StrMap,
    /// `tags` over the provider's `default_tags`.
    pub tags_all: StrMap,
    /// `signature { }`.
    pub signature: Value<SignatureBlock>,
    /// `api { }`.
    pub api: Value<ApiBlock>,
    /// `queue { }`.
    pub queue: Value<QueueBlock>,
    /// `pre_queue { }`.
    pub pre_queue: Value<PreQueueBlock>,
    /// `post_queue { }`.
    pub post_queue: Value<PostQueueBlock>,
    /// `store { }`.
    pub store: Value<StoreBlock>,
    /// `alarms { }`.
    pub alarms: Value<AlarmsBlock>,
    /// `network { }`.
    #[serde(with = "optional_block")]
    pub network: Value<NetworkBlock>,
    /// `timeouts { }`.
    #[serde(with = "optional_block")]
    pub timeouts: Value<TimeoutsBlock>,
    /// Whether destroy may delete queues that still hold messages.
    pub force_destroy: Value<bool>,
    /// Days the functions' log groups keep events.
    pub log_retention_days: Num,
    /// Whether destroy keeps the functions' log groups.
    pub retain_logs: Value<bool>,
    /// Whether the pipeline has its CloudWatch dashboard.
    pub dashboard: Value<bool>,
    /// URL to POST webhooks to.
    pub endpoint_url: Str,
    /// ID of the REST API.
    pub api_id: Str,
    /// ID of its `/webhook` resource.
    pub api_resource_id: Str,
    /// URL of the queue.
    pub queue_url: Str,
    /// ARN of the queue.
    pub queue_arn: Str,
    /// URL of the dead-letter queue.
    pub dlq_url: Str,
    /// ARN of the dead-letter queue.
    pub dlq_arn: Str,
    /// ARN of the pre-queue function's role.
    pub pre_queue_role_arn: Str,
    /// ARN of the post-queue function's role.
    pub post_queue_role_arn: Str,
    /// ARN of the pre-queue function.
    pub pre_queue_function_arn: Str,
    /// ARN of the post-queue function.
    pub post_queue_function_arn: Str,
    /// UUID of the event source mapping.
    pub event_source_mapping_id: Str,
    /// ID of the post-queue function's security group.
    pub security_group_id: Str,
    /// ID of the VPC.
    pub vpc_id: Str,
    /// IDs of the subnets.
    pub subnet_ids: Value<Vec<Str>>,
    /// ID of the managed network's internet gateway.
    pub internet_gateway_id: Str,
    /// ID of the managed network's route table.
    pub route_table_id: Str,
    /// ID of the managed store's security group.
    pub store_security_group_id: Str,
    /// ID of the managed network's endpoints' security group.
    pub endpoint_security_group_id: Str,
    /// ID of the managed network's Secrets Manager interface endpoint.
    pub secrets_endpoint_id: Str,
    /// ID of the managed store's instance.
    pub instance_id: Str,
    /// ID of the managed store's data volume.
    pub data_volume_id: Str,
    /// ARN of the managed store's IAM role (its instance profile has the same name).
    pub store_role_arn: Str,
    /// ARN of the secret holding the managed store's root password.
    pub store_root_secret_arn: Str,
    /// ARN of the secret holding the password of the managed store's writer.
    pub store_writer_secret_arn: Str,
    /// The owner token every object of the pipeline carries (see `crate::ownership`).
    pub owner_token: Str,
    /// ARN of the Secrets Manager secret holding a signing secret given by value.
    pub signing_secret_arn: Str,
    /// ARN of the Secrets Manager secret holding a store connection string given by value.
    pub store_uri_secret_arn: Str,
    /// ARN of the DynamoDB table of the replay window.
    pub replay_table_arn: Str,
    /// ARN of the IAM role the managed store's snapshot policy runs as.
    pub snapshot_role_arn: Str,
    /// ID of the Data Lifecycle Manager policy snapshotting the data volume.
    pub snapshot_policy_id: Str,
    /// ARNs of the alarms, by what they watch.
    pub alarm_arns: StrMap,
    /// The dashboard's page in the CloudWatch console.
    pub dashboard_url: Str,
    /// ARN of the pre-queue function's log group.
    pub pre_queue_log_group_arn: Str,
    /// ARN of the post-queue function's log group.
    pub post_queue_log_group_arn: Str,
}

/// `signature { }`: how the pre-queue function verifies senders.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignatureBlock {
    /// Signature scheme.
    pub scheme: Str,
    /// The signing secret.
    pub secret: Str,
    /// ARN of the signing secret.
    pub secret_arn: Str,
    /// Allowed distance of a signed timestamp from now, in seconds.
    pub tolerance_seconds: Num,
    /// Seconds an accepted signed body is refused under another delivery id.
    pub replay_window_seconds: Num,
    /// Where the delivery id comes from.
    pub delivery_id: Str,
    /// `hmac`: the header carrying the signature.
    pub header: Str,
    /// `hmac`: the digest.
    pub algorithm: Str,
    /// `hmac`: how the signature is written.
    pub encoding: Str,
    /// `hmac`: text before the signature.
    pub prefix: Str,
}

/// `api { }`: the REST API's stage settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiBlock {
    /// Steady requests per second the stage lets through.
    pub throttle_rate: Num,
    /// Requests the stage lets through at once, above the rate.
    pub throttle_burst: Num,
}

/// `alarms { }`: the pipeline's CloudWatch alarms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlarmsBlock {
    /// Whether the pipeline has alarms.
    pub enabled: Value<bool>,
    /// ARNs notified on alarm and recovery.
    pub actions: Value<Vec<Str>>,
    /// The queue's oldest message's age that alarms, in seconds.
    pub oldest_message_age_seconds: Num,
    /// The share of 5xx answers that alarms, in percent.
    pub pre_queue_5xx_percent: Num,
}

/// `queue { }`: the SQS queue and its dead-letter queue.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueBlock {
    /// Visibility timeout in seconds.
    pub visibility_timeout_seconds: Num,
    /// Message retention in seconds.
    pub retention_seconds: Num,
    /// Receives before the dead-letter queue.
    pub max_receive_count: Num,
    /// Dead-letter queue retention in seconds.
    pub dlq_retention_seconds: Num,
    /// Largest message in bytes.
    pub max_message_bytes: Num,
}

/// `pre_queue { }`: the receiving function.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PreQueueBlock {
    /// Memory in MB.
    pub memory_size: Num,
    /// Timeout in seconds.
    pub timeout: Num,
    /// Path to a custom `bootstrap.zip`.
    pub artifact: Str,
    /// Base64 SHA-256 of the deployed code.
    pub source_code_hash: Str,
    /// Concurrent executions reserved for the function (and its ceiling).
    pub reserved_concurrency: Num,
}

/// `post_queue { }`: the storing function and its event source mapping.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PostQueueBlock {
    /// Records per invocation.
    pub batch_size: Num,
    /// Seconds to gather a batch.
    pub batching_window_seconds: Num,
    /// The mapping's MaximumConcurrency.
    pub max_concurrency: Num,
    /// Memory in MB.
    pub memory_size: Num,
    /// Timeout in seconds.
    pub timeout: Num,
    /// Path to a custom `bootstrap.zip`.
    pub artifact: Str,
    /// Base64 SHA-256 of the deployed code.
    pub source_code_hash: Str,
}

/// `store { }`: where envelopes are stored: an existing MongoDB (`mongodb_uri`) or a managed one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreBlock {
    /// Connection string of an existing MongoDB.
    pub mongodb_uri: Str,
    /// Database name.
    pub database: Str,
    /// Collection name.
    pub collection: Str,
    /// Managed store: instance type.
    pub instance_type: Str,
    /// Managed store: MongoDB image.
    pub image: Str,
    /// Managed store: data volume size in GiB.
    pub volume_size: Num,
    /// Managed store: keep the volume on destroy.
    pub retain_volume: Value<bool>,
    /// Managed store: an existing data volume to adopt at create (a retained one).
    pub volume_id: Str,
    /// A store the user has: the secret holding its connection string.
    pub mongodb_uri_secret_arn: Str,
    /// Managed store: days each daily snapshot of the data volume is kept (null: no snapshots).
    pub snapshot_retention_days: Num,
    /// Deprecated, always null: where states before the store's secrets held its password.
    pub password: Str,
    /// A shared store (`nami_mongodb_store`) by name.
    pub shared: Str,
}

impl StoreBlock {
    /// Whether this is the pipeline's own managed store (no connection string, no shared store).
    pub fn is_managed(&self) -> bool {
        self.mongodb_uri.is_null() && self.mongodb_uri_secret_arn.is_null() && self.shared.is_null()
    }

    /// Whether this is a shared store.
    pub fn is_shared(&self) -> bool {
        !self.shared.is_null()
    }
}

/// `network { }`: the VPC the post-queue function runs in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkBlock {
    /// ID of the VPC.
    pub vpc_id: Str,
    /// IDs of the subnets.
    pub subnet_ids: Value<Vec<Str>>,
}

/// `timeouts { }`: bounds of create, update and delete.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeoutsBlock {
    /// Bound of create.
    pub create: Str,
    /// Bound of update.
    pub update: Str,
    /// Bound of delete.
    pub delete: Str,
}

/// The block's fields, creating an all-null block when absent.
pub fn block<T: Default>(value: &mut Value<T>) -> &mut T {
    if !value.is_value() {
        *value = Value::Value(T::default());
    }
    value.as_mut_option().expect("just set")
}

/// Sets an unset value to `fallback`.
pub fn default<T>(value: &mut Value<T>, fallback: T) {
    if value.is_null() {
        *value = Value::Value(fallback);
    }
}

/// A Terraform value from an optional one: `None` is null.
pub fn value_of<T>(value: Option<T>) -> Value<T> {
    value.map_or(Value::Null, Value::Value)
}

/// A Terraform list of strings from plain strings.
pub fn str_list(items: &[String]) -> Value<Vec<Str>> {
    Value::Value(items.iter().cloned().map(Value::Value).collect())
}

/// The known strings of a Terraform list of strings.
pub fn strings(list: &Value<Vec<Str>>) -> Vec<String> {
    list.as_ref_option()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_ref_option().cloned())
                .collect()
        })
        .unwrap_or_default()
}

/// A Terraform map of strings as a plain map (unknown or null entries left out).
pub fn string_map(map: &StrMap) -> BTreeMap<String, String> {
    map.as_ref_option()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_ref_option().map(|v| (k.clone(), v.clone())))
                .collect()
        })
        .unwrap_or_default()
}

/// A plain map as a Terraform map of strings.
pub fn to_str_map(map: &BTreeMap<String, String>) -> StrMap {
    Value::Value(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::Value(v.clone())))
            .collect(),
    )
}

/// Why a planned state cannot be turned into settings at apply time.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// An attribute the apply needs is null (plan-time defaults should have set it).
    #[error("{0} is not set")]
    NotSet(&'static str),
    /// An attribute is still unknown at apply time.
    #[error("{0} is not known")]
    NotKnown(&'static str),
    /// A number does not fit the AWS API's type (plan-time validation should have refused it).
    #[error("{what} = {value} is out of range")]
    OutOfRange {
        /// The attribute.
        what: &'static str,
        /// Its value.
        value: i64,
    },
    /// A function's artifact cannot be used.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
}

/// A value that must be known by apply time.
pub fn known<T: Clone>(value: &Value<T>, what: &'static str) -> Result<T, SettingsError> {
    match value {
        Value::Value(v) => Ok(v.clone()),
        Value::Null => Err(SettingsError::NotSet(what)),
        Value::Unknown => Err(SettingsError::NotKnown(what)),
    }
}

/// A whole number that must be known by apply time, in the `i32` AWS's APIs take.
pub fn known_i32(value: &Num, what: &'static str) -> Result<i32, SettingsError> {
    let number = known(value, what)?;
    i32::try_from(number).map_err(|_| SettingsError::OutOfRange {
        what,
        value: number,
    })
}
