//! The replay table (`nami-<name>-replay`), made when `signature.replay_window_seconds` is set:
//! a DynamoDB table, on demand, keyed by the signed body's SHA-256, whose TTL attribute expires
//! records after the window. The pre-queue function writes it with one conditional `PutItem` per
//! request (see the contract's `replay` module); its role may do exactly that on this table.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
    Tag, TimeToLiveSpecification, TimeToLiveStatus,
};
use nami_contract::naming::{Part, object_name};
use nami_contract::replay::{EXPIRES_AT, KEY};

use super::Context;
use crate::aws::{
    AwsError, Clients, OptionalNotFound, TagChange, aws_error, has_code, retry_while, returned,
    wait_for,
};
use crate::ownership::{Kind, Tagged};

fn dynamodb_tags(tags: &std::collections::BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .filter_map(|(key, value)| Tag::builder().key(key).value(value).build().ok())
        .collect()
}

/// The table's name in a table ARN (`arn:aws:dynamodb:<region>:<account>:table/<name>`).
pub fn name_in(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Creates the table and waits until it is active. Returns its ARN.
pub async fn create(ctx: Context<'_>) -> Result<String, AwsError> {
    let attribute = AttributeDefinition::builder()
        .attribute_name(KEY)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|error| AwsError::Unusable(error.to_string()))?;
    let key = KeySchemaElement::builder()
        .attribute_name(KEY)
        .key_type(KeyType::Hash)
        .build()
        .map_err(|error| AwsError::Unusable(error.to_string()))?;
    let name = ctx.object_name(Part::ReplayTable);
    // A table of the same name a destroy deleted moments ago is still being deleted.
    let in_use = has_code(&["ResourceInUseException"]);
    let output = retry_while(in_use, ctx.deadline, || async {
        ctx.clients
            .dynamodb
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute.clone())
            .key_schema(key.clone())
            .set_tags(Some(dynamodb_tags(&ctx.object_tags())))
            .send()
            .await
            .map_err(aws_error("dynamodb:CreateTable"))
    })
    .await?;
    let arn = output.table_description.and_then(|table| table.table_arn);
    returned("dynamodb:CreateTable", arn)
}

/// Waits until the table is active, then makes its records expire after the window (the TTL
/// attribute), unless they do already.
pub async fn ensure_ready(ctx: Context<'_>, arn: &str) -> Result<(), AwsError> {
    let name = name_in(arn);
    wait_for(
        &format!("table {name} to be active"),
        ctx.deadline,
        || async {
            let status = find(ctx.clients, name).await?;
            Ok(status.filter(|s| *s == TableStatus::Active).map(drop))
        },
    )
    .await?;
    let ttl = ctx
        .clients
        .dynamodb
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(aws_error("dynamodb:DescribeTimeToLive"))?
        .time_to_live_description;
    let enabled = ttl.is_some_and(|ttl| {
        ttl.attribute_name.as_deref() == Some(EXPIRES_AT)
            && matches!(
                ttl.time_to_live_status,
                Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
            )
    });
    if !enabled {
        let specification = TimeToLiveSpecification::builder()
            .attribute_name(EXPIRES_AT)
            .enabled(true)
            .build()
            .map_err(|error| AwsError::Unusable(error.to_string()))?;
        ctx.clients
            .dynamodb
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(specification)
            .send()
            .await
            .map_err(aws_error("dynamodb:UpdateTimeToLive"))?;
    }
    Ok(())
}

/// The table's status, or `None` when it does not exist (or is being deleted).
pub async fn find(clients: &Clients, name: &str) -> Result<Option<TableStatus>, AwsError> {
    let table = clients
        .dynamodb
        .describe_table()
        .table_name(name)
        .send()
        .await
        .map_err(aws_error("dynamodb:DescribeTable"))
        .found()?
        .and_then(|output| output.table);
    Ok(table
        .and_then(|table| table.table_status)
        .filter(|status| *status != TableStatus::Deleting))
}

/// Deletes the table; a missing one is already deleted.
pub async fn delete(clients: &Clients, arn: &str) -> Result<(), AwsError> {
    let call = clients.dynamodb.delete_table().table_name(name_in(arn));
    crate::aws::delete("dynamodb:DeleteTable", call.send()).await
}

/// Applies a tag change to the table.
pub async fn retag(clients: &Clients, arn: &str, change: &TagChange) -> Result<(), AwsError> {
    change
        .apply(
            async |tags| {
                clients
                    .dynamodb
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(dynamodb_tags(tags)))
                    .send()
                    .await
                    .map_err(aws_error("dynamodb:TagResource"))
            },
            async |removed| {
                clients
                    .dynamodb
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(removed.to_vec()))
                    .send()
                    .await
                    .map_err(aws_error("dynamodb:UntagResource"))
            },
        )
        .await
}

/// The pipeline's replay table, if one exists under its name, with its tags.
pub async fn inventory(clients: &Clients, pipeline: &str) -> Result<Vec<Tagged>, AwsError> {
    let name = object_name(pipeline, Part::ReplayTable);
    let table = clients
        .dynamodb
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .map_err(aws_error("dynamodb:DescribeTable"))
        .found()?
        .and_then(|output| output.table)
        .filter(|table| table.table_status != Some(TableStatus::Deleting));
    let Some(arn) = table.and_then(|table| table.table_arn) else {
        return Ok(Vec::new());
    };
    let tags = clients
        .dynamodb
        .list_tags_of_resource()
        .resource_arn(&arn)
        .send()
        .await
        .map_err(aws_error("dynamodb:ListTagsOfResource"))?
        .tags
        .unwrap_or_default()
        .into_iter()
        .map(|tag| (tag.key, tag.value));
    Ok(vec![Tagged::new(Kind::ReplayTable, arn, tags)])
}
