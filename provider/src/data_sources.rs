//! Data sources: `nami_webhook_pipeline` (one pipeline by name) and `nami_webhook_pipelines`
//! (every pipeline in the account and region, with its endpoint and queue depths).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{AttributeConstraint, AttributeType, Block, Description, Schema};
use tf_provider::value::{Value, ValueEmpty};
use tf_provider::{DataSource, Diagnostics};

use crate::artifacts::Function;
use crate::aws::{AwsError, Clients, PIPELINE_TAG, aws_error};
use crate::components::{api, functions, object_name, queue};
use crate::pipeline::model::{Num, Str, attribute};

/// The endpoint URL of pipeline `name`, when its API and stage exist.
async fn endpoint(
    clients: &Clients,
    name: &str,
) -> Result<(Option<String>, Option<String>), AwsError> {
    let Some(api_id) = api::find_by_name(clients, name).await? else {
        return Ok((None, None));
    };
    let stage = api::find(clients, &api_id)
        .await?
        .and_then(|facts| facts.stages.into_iter().next());
    let url = stage.map(|stage| api::endpoint_url(clients, &api_id, &stage));
    Ok((Some(api_id), url))
}

/// `nami_webhook_pipeline`.
#[derive(Debug, Clone)]
pub struct PipelineDataSource {
    clients: Arc<OnceLock<Clients>>,
}

impl PipelineDataSource {
    pub fn new(clients: Arc<OnceLock<Clients>>) -> Self {
        PipelineDataSource { clients }
    }
}

/// One pipeline's ids.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PipelineData {
    pub name: Str,
    pub id: Str,
    pub endpoint_url: Str,
    pub api_id: Str,
    pub queue_url: Str,
    pub queue_arn: Str,
    pub dlq_url: Str,
    pub dlq_arn: Str,
    pub pre_queue_function_arn: Str,
    pub post_queue_function_arn: Str,
    pub event_source_mapping_id: Str,
}

#[async_trait]
impl DataSource for PipelineDataSource {
    type State<'a> = PipelineData;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        let computed = |d: &str| attribute(AttributeType::String, AttributeConstraint::Computed, d);
        let attributes = [
            (
                "name",
                attribute(
                    AttributeType::String,
                    AttributeConstraint::Required,
                    "Name of the pipeline.",
                ),
            ),
            ("id", computed("The pipeline's name.")),
            ("endpoint_url", computed("URL to POST webhooks to.")),
            ("api_id", computed("ID of the REST API.")),
            ("queue_url", computed("URL of the SQS queue.")),
            ("queue_arn", computed("ARN of the SQS queue.")),
            ("dlq_url", computed("URL of the dead-letter queue.")),
            ("dlq_arn", computed("ARN of the dead-letter queue.")),
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
                computed("UUID of the event source mapping."),
            ),
        ];
        Some(Schema {
            version: 1,
            block: Block {
                description: Description::markdown(
                    "One Nami pipeline, by name: its endpoint and the ids of its AWS objects.",
                ),
                attributes: attributes
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
                ..Default::default()
            },
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
        let result = async {
            let (pre, post) = tokio::try_join!(
                functions::find(clients, &name, Function::PreQueue),
                functions::find(clients, &name, Function::PostQueue)
            )?;
            let Some(pre) = pre else { return Ok(None) };
            let (api_id, endpoint_url) = endpoint(clients, &name).await?;
            let queue_url = queue::find_url(clients, &object_name(&name, "")).await?;
            let dlq_url = queue::find_url(clients, &object_name(&name, "dlq")).await?;
            let arn_of = |url: Option<String>| async move {
                match url {
                    Some(url) => queue::find(clients, &url)
                        .await
                        .map(|f| f.map(|f| f.ids.arn)),
                    None => Ok(None),
                }
            };
            let queue_arn = arn_of(queue_url.clone()).await?;
            let dlq_arn = arn_of(dlq_url.clone()).await?;
            let mapping = match &queue_arn {
                Some(arn) => functions::find_mapping_for(clients, &name, arn).await?,
                None => None,
            };
            Ok::<_, AwsError>(Some(PipelineData {
                name: Value::Value(name.clone()),
                id: Value::Value(name.clone()),
                endpoint_url: endpoint_url.into(),
                api_id: api_id.into(),
                queue_url: queue_url.into(),
                queue_arn: queue_arn.into(),
                dlq_url: dlq_url.into(),
                dlq_arn: dlq_arn.into(),
                pre_queue_function_arn: Value::Value(pre.arn),
                post_queue_function_arn: post.map(|p| p.arn).into(),
                event_source_mapping_id: mapping.into(),
            }))
        }
        .await;
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

/// `nami_webhook_pipelines`.
#[derive(Debug, Clone)]
pub struct PipelinesDataSource {
    clients: Arc<OnceLock<Clients>>,
}

impl PipelinesDataSource {
    pub fn new(clients: Arc<OnceLock<Clients>>) -> Self {
        PipelinesDataSource { clients }
    }
}

/// Every pipeline.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PipelinesData {
    pub id: Str,
    pub pipelines: Value<Vec<Value<PipelineSummary>>>,
}

/// One pipeline in the list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PipelineSummary {
    pub name: Str,
    pub endpoint_url: Str,
    pub queue_depth: Num,
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
            block: Block {
                description: Description::markdown("Every Nami pipeline in the account and region, like Nami's `list`."),
                attributes: [
                    ("id", attribute(AttributeType::String, AttributeConstraint::Computed, "The region listed.")),
                    (
                        "pipelines",
                        attribute(
                            AttributeType::List(object.into()),
                            AttributeConstraint::Computed,
                            "The pipelines, by name: `name`, `endpoint_url`, `queue_depth` and `dlq_depth` (messages waiting, visible or in flight).",
                        ),
                    ),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
                ..Default::default()
            },
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
    let urls = clients
        .sqs
        .list_queues()
        .queue_name_prefix("nami-")
        .send()
        .await
        .map_err(aws_error("sqs:ListQueues"))?
        .queue_urls
        .unwrap_or_default();
    let mut queues: BTreeMap<String, String> = BTreeMap::new();
    for url in &urls {
        let tags = clients
            .sqs
            .list_queue_tags()
            .queue_url(url)
            .send()
            .await
            .map_err(aws_error("sqs:ListQueueTags"))?;
        if let Some(pipeline) = tags.tags.unwrap_or_default().get(PIPELINE_TAG) {
            queues.insert(
                url.rsplit('/').next().unwrap_or_default().to_owned(),
                pipeline.clone(),
            );
        }
    }
    let urls = &urls;
    let mut pipelines = Vec::new();
    for (queue_name, pipeline) in &queues {
        if *queue_name != object_name(pipeline, "") {
            continue;
        }
        let depth_of = |name: String| async move {
            match urls.iter().find(|url| url.ends_with(&format!("/{name}"))) {
                Some(url) => queue::depth(clients, url).await.map(Value::Value),
                None => Ok(Value::Null),
            }
        };
        let (_, endpoint_url) = endpoint(clients, pipeline).await?;
        pipelines.push(PipelineSummary {
            name: Value::Value(pipeline.clone()),
            endpoint_url: endpoint_url.into(),
            queue_depth: depth_of(object_name(pipeline, "")).await?,
            dlq_depth: depth_of(object_name(pipeline, "dlq")).await?,
        });
    }
    Ok(pipelines)
}
