//! Data sources: `nami_webhook_pipeline` (one pipeline by name) and `nami_webhook_pipelines`
//! (every pipeline in the account and region, with its endpoint and queue depths).

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{AttributeConstraint, AttributeType, Schema};
use tf_provider::value::{Value, ValueEmpty};
use tf_provider::{DataSource, Diagnostics};

use crate::aws::{AwsError, Clients};
use crate::components::{alarms, queue};
use crate::lookup::{find_pipeline, pipeline_queues};
use crate::model::{Num, Str, StrMap, value_of};
use crate::schema::{attribute, block};
use nami_contract::naming::{Part, object_name};

/// `nami_webhook_pipeline`.
#[derive(Debug, Clone)]
pub struct PipelineDataSource {
    clients: Arc<OnceLock<Clients>>,
}

impl PipelineDataSource {
    /// The data source, reading clients from `clients` once the provider is configured.
    pub fn new(clients: Arc<OnceLock<Clients>>) -> Self {
        PipelineDataSource { clients }
    }
}

/// One pipeline's ids.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PipelineData {
    /// The pipeline's name (the argument).
    pub name: Str,
    /// The pipeline's name.
    pub id: Str,
    /// URL to POST webhooks to.
    pub endpoint_url: Str,
    /// ID of the REST API.
    pub api_id: Str,
    /// URL of the SQS queue.
    pub queue_url: Str,
    /// ARN of the SQS queue.
    pub queue_arn: Str,
    /// URL of the dead-letter queue.
    pub dlq_url: Str,
    /// ARN of the dead-letter queue.
    pub dlq_arn: Str,
    /// ARN of the pre-queue function.
    pub pre_queue_function_arn: Str,
    /// ARN of the post-queue function.
    pub post_queue_function_arn: Str,
    /// UUID of the event source mapping.
    pub event_source_mapping_id: Str,
    /// Messages in the queue, visible or in flight (null: the queue is missing).
    pub queue_depth: Num,
    /// Messages in the dead-letter queue, visible or in flight (null: the DLQ is missing).
    pub dlq_depth: Num,
    /// Age of the queue's oldest message in seconds, from CloudWatch (null: no recent value).
    pub oldest_message_age_seconds: Num,
    /// Each alarm's state by what it watches (null: the pipeline has no alarms).
    pub alarm_states: StrMap,
    /// The database envelopes are stored in.
    pub database: Str,
    /// The collection envelopes are stored in.
    pub collection: Str,
}

#[async_trait]
impl DataSource for PipelineDataSource {
    type State<'a> = PipelineData;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        // The ids are the resource's: their descriptions come from its schema.
        let resource = crate::pipeline::schema::schema().block.attributes;
        let mut attributes = vec![(
            "name",
            attribute(
                AttributeType::String,
                AttributeConstraint::Required,
                "Name of the pipeline.",
            ),
        )];
        attributes.extend(
            [
                "id",
                "endpoint_url",
                "api_id",
                "queue_url",
                "queue_arn",
                "dlq_url",
                "dlq_arn",
                "pre_queue_function_arn",
                "post_queue_function_arn",
                "event_source_mapping_id",
            ]
            .map(|name| (name, resource[name].clone())),
        );
        for (name, attr_type, description) in [
            (
                "queue_depth",
                AttributeType::Number,
                "Messages in the queue, visible or in flight; null when the queue is missing.",
            ),
            (
                "dlq_depth",
                AttributeType::Number,
                "Messages in the dead-letter queue, visible or in flight; null when the DLQ is missing.",
            ),
            (
                "oldest_message_age_seconds",
                AttributeType::Number,
                "Age of the queue's oldest message in seconds: SQS's latest `ApproximateAgeOfOldestMessage` in CloudWatch of the past 15 minutes; null when there is none.",
            ),
            (
                "alarm_states",
                AttributeType::Map(AttributeType::String.into()),
                "Each alarm's state (`OK`, `ALARM`, `INSUFFICIENT_DATA`) by what it watches, as in the resource's `alarm_arns`; null when the pipeline has no alarms.",
            ),
            (
                "database",
                AttributeType::String,
                "The MongoDB database envelopes are stored in.",
            ),
            (
                "collection",
                AttributeType::String,
                "The MongoDB collection envelopes are stored in.",
            ),
        ] {
            attributes.push((
                name,
                attribute(attr_type, AttributeConstraint::Computed, description),
            ));
        }
        Some(Schema {
            version: 1,
            block: block(
                "One Nami pipeline, by name: its endpoint, the ids of its AWS objects, its queues' depths and oldest message's age, its alarms' states and where it stores.",
                attributes,
            ),
        })
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        config: Self::State<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<Self::State<'a>> {
        let clients = crate::aws::configured(&self.clients, diags)?;
        let name = config.name.as_ref_option().cloned().unwrap_or_default();
        let result = read_one(clients, &name).await;
        match result {
            Ok(Some(data)) => Some(data),
            Ok(None) => {
                diags.root_error(
                    "Pipeline not found",
                    format!("no Nami pipeline named {name:?} in {}", clients.region),
                );
                None
            }
            Err(error) => {
                diags.root_error("Reading the pipeline failed", error.to_string());
                None
            }
        }
    }
}

/// Pipeline `name` as the data source shows it; `None` when it does not exist.
async fn read_one(clients: &Clients, name: &str) -> Result<Option<PipelineData>, AwsError> {
    let Some(found) = find_pipeline(clients, name).await? else {
        return Ok(None);
    };
    let depth = async |queue: &Option<queue::QueueFacts>| match queue {
        Some(facts) => queue::depth(clients, &facts.ids.url)
            .await
            .map(Value::Value),
        None => Ok(Value::Null),
    };
    let oldest = async || match &found.queue {
        Some(_) => queue::oldest_message_age(clients, &object_name(name, Part::Main))
            .await
            .map(value_of),
        None => Ok(Value::Null),
    };
    let (queue_depth, dlq_depth, oldest_message_age_seconds, alarms) = tokio::try_join!(
        depth(&found.queue),
        depth(&found.dlq),
        oldest(),
        alarms::states(clients, name),
    )?;
    let alarm_states = if alarms.is_empty() {
        Value::Null
    } else {
        Value::Value(
            alarms
                .into_iter()
                .map(|(key, state)| (key, Value::Value(state)))
                .collect(),
        )
    };
    let store_var = |var: &str| {
        value_of(
            found
                .post_queue
                .as_ref()
                .and_then(|p| p.environment.get(var).cloned()),
        )
    };
    Ok(Some(PipelineData {
        name: Value::Value(name.to_owned()),
        id: Value::Value(name.to_owned()),
        endpoint_url: value_of(found.endpoint_url(clients)),
        database: store_var(nami_contract::vars::MONGODB_DATABASE),
        collection: store_var(nami_contract::vars::MONGODB_COLLECTION),
        api_id: value_of(found.api.map(|api| api.api_id)),
        queue_url: value_of(found.queue.as_ref().map(|q| q.ids.url.clone())),
        queue_arn: value_of(found.queue.map(|q| q.ids.arn)),
        dlq_url: value_of(found.dlq.as_ref().map(|q| q.ids.url.clone())),
        dlq_arn: value_of(found.dlq.map(|q| q.ids.arn)),
        pre_queue_function_arn: Value::Value(found.pre_queue.arn),
        post_queue_function_arn: value_of(found.post_queue.map(|p| p.arn)),
        event_source_mapping_id: value_of(found.mapping.map(|m| m.uuid)),
        queue_depth,
        dlq_depth,
        oldest_message_age_seconds,
        alarm_states,
    }))
}

/// `nami_webhook_pipelines`.
#[derive(Debug, Clone)]
pub struct PipelinesDataSource {
    clients: Arc<OnceLock<Clients>>,
}

impl PipelinesDataSource {
    /// The data source, reading clients from `clients` once the provider is configured.
    pub fn new(clients: Arc<OnceLock<Clients>>) -> Self {
        PipelinesDataSource { clients }
    }
}

/// Every pipeline.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PipelinesData {
    /// The region listed.
    pub id: Str,
    /// The pipelines, by name.
    pub pipelines: Value<Vec<Value<PipelineSummary>>>,
}

/// One pipeline in the list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PipelineSummary {
    /// The pipeline's name.
    pub name: Str,
    /// URL to POST webhooks to.
    pub endpoint_url: Str,
    /// Messages in the queue, visible or in flight.
    pub queue_depth: Num,
    /// Messages in the dead-letter queue, visible or in flight.
    pub dlq_depth: Num,
}

#[async_trait]
impl DataSource for PipelinesDataSource {
    type State<'a> = PipelinesData;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        let summary = [
            ("name", AttributeType::String),
            ("endpoint_url", AttributeType::String),
            ("queue_depth", AttributeType::Number),
            ("dlq_depth", AttributeType::Number),
        ];
        let object = AttributeType::Object(
            summary
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        );
        Some(Schema {
            version: 1,
            block: block(
                "Every Nami pipeline in the account and region, like Nami's `list`.",
                vec![
                    (
                        "id",
                        attribute(
                            AttributeType::String,
                            AttributeConstraint::Computed,
                            "The region listed.",
                        ),
                    ),
                    (
                        "pipelines",
                        attribute(
                            AttributeType::List(object.into()),
                            AttributeConstraint::Computed,
                            "The pipelines, by name: `name`, `endpoint_url`, `queue_depth` and `dlq_depth` (messages waiting, visible or in flight).",
                        ),
                    ),
                ],
            ),
        })
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        _config: Self::State<'a>,
        _meta: Self::ProviderMetaState<'a>,
    ) -> Option<Self::State<'a>> {
        let clients = crate::aws::configured(&self.clients, diags)?;
        match list(clients).await {
            Ok(pipelines) => Some(PipelinesData {
                id: Value::Value(clients.region.clone()),
                pipelines: Value::Value(pipelines.into_iter().map(Value::Value).collect()),
            }),
            Err(error) => {
                diags.root_error("Listing pipelines failed", error.to_string());
                None
            }
        }
    }
}

/// Every pipeline, found by the `nami:pipeline` tag on its main queue.
async fn list(clients: &Clients) -> Result<Vec<PipelineSummary>, AwsError> {
    let mut pipelines = Vec::new();
    for listed in pipeline_queues(clients).await? {
        let depth_of = |url: Option<String>| async move {
            match url {
                Some(url) => queue::depth(clients, &url).await.map(Value::Value),
                None => Ok(Value::Null),
            }
        };
        let endpoint_url = find_pipeline(clients, &listed.name)
            .await?
            .and_then(|found| found.endpoint_url(clients));
        pipelines.push(PipelineSummary {
            name: Value::Value(listed.name.clone()),
            endpoint_url: value_of(endpoint_url),
            queue_depth: depth_of(Some(listed.queue_url)).await?,
            dlq_depth: depth_of(listed.dlq_url).await?,
        });
    }
    Ok(pipelines)
}
