//! `nami_webhook_pipeline`: its state as Terraform stores it, and its schema.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tf_provider::schema::{
    Attribute, AttributeConstraint, AttributeType, Block, Description, NestedBlock, Schema,
};
use tf_provider::value::Value;

/// A string attribute.
pub type Str = Value<String>;
/// A whole-number attribute.
pub type Num = Value<i64>;
/// A map of strings.
pub type StrMap = Value<BTreeMap<String, Str>>;

/// Defaults, applied at plan time (tf-provider has no schema defaults).
pub mod defaults {
    pub const STAGE: &str = "prod";
    pub const TOLERANCE_SECONDS: i64 = 300;
    pub const RETENTION_SECONDS: i64 = 345_600;
    pub const DLQ_RETENTION_SECONDS: i64 = 1_209_600;
    pub const MAX_RECEIVE_COUNT: i64 = 5;
    pub const MAX_MESSAGE_BYTES: i64 = 262_144;
    pub const PRE_QUEUE_MEMORY: i64 = 128;
    pub const PRE_QUEUE_TIMEOUT: i64 = 10;
    pub const POST_QUEUE_MEMORY: i64 = 256;
    pub const POST_QUEUE_TIMEOUT: i64 = 30;
    pub const BATCH_SIZE: i64 = 10;
    pub const BATCHING_WINDOW_SECONDS: i64 = 0;
    pub const MAX_CONCURRENCY: i64 = 2;
    pub const DATABASE: &str = "nami";
    pub const CREATE_TIMEOUT: &str = "30m";
    pub const UPDATE_TIMEOUT: &str = "30m";
    pub const DELETE_TIMEOUT: &str = "30m";
}

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

/// An attribute with a markdown description.
pub fn attribute(
    attr_type: AttributeType,
    constraint: AttributeConstraint,
    description: &str,
) -> Attribute {
    Attribute {
        attr_type,
        description: Description::markdown(description),
        constraint,
        ..Default::default()
    }
}

fn sensitive(mut attribute: Attribute) -> Attribute {
    attribute.sensitive = true;
    attribute
}

fn block(description: &str, attributes: Vec<(&str, Attribute)>) -> Block {
    Block {
        description: Description::markdown(description),
        attributes: attributes
            .into_iter()
            .map(|(name, a)| (name.to_owned(), a))
            .collect(),
        ..Default::default()
    }
}

use AttributeConstraint::{Computed, Optional, OptionalComputed, Required};
use AttributeType::{Number, String as Text};

/// The resource's schema. Every attribute is described; `docs/resources/webhook_pipeline.md` is
/// generated from it.
pub fn schema() -> Schema {
    let computed = |description: &str| attribute(Text, Computed, description);
    let mut root = block(
        "A webhook-ingestion pipeline: API Gateway endpoint → pre-queue Lambda (verify, envelope, enqueue) → \
         SQS queue with a dead-letter queue → post-queue Lambda throttled by the event source mapping's maximum \
         concurrency → MongoDB. Every webhook answered 2xx is stored or in the dead-letter queue.",
        vec![
            ("id", computed("The pipeline's name.")),
            (
                "name",
                attribute(
                    Text,
                    Required,
                    "Name of the pipeline: 1–40 lower-case letters, digits and hyphens, starting with a letter. \
                     It prefixes every AWS name (`nami-<name>…`). Changing it replaces the pipeline.",
                ),
            ),
            (
                "stage",
                attribute(
                    Text,
                    OptionalComputed,
                    "API Gateway stage name (letters, digits, `_`). Default `prod`.",
                ),
            ),
            (
                "tags",
                attribute(
                    AttributeType::Map(Text.into()),
                    Optional,
                    "Tags for every AWS object of the pipeline, merged over the provider's `default_tags`.",
                ),
            ),
            (
                "tags_all",
                attribute(
                    AttributeType::Map(Text.into()),
                    Computed,
                    "`tags` merged over the provider's `default_tags`.",
                ),
            ),
            ("endpoint_url", computed("URL to POST webhooks to.")),
            ("api_id", computed("ID of the REST API.")),
            (
                "api_resource_id",
                computed("ID of the REST API's `/webhook` resource."),
            ),
            ("queue_url", computed("URL of the SQS queue.")),
            ("queue_arn", computed("ARN of the SQS queue.")),
            ("dlq_url", computed("URL of the dead-letter queue.")),
            ("dlq_arn", computed("ARN of the dead-letter queue.")),
            (
                "pre_queue_role_arn",
                computed("ARN of the pre-queue function's IAM role."),
            ),
            (
                "post_queue_role_arn",
                computed("ARN of the post-queue function's IAM role."),
            ),
            (
                "pre_queue_function_arn",
                computed("ARN of the pre-queue function."),
            ),
            (
                "post_queue_function_arn",
                computed("ARN of the post-queue function."),
            ),
            (
                "event_source_mapping_id",
                computed(
                    "UUID of the event source mapping from the queue to the post-queue function.",
                ),
            ),
            (
                "security_group_id",
                computed("ID of the post-queue function's security group (when it runs in a VPC)."),
            ),
            (
                "vpc_id",
                computed(
                    "ID of the VPC the post-queue function (and the managed store) run in: `network.vpc_id`, or the managed network's.",
                ),
            ),
            (
                "subnet_ids",
                attribute(
                    AttributeType::List(Text.into()),
                    Computed,
                    "Subnets of the post-queue function (and the managed store).",
                ),
            ),
            (
                "internet_gateway_id",
                computed(
                    "ID of the managed network's internet gateway (the store instance's outbound route).",
                ),
            ),
            (
                "route_table_id",
                computed("ID of the managed network's route table."),
            ),
            (
                "store_security_group_id",
                computed(
                    "ID of the managed store's security group (MongoDB's port, from the post-queue function only).",
                ),
            ),
            (
                "instance_id",
                computed("ID of the managed store's EC2 instance."),
            ),
            (
                "data_volume_id",
                computed("ID of the managed store's EBS data volume."),
            ),
        ],
    );

    let signature = block(
        "How the pre-queue function verifies senders. Fail closed: a request whose signature does not verify gets a 401 \
         and is not enqueued.",
        vec![
            (
                "scheme",
                attribute(
                    Text,
                    Required,
                    "`github`, `stripe`, `slack`, `shopify`, `standard-webhooks`, `hmac` or `none` (no verification; \
                     must be chosen explicitly).",
                ),
            ),
            (
                "secret",
                sensitive(attribute(
                    Text,
                    Optional,
                    "The signing secret. Exactly one of `secret` and `secret_arn` for every scheme but `none`.",
                )),
            ),
            (
                "secret_arn",
                attribute(
                    Text,
                    Optional,
                    "ARN of a Secrets Manager secret or SSM parameter holding the signing secret, read once at function start.",
                ),
            ),
            (
                "tolerance_seconds",
                attribute(
                    Number,
                    OptionalComputed,
                    "How far a signed timestamp may be from now, either side (stripe, slack, standard-webhooks). Default 300.",
                ),
            ),
            (
                "delivery_id",
                attribute(
                    Text,
                    Optional,
                    "Where the delivery id (the stored `_id`) comes from: `header:<name>` or `json:<pointer>`. Default: the \
                     scheme's own (GitHub `X-GitHub-Delivery`, Shopify `X-Shopify-Webhook-Id`, Standard Webhooks `webhook-id`, \
                     Stripe `/id`), else the API Gateway request id.",
                ),
            ),
            (
                "header",
                attribute(
                    Text,
                    Optional,
                    "`hmac` scheme: the header carrying the signature.",
                ),
            ),
            (
                "algorithm",
                attribute(
                    Text,
                    Optional,
                    "`hmac` scheme: `sha256` (default) or `sha1`.",
                ),
            ),
            (
                "encoding",
                attribute(
                    Text,
                    Optional,
                    "`hmac` scheme: `hex` (default) or `base64`.",
                ),
            ),
            (
                "prefix",
                attribute(
                    Text,
                    Optional,
                    "`hmac` scheme: text before the signature, such as `sha256=`.",
                ),
            ),
        ],
    );

    let queue = block(
        "The SQS queue (server-side encryption on) and its dead-letter queue.",
        vec![
            (
                "visibility_timeout_seconds",
                attribute(
                    Number,
                    OptionalComputed,
                    "Visibility timeout; at least 6 × `post_queue.timeout`. Default 6 × `post_queue.timeout`.",
                ),
            ),
            (
                "retention_seconds",
                attribute(
                    Number,
                    OptionalComputed,
                    "Message retention, 60–1209600. Default 345600 (4 days).",
                ),
            ),
            (
                "max_receive_count",
                attribute(
                    Number,
                    OptionalComputed,
                    "Receives before a message moves to the dead-letter queue, 1–1000. Default 5.",
                ),
            ),
            (
                "dlq_retention_seconds",
                attribute(
                    Number,
                    OptionalComputed,
                    "Dead-letter queue retention, 60–1209600. Default 1209600 (14 days).",
                ),
            ),
            (
                "max_message_bytes",
                attribute(
                    Number,
                    OptionalComputed,
                    "Largest envelope the queue takes, 1024–1048576; larger webhooks get a 413. Default 262144.",
                ),
            ),
        ],
    );

    let function_attributes = |memory: i64, timeout: &str| {
        vec![
            (
                "memory_size",
                attribute(
                    Number,
                    OptionalComputed,
                    &format!("Memory in MB, 128–10240. Default {memory}."),
                ),
            ),
            ("timeout", attribute(Number, OptionalComputed, timeout)),
            (
                "artifact",
                attribute(
                    Text,
                    Optional,
                    "Path to a `bootstrap.zip` with custom handler logic. Default: the artifact installed with the provider.",
                ),
            ),
            (
                "source_code_hash",
                attribute(
                    Text,
                    Computed,
                    "Base64 SHA-256 of the deployed artifact; a changed zip updates the function in place.",
                ),
            ),
        ]
    };
    let pre_queue = block(
        "The pre-queue function (verify, envelope, enqueue).",
        function_attributes(
            defaults::PRE_QUEUE_MEMORY,
            "Timeout in seconds, 1–29 (API Gateway's limit). Default 10.",
        ),
    );
    let mut post_queue_attributes = vec![
        (
            "batch_size",
            attribute(
                Number,
                OptionalComputed,
                "Records per invocation, 1–10000 (over 10 needs a batching window). Default 10.",
            ),
        ),
        (
            "batching_window_seconds",
            attribute(
                Number,
                OptionalComputed,
                "Seconds to gather a batch, 0–300. Default 0.",
            ),
        ),
        (
            "max_concurrency",
            attribute(
                Number,
                OptionalComputed,
                "Most concurrent invocations (the mapping's MaximumConcurrency, 2–1000): the throttle that protects the store. Default 2.",
            ),
        ),
    ];
    post_queue_attributes.extend(function_attributes(
        defaults::POST_QUEUE_MEMORY,
        "Timeout in seconds, 1–900. Default 30.",
    ));
    let post_queue = block(
        "The post-queue function and its event source mapping.",
        post_queue_attributes,
    );

    let store = block(
        "Where envelopes are stored: an existing MongoDB when `mongodb_uri` is set, else a managed one — MongoDB in Docker \
         on an EC2 instance (Amazon Linux 2023, IMDSv2 required, no SSH, no key pair) whose security group admits MongoDB's \
         port only from the post-queue function, with its data on a separate encrypted EBS volume. Switching between the \
         two replaces the pipeline.",
        vec![
            (
                "mongodb_uri",
                sensitive(attribute(
                    Text,
                    Optional,
                    "Connection string of an existing MongoDB (Atlas, DocumentDB, a replica set): `mongodb://…` or `mongodb+srv://…`. Unset: the managed store.",
                )),
            ),
            (
                "database",
                attribute(Text, OptionalComputed, "Database name. Default `nami`."),
            ),
            (
                "collection",
                attribute(
                    Text,
                    OptionalComputed,
                    "Collection name. Default: the pipeline's name.",
                ),
            ),
            (
                "instance_type",
                attribute(
                    Text,
                    OptionalComputed,
                    "Managed store: EC2 instance type. Default `t3.small`. A change replaces the instance; the data volume is re-attached.",
                ),
            ),
            (
                "image",
                attribute(
                    Text,
                    OptionalComputed,
                    "Managed store: the MongoDB container image, pinned. Default `mongo:7.0.14`. A change replaces the instance; the data volume is re-attached.",
                ),
            ),
            (
                "volume_size",
                attribute(
                    Number,
                    OptionalComputed,
                    "Managed store: data volume size in GiB, 8–16384. Default 20.",
                ),
            ),
            (
                "retain_volume",
                attribute(
                    AttributeType::Bool,
                    OptionalComputed,
                    "Managed store: keep the data volume when the pipeline is destroyed. Default `true`.",
                ),
            ),
            (
                "password",
                sensitive(attribute(
                    Text,
                    Computed,
                    "Managed store: the generated password of MongoDB's `nami` user.",
                )),
            ),
        ],
    );

    let network = block(
        "An existing VPC for the post-queue function (and the managed store). Without it: with the managed store, a managed \
         network (a VPC, two subnets in two AZs and an internet gateway for the instance's outbound traffic, no NAT gateway); \
         with an existing store, the function runs outside any VPC.",
        vec![
            (
                "vpc_id",
                attribute(
                    Text,
                    Optional,
                    "ID of the VPC. Changing it replaces the pipeline.",
                ),
            ),
            (
                "subnet_ids",
                attribute(
                    AttributeType::List(Text.into()),
                    Optional,
                    "Subnets for the post-queue function (at least one; two AZs recommended).",
                ),
            ),
        ],
    );

    let timeouts = block(
        "How long create, update and delete may take (`90s`, `30m`, `1h`), including waits for AWS propagation.",
        vec![
            ("create", attribute(Text, Optional, "Default `30m`.")),
            ("update", attribute(Text, Optional, "Default `30m`.")),
            ("delete", attribute(Text, Optional, "Default `30m`.")),
        ],
    );

    root.blocks = [
        ("signature", NestedBlock::Single(signature)),
        ("queue", NestedBlock::Group(queue)),
        ("pre_queue", NestedBlock::Group(pre_queue)),
        ("post_queue", NestedBlock::Group(post_queue)),
        ("store", NestedBlock::Single(store)),
        ("network", NestedBlock::Group(network)),
        ("timeouts", NestedBlock::Group(timeouts)),
    ]
    .into_iter()
    .map(|(name, block)| (name.to_owned(), block))
    .collect();
    Schema {
        version: 1,
        block: root,
    }
}
