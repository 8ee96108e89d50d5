//! What a deployed pipeline consists of, read back from the AWS API (the emulator, locally) by
//! the pipeline's name — the same names the provider gives its objects (`nami-<name>…`).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use nami_contract::naming::{Function, Part, object_name};

/// A function's configuration as Lambda holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    /// Function name, e.g. `nami-github-events-post-queue`.
    pub name: String,
    /// Function ARN.
    pub arn: String,
    /// The configured timeout.
    pub timeout: Duration,
    /// The configured memory size in MB.
    pub memory_mb: i32,
    /// Base64 SHA-256 of the deployment package (identifies the artifact to run).
    pub code_sha256: String,
    /// The function's environment variables.
    pub environment: BTreeMap<String, String>,
}

/// The event source mapping from the queue to the post-queue function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingSpec {
    /// Mapping UUID.
    pub uuid: String,
    /// Records per batch at most.
    pub batch_size: usize,
    /// How long to gather a batch.
    pub batching_window: Duration,
    /// `ScalingConfig.MaximumConcurrency`, when set.
    pub max_concurrency: Option<usize>,
    /// Whether the function reports partial batch failures.
    pub report_batch_item_failures: bool,
    /// Whether the mapping is enabled.
    pub enabled: bool,
}

/// A queue by URL and ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    /// Queue URL.
    pub url: String,
    /// Queue ARN.
    pub arn: String,
    /// Its visibility timeout.
    pub visibility_timeout: Duration,
}

/// Everything the local data plane needs to run one pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineSpec {
    /// The pipeline's name (`name` of the resource).
    pub name: String,
    /// The REST API's id.
    pub api_id: String,
    /// The deployed stage.
    pub stage: String,
    /// Media types API Gateway passes base64-encoded (`*/*` from the provider).
    pub binary_media_types: Vec<String>,
    /// The pre-queue function.
    pub pre_queue: FunctionSpec,
    /// The post-queue function.
    pub post_queue: FunctionSpec,
    /// The mapping from the queue to the post-queue function.
    pub mapping: MappingSpec,
    /// The main queue.
    pub queue: QueueSpec,
    /// The dead-letter queue, from the main queue's redrive policy.
    pub dead_letter_queue: Option<QueueSpec>,
}

/// A pipeline that could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// An object the pipeline must have is missing.
    #[error(
        "{what} `{name}` was not found; is pipeline `{pipeline}` applied against this endpoint?"
    )]
    Missing {
        /// Kind of object.
        what: &'static str,
        /// Its expected name.
        name: String,
        /// The pipeline.
        pipeline: String,
    },
    /// The API call failed.
    #[error("reading {what}: {message}")]
    Aws {
        /// What was being read.
        what: String,
        /// The SDK's error, with its causes.
        message: String,
    },
}

fn aws_error<E>(what: impl Into<String>) -> impl FnOnce(E) -> DiscoveryError
where
    E: std::error::Error,
{
    move |error| DiscoveryError::Aws {
        what: what.into(),
        message: aws_sdk_sqs::error::DisplayErrorContext(error).to_string(),
    }
}

/// Reads pipeline `name` back from the API that `sdk` points at.
pub async fn discover(sdk: &SdkConfig, name: &str) -> Result<PipelineSpec, DiscoveryError> {
    let api_name = object_name(name, Part::Main);
    let lambda = aws_sdk_lambda::Client::new(sdk);
    let missing = |what, object: &str| DiscoveryError::Missing {
        what,
        name: object.to_owned(),
        pipeline: name.to_owned(),
    };
    let (pre_queue_name, post_queue_name) = (
        object_name(name, Part::Function(Function::PreQueue)),
        object_name(name, Part::Function(Function::PostQueue)),
    );
    let (pre_queue, post_queue, api) = tokio::try_join!(
        function(&lambda, &pre_queue_name, name),
        function(&lambda, &post_queue_name, name),
        rest_api(sdk, &api_name, name),
    )?;
    let mapping = lambda
        .list_event_source_mappings()
        .function_name(&post_queue.name)
        .send()
        .await
        .map_err(aws_error("event source mappings"))?
        .event_source_mappings
        .unwrap_or_default()
        .into_iter()
        .next()
        .ok_or_else(|| missing("event source mapping of", &post_queue.name))?;
    let queue_arn = mapping.event_source_arn.clone().unwrap_or_default();
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let (queue, redrive) = read_queue(&sqs, &queue_arn).await?;
    let dead_letter_queue = match redrive {
        Some(arn) => Some(read_queue(&sqs, &arn).await?.0),
        None => None,
    };
    let (api_id, stage, binary_media_types) = api;
    Ok(PipelineSpec {
        name: name.to_owned(),
        api_id,
        stage,
        binary_media_types,
        pre_queue,
        post_queue,
        mapping: MappingSpec {
            uuid: mapping.uuid.unwrap_or_default(),
            batch_size: mapping.batch_size.unwrap_or(10).max(1) as usize,
            batching_window: Duration::from_secs(
                mapping
                    .maximum_batching_window_in_seconds
                    .unwrap_or(0)
                    .max(0) as u64,
            ),
            max_concurrency: mapping
                .scaling_config
                .and_then(|s| s.maximum_concurrency)
                .map(|n| n.max(1) as usize),
            report_batch_item_failures: mapping.function_response_types.is_some_and(|types| {
                types
                    .contains(&aws_sdk_lambda::types::FunctionResponseType::ReportBatchItemFailures)
            }),
            enabled: mapping
                .state
                .is_none_or(|state| matches!(state.as_str(), "Enabled" | "Enabling" | "Updating")),
        },
        queue,
        dead_letter_queue,
    })
}

async fn function(
    lambda: &aws_sdk_lambda::Client,
    function_name: &str,
    pipeline: &str,
) -> Result<FunctionSpec, DiscoveryError> {
    let configuration = lambda
        .get_function_configuration()
        .function_name(function_name)
        .send()
        .await
        .map_err(|error| {
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception())
            {
                DiscoveryError::Missing {
                    what: "Lambda function",
                    name: function_name.to_owned(),
                    pipeline: pipeline.to_owned(),
                }
            } else {
                aws_error(format!("function {function_name}"))(error)
            }
        })?;
    Ok(FunctionSpec {
        name: function_name.to_owned(),
        arn: configuration.function_arn.unwrap_or_default(),
        timeout: Duration::from_secs(configuration.timeout.unwrap_or(3).max(1) as u64),
        memory_mb: configuration.memory_size.unwrap_or(128),
        code_sha256: configuration.code_sha256.unwrap_or_default(),
        environment: configuration
            .environment
            .and_then(|e| e.variables)
            .unwrap_or_default()
            .into_iter()
            .collect(),
    })
}

/// The REST API named `api_name`: its id, first stage and binary media types.
async fn rest_api(
    sdk: &SdkConfig,
    api_name: &str,
    pipeline: &str,
) -> Result<(String, String, Vec<String>), DiscoveryError> {
    let apigateway = aws_sdk_apigateway::Client::new(sdk);
    let api = apigateway
        .get_rest_apis()
        .limit(500)
        .send()
        .await
        .map_err(aws_error("REST APIs"))?
        .items
        .unwrap_or_default()
        .into_iter()
        .find(|api| api.name.as_deref() == Some(api_name))
        .ok_or_else(|| DiscoveryError::Missing {
            what: "REST API",
            name: api_name.to_owned(),
            pipeline: pipeline.to_owned(),
        })?;
    let id = api.id.unwrap_or_default();
    let stage = apigateway
        .get_stages()
        .rest_api_id(&id)
        .send()
        .await
        .map_err(aws_error(format!("stages of REST API {id}")))?
        .item
        .unwrap_or_default()
        .into_iter()
        .find_map(|stage| stage.stage_name)
        .ok_or_else(|| DiscoveryError::Missing {
            what: "stage of REST API",
            name: api_name.to_owned(),
            pipeline: pipeline.to_owned(),
        })?;
    Ok((id, stage, api.binary_media_types.unwrap_or_default()))
}

/// The queue with ARN `arn` and the ARN of its dead-letter queue, if any.
async fn read_queue(
    sqs: &aws_sdk_sqs::Client,
    arn: &str,
) -> Result<(QueueSpec, Option<String>), DiscoveryError> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let queue_name = arn.rsplit(':').next().unwrap_or(arn);
    let url = sqs
        .get_queue_url()
        .queue_name(queue_name)
        .send()
        .await
        .map_err(aws_error(format!("queue {queue_name}")))?
        .queue_url
        .unwrap_or_default();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .map_err(aws_error(format!("attributes of queue {queue_name}")))?
        .attributes
        .unwrap_or_default();
    let visibility = attributes
        .get(&QueueAttributeName::VisibilityTimeout)
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let dead_letter_arn = attributes
        .get(&QueueAttributeName::RedrivePolicy)
        .and_then(|policy| serde_json::from_str::<serde_json::Value>(policy).ok())
        .and_then(|policy| policy["deadLetterTargetArn"].as_str().map(str::to_owned));
    Ok((
        QueueSpec {
            url,
            arn: arn.to_owned(),
            visibility_timeout: Duration::from_secs(visibility),
        },
        dead_letter_arn,
    ))
}
