//! What a deployed pipeline consists of, read back from the AWS API (the emulator, locally) by
//! the pipeline's name, with the provider's own lookup (`terraform_provider_nami::lookup`) — the
//! one that import and the data sources use.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use nami_contract::naming::{Function, Part, object_name};
use terraform_provider_nami::aws::{Clients, Endpoints};
use terraform_provider_nami::components::functions::FunctionFacts;
use terraform_provider_nami::components::queue::QueueFacts;
use terraform_provider_nami::lookup::find_pipeline;

/// A function's configuration as Lambda holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    /// Function name, e.g. `nami-github-events-post-queue`.
    pub name: String,
    /// Function ARN.
    pub arn: String,
    /// Its execution role: the functions and the event source mapping act with its credentials.
    pub role_arn: String,
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
    #[error("reading pipeline {pipeline}: {message}")]
    Aws {
        /// The pipeline.
        pipeline: String,
        /// The failed call, in one sentence.
        message: String,
    },
}

/// Reads pipeline `name` back from the API that `sdk` points at.
pub async fn discover(sdk: &SdkConfig, name: &str) -> Result<PipelineSpec, DiscoveryError> {
    let clients = Clients::new(sdk, &Endpoints::default(), BTreeMap::new());
    let missing = |what, part| DiscoveryError::Missing {
        what,
        name: object_name(name, part),
        pipeline: name.to_owned(),
    };
    let found = find_pipeline(&clients, name)
        .await
        .map_err(|error| DiscoveryError::Aws {
            pipeline: name.to_owned(),
            message: error.to_string(),
        })?
        .ok_or_else(|| missing("Lambda function", Part::Function(Function::PreQueue)))?;
    let post_queue = found
        .post_queue
        .as_ref()
        .ok_or_else(|| missing("Lambda function", Part::Function(Function::PostQueue)))?;
    let api = found
        .api
        .as_ref()
        .ok_or_else(|| missing("REST API", Part::Main))?;
    let stage = found
        .stage()
        .ok_or_else(|| missing("stage of REST API", Part::Main))?;
    let mapping = found.mapping.as_ref().ok_or_else(|| {
        missing(
            "event source mapping of",
            Part::Function(Function::PostQueue),
        )
    })?;
    let queue = found
        .queue
        .as_ref()
        .ok_or_else(|| missing("queue", Part::Main))?;
    let count = |n: i32| usize::try_from(n.max(1)).unwrap_or(1);
    Ok(PipelineSpec {
        name: name.to_owned(),
        api_id: api.api_id.clone(),
        stage: stage.to_owned(),
        binary_media_types: found.binary_media_types.clone(),
        pre_queue: function(name, Function::PreQueue, &found.pre_queue),
        post_queue: function(name, Function::PostQueue, post_queue),
        mapping: MappingSpec {
            uuid: mapping.uuid.clone(),
            batch_size: count(mapping.settings.batch_size),
            batching_window: seconds(mapping.settings.batching_window_seconds),
            max_concurrency: (mapping.settings.max_concurrency > 0)
                .then(|| count(mapping.settings.max_concurrency)),
            report_batch_item_failures: mapping.reports_batch_item_failures,
            enabled: mapping.enabled,
        },
        queue: queue_spec(queue),
        dead_letter_queue: found.dlq.as_ref().map(queue_spec),
    })
}

fn seconds(count: i32) -> Duration {
    Duration::from_secs(u64::try_from(count).unwrap_or(0))
}

fn function(pipeline: &str, function: Function, facts: &FunctionFacts) -> FunctionSpec {
    FunctionSpec {
        name: object_name(pipeline, Part::Function(function)),
        arn: facts.arn.clone(),
        role_arn: facts.role_arn.clone(),
        timeout: seconds(facts.timeout.max(1)),
        memory_mb: facts.memory_size,
        code_sha256: facts.code_sha256.clone(),
        environment: facts.environment.clone().into_iter().collect(),
    }
}

fn queue_spec(facts: &QueueFacts) -> QueueSpec {
    QueueSpec {
        url: facts.ids.url.clone(),
        arn: facts.ids.arn.clone(),
        visibility_timeout: seconds(facts.visibility_timeout_seconds),
    }
}
