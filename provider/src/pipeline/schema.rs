//! The resource's schema, assembled from the components' own attribute descriptions. Every
//! attribute is described; `docs/resources/webhook_pipeline.md` is generated from it.

use nami_contract::limits::PIPELINE_NAME_MAX_LEN;
use nami_contract::naming::Function;
use tf_provider::schema::{AttributeConstraint, AttributeType, NestedBlock, Schema};

use crate::components::functions::{self, signature};
use crate::components::{alarms, api, dashboard, logs, mapping, network, queue, store};
use crate::schema::{attribute, block, computed};
use crate::timeouts;

/// The resource's schema.
pub fn schema() -> Schema {
    let string_map = || AttributeType::Map(AttributeType::String.into());
    let mut attributes = vec![
        ("id", computed("The pipeline's name.")),
        (
            "name",
            attribute(
                AttributeType::String,
                AttributeConstraint::Required,
                &format!(
                    "Name of the pipeline: 1–{PIPELINE_NAME_MAX_LEN} lower-case letters, digits and hyphens, starting with a letter. \
                     It prefixes every AWS name (`nami-<name>…`). Changing it replaces the pipeline."
                ),
            ),
        ),
        (
            "tags",
            attribute(
                string_map(),
                AttributeConstraint::Optional,
                "Tags for every AWS object of the pipeline, merged over the provider's `default_tags`.",
            ),
        ),
        (
            "tags_all",
            attribute(
                string_map(),
                AttributeConstraint::Computed,
                "`tags` merged over the provider's `default_tags`.",
            ),
        ),
    ];
    attributes.extend(api::attributes());
    attributes.extend(queue::attributes());
    attributes.extend(logs::attributes());
    attributes.extend(alarms::attributes());
    attributes.extend(dashboard::attributes());
    attributes.extend(id_attributes());
    let mut root = block(
        "A webhook-ingestion pipeline: API Gateway endpoint → pre-queue Lambda (verify, envelope, enqueue) → \
         SQS queue with a dead-letter queue → post-queue Lambda throttled by the event source mapping's maximum \
         concurrency → MongoDB. Every webhook answered 2xx is stored or in the dead-letter queue.",
        attributes,
    );

    let pre_queue = block(
        "The pre-queue function (verify, envelope, enqueue).",
        functions::attributes(Function::PreQueue),
    );
    let mut post_queue_attributes = mapping::attributes();
    post_queue_attributes.extend(functions::attributes(Function::PostQueue));
    let post_queue = block(
        "The post-queue function and its event source mapping.",
        post_queue_attributes,
    );
    root.blocks = [
        ("signature", NestedBlock::Single(signature::schema())),
        ("api", NestedBlock::Group(api::schema())),
        ("queue", NestedBlock::Group(queue::schema())),
        ("pre_queue", NestedBlock::Group(pre_queue)),
        ("post_queue", NestedBlock::Group(post_queue)),
        ("store", NestedBlock::Single(store::schema())),
        ("alarms", NestedBlock::Group(alarms::schema())),
        // Optional single blocks (null when absent): neither has defaults to show, so a plan
        // without them shows no empty block.
        ("network", NestedBlock::Optional(network::schema())),
        ("timeouts", NestedBlock::Optional(timeouts::schema())),
    ]
    .into_iter()
    .map(|(name, block)| (name.to_owned(), block))
    .collect();
    Schema {
        version: 1,
        block: root,
    }
}

/// The ids of the AWS objects, read-only.
fn id_attributes() -> Vec<(&'static str, tf_provider::schema::Attribute)> {
    vec![
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
            computed("UUID of the event source mapping from the queue to the post-queue function."),
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
                AttributeType::List(AttributeType::String.into()),
                AttributeConstraint::Computed,
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
            "secrets_endpoint_id",
            computed(
                "ID of the managed network's Secrets Manager interface endpoint (private DNS), through which the post-queue function reads its store password without a NAT gateway.",
            ),
        ),
        (
            "endpoint_security_group_id",
            computed(
                "ID of the security group of the managed network's interface endpoints (`nami-<name>-endpoints`): HTTPS from the network only.",
            ),
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
        (
            "replay_table_arn",
            computed(
                "ARN of the DynamoDB table (`nami-<name>-replay`, on demand, records expiring by TTL) in which the pre-queue function records the signed bodies it accepted, with `signature.replay_window_seconds`; null without.",
            ),
        ),
        (
            "store_uri_secret_arn",
            computed(
                "ARN of the Secrets Manager secret (`nami-<name>-store-uri`) that holds `store.mongodb_uri`: the post-queue function's environment names only this ARN, and its role may read only it (with the managed store: null). The connection string is still in the Terraform state as a sensitive value.",
            ),
        ),
        (
            "store_role_arn",
            computed(
                "ARN of the managed store's IAM role (`nami-<name>-store`), given to its instance through the instance profile of the same name: it may only read the store's two password secrets.",
            ),
        ),
        (
            "snapshot_role_arn",
            computed(
                "ARN of the IAM role (`nami-<name>-snapshots`) Data Lifecycle Manager runs the managed store's snapshot policy as, with `store.snapshot_retention_days`: it may snapshot only the data volume and delete only snapshots tagged as this pipeline's. Null without.",
            ),
        ),
        (
            "snapshot_policy_id",
            computed(
                "ID of the Data Lifecycle Manager policy (description `nami-<name>-snapshots`) that snapshots the managed store's data volume daily and deletes each snapshot after `store.snapshot_retention_days`. Null without.",
            ),
        ),
        (
            "store_root_secret_arn",
            computed(
                "ARN of the Secrets Manager secret (`nami-<name>-store-root`) holding the managed store's generated root password, for the operator (user `nami`, authentication database `admin`). The password is never in the state.",
            ),
        ),
        (
            "store_writer_secret_arn",
            computed(
                "ARN of the Secrets Manager secret (`nami-<name>-store-writer`) holding the generated password of `nami-writer`, the user the post-queue function connects as (`readWrite` on the store's database only). The password is never in the state.",
            ),
        ),
        (
            "signing_secret_arn",
            computed(
                "ARN of the Secrets Manager secret (`nami-<name>-signing-secret`) that holds a `signature.secret` given by value: the pre-queue function's environment names only this ARN, and its role may read only it. Null with `secret_arn` or scheme `none`.",
            ),
        ),
        (
            "pre_queue_log_group_arn",
            computed(
                "ARN of the pre-queue function's log group (`/aws/lambda/nami-<name>-pre-queue`), made before the function and kept `log_retention_days`; its role may write to this group only.",
            ),
        ),
        (
            "post_queue_log_group_arn",
            computed(
                "ARN of the post-queue function's log group (`/aws/lambda/nami-<name>-post-queue`), made before the function and kept `log_retention_days`; its role may write to this group only.",
            ),
        ),
        (
            "owner_token",
            computed(
                "The token the pipeline's create generated; every object carries it in the `nami:owner` tag, and the provider updates or deletes only objects that do.",
            ),
        ),
    ]
}
