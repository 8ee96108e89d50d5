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

/// The resource's state (and configuration, and plan).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineState {
    pub id: Str,
    pub name: Str,
    pub stage: Str,
    pub tags: StrMap,
    pub tags_all: StrMap,
    pub signature: Value<SignatureBlock>,
    pub queue: Value<QueueBlock>,
    pub pre_queue: Value<PreQueueBlock>,
    pub post_queue: Value<PostQueueBlock>,
    pub store: Value<StoreBlock>,
    pub network: Value<NetworkBlock>,
    pub timeouts: Value<TimeoutsBlock>,
    pub endpoint_url: Str,
    pub api_id: Str,
    pub api_resource_id: Str,
    pub queue_url: Str,
    pub queue_arn: Str,
    pub dlq_url: Str,
    pub dlq_arn: Str,
    pub pre_queue_role_arn: Str,
    pub post_queue_role_arn: Str,
    pub pre_queue_function_arn: Str,
    pub post_queue_function_arn: Str,
    pub event_source_mapping_id: Str,
    pub security_group_id: Str,
    pub vpc_id: Str,
    pub subnet_ids: Value<Vec<Str>>,
    pub internet_gateway_id: Str,
    pub route_table_id: Str,
    pub store_security_group_id: Str,
    pub instance_id: Str,
    pub data_volume_id: Str,
}

/// `signature { }`: how the pre-queue function verifies senders.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignatureBlock {
    pub scheme: Str,
    pub secret: Str,
    pub secret_arn: Str,
    pub tolerance_seconds: Num,
    pub delivery_id: Str,
    pub header: Str,
    pub algorithm: Str,
    pub encoding: Str,
    pub prefix: Str,
}

/// `queue { }`: the SQS queue and its dead-letter queue.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueBlock {
    pub visibility_timeout_seconds: Num,
    pub retention_seconds: Num,
    pub max_receive_count: Num,
    pub dlq_retention_seconds: Num,
    pub max_message_bytes: Num,
}

/// `pre_queue { }`: the receiving function.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PreQueueBlock {
    pub memory_size: Num,
    pub timeout: Num,
    pub artifact: Str,
    pub source_code_hash: Str,
}

/// `post_queue { }`: the storing function and its event source mapping.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PostQueueBlock {
    pub batch_size: Num,
    pub batching_window_seconds: Num,
    pub max_concurrency: Num,
    pub memory_size: Num,
    pub timeout: Num,
    pub artifact: Str,
    pub source_code_hash: Str,
}

/// `store { }`: where envelopes are stored: an existing MongoDB (`mongodb_uri`) or a managed one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreBlock {
    pub mongodb_uri: Str,
    pub database: Str,
    pub collection: Str,
    pub instance_type: Str,
    pub image: Str,
    pub volume_size: Num,
    pub retain_volume: Value<bool>,
    pub password: Str,
}

impl StoreBlock {
    /// Whether this is the managed store (no connection string given).
    pub fn is_managed(&self) -> bool {
        self.mongodb_uri.is_null()
    }
}

/// `network { }`: the VPC the post-queue function runs in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkBlock {
    pub vpc_id: Str,
    pub subnet_ids: Value<Vec<Str>>,
}

/// `timeouts { }`: bounds of create, update and delete.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeoutsBlock {
    pub create: Str,
    pub update: Str,
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
