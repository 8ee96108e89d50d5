//! The event source mapping from the queue to the post-queue function: the throttle that
//! protects the store (MaximumConcurrency), batching, and partial batch responses.

use aws_sdk_lambda::types::{EventSourceMappingConfiguration, FunctionResponseType, ScalingConfig};
use nami_contract::limits::Limit;
use nami_contract::naming::{Function, Part};
use tf_provider::schema::Attribute;
use tf_provider::value::Value;

use super::Context;
use crate::aws::{
    AwsError, Clients, OptionalNotFound, aws_error, has_code, has_code_and_message, retry_while,
    returned,
};
use crate::check::{Checker, at};
use crate::model::{PipelineState, SettingsError, block, default, known, known_i32};
use crate::schema::number;

/// Records per invocation (SQS's range for standard queues).
pub const BATCH_SIZE: Limit = Limit::new(1, 10_000, 10);
/// Batches over this many records need a batching window of at least a second (AWS's rule).
pub const BATCH_SIZE_WITHOUT_WINDOW: i64 = 10;
/// Seconds to gather a batch.
pub const BATCHING_WINDOW_SECONDS: Limit = Limit::new(0, 300, 0);
/// Most concurrent invocations: the mapping's MaximumConcurrency (AWS allows 2–1000).
pub const MAX_CONCURRENCY: Limit = Limit::new(2, 1000, 2);

/// The mapping's attributes in the `post_queue` block.
pub fn attributes() -> Vec<(&'static str, Attribute)> {
    vec![
        (
            "batch_size",
            number(
                &format!(
                    "Records per invocation (over {BATCH_SIZE_WITHOUT_WINDOW} needs a batching window)"
                ),
                BATCH_SIZE,
            ),
        ),
        (
            "batching_window_seconds",
            number("Seconds to gather a batch", BATCHING_WINDOW_SECONDS),
        ),
        (
            "max_concurrency",
            number(
                "Most concurrent invocations (the mapping's MaximumConcurrency): the throttle that protects the store",
                MAX_CONCURRENCY,
            ),
        ),
    ]
}

/// Fills the mapping's defaults.
pub fn fill_defaults(state: &mut PipelineState) {
    let post = block(&mut state.post_queue);
    default(&mut post.batch_size, BATCH_SIZE.default);
    default(
        &mut post.batching_window_seconds,
        BATCHING_WINDOW_SECONDS.default,
    );
    default(&mut post.max_concurrency, MAX_CONCURRENCY.default);
}

/// Checks the mapping's settings.
pub fn validate(state: &PipelineState, check: &mut Checker<'_>) {
    let Some(post) = state.post_queue.as_ref_option() else {
        return;
    };
    let path = |attribute| at("post_queue", attribute);
    check.limit(&post.batch_size, BATCH_SIZE, path("batch_size"));
    check.limit(
        &post.batching_window_seconds,
        BATCHING_WINDOW_SECONDS,
        path("batching_window_seconds"),
    );
    check.limit(
        &post.max_concurrency,
        MAX_CONCURRENCY,
        path("max_concurrency"),
    );
    if let Some(&size) = post.batch_size.as_ref_option() {
        let window = post.batching_window_seconds.as_ref_option();
        check.that(
            size <= BATCH_SIZE_WITHOUT_WINDOW || window.is_some_and(|&w| w >= 1),
            path("batching_window_seconds"),
            "Batching window required",
            format!(
                "batch_size {size} is over {BATCH_SIZE_WITHOUT_WINDOW}: AWS requires batching_window_seconds of at least 1"
            ),
        );
    }
}

/// The mapping's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Records per invocation.
    pub batch_size: i32,
    /// Seconds to gather a batch.
    pub batching_window_seconds: i32,
    /// Most concurrent invocations.
    pub max_concurrency: i32,
}

impl Settings {
    /// The mapping's settings in a planned state.
    pub fn from_state(state: &PipelineState) -> Result<Self, SettingsError> {
        let post = known(&state.post_queue, "post_queue")?;
        Ok(Settings {
            batch_size: known_i32(&post.batch_size, "post_queue.batch_size")?,
            batching_window_seconds: known_i32(
                &post.batching_window_seconds,
                "post_queue.batching_window_seconds",
            )?,
            max_concurrency: known_i32(&post.max_concurrency, "post_queue.max_concurrency")?,
        })
    }

    /// Whether the live mapping differs from these settings (partial batch responses included).
    pub fn drifted(&self, facts: &MappingFacts) -> bool {
        facts.settings != *self || !facts.reports_batch_item_failures
    }

    fn scaling(&self) -> ScalingConfig {
        ScalingConfig::builder()
            .maximum_concurrency(self.max_concurrency)
            .build()
    }
}

/// The one error creating a mapping waits out: the post-queue role's SQS grant can take seconds
/// to propagate after PutRolePolicy, and until then CreateEventSourceMapping answers
/// InvalidParameterValueException "The provided execution role does not have permissions to call
/// ReceiveMessage on SQS". Any other InvalidParameterValueException is a real mistake.
fn policy_not_ready() -> impl Fn(&AwsError) -> bool {
    has_code_and_message(
        "InvalidParameterValueException",
        "execution role does not have permissions",
    )
}

/// Creates the mapping with partial batch responses on. Returns its UUID.
pub async fn create(
    ctx: Context<'_>,
    queue_arn: &str,
    settings: &Settings,
) -> Result<String, AwsError> {
    let output = retry_while(policy_not_ready(), ctx.deadline, || async {
        ctx.clients
            .lambda
            .create_event_source_mapping()
            .function_name(ctx.object_name(Part::Function(Function::PostQueue)))
            .event_source_arn(queue_arn)
            .batch_size(settings.batch_size)
            .maximum_batching_window_in_seconds(settings.batching_window_seconds)
            .scaling_config(settings.scaling())
            .function_response_types(FunctionResponseType::ReportBatchItemFailures)
            .enabled(true)
            .send()
            .await
            .map_err(aws_error("lambda:CreateEventSourceMapping"))
    })
    .await?;
    returned("lambda:CreateEventSourceMapping", output.uuid)
}

/// Applies the settings to the mapping `uuid`.
pub async fn update(ctx: Context<'_>, uuid: &str, settings: &Settings) -> Result<(), AwsError> {
    // A mapping still creating or updating refuses changes with one of these until it settles.
    let busy = has_code(&["ResourceInUseException", "ResourceConflictException"]);
    retry_while(busy, ctx.deadline, || async {
        ctx.clients
            .lambda
            .update_event_source_mapping()
            .uuid(uuid)
            .batch_size(settings.batch_size)
            .maximum_batching_window_in_seconds(settings.batching_window_seconds)
            .scaling_config(settings.scaling())
            .function_response_types(FunctionResponseType::ReportBatchItemFailures)
            .send()
            .await
            .map_err(aws_error("lambda:UpdateEventSourceMapping"))
    })
    .await?;
    Ok(())
}

/// Deletes the mapping; a missing one is already deleted.
pub async fn delete(clients: &Clients, uuid: &str) -> Result<(), AwsError> {
    crate::aws::delete(
        "lambda:DeleteEventSourceMapping",
        clients
            .lambda
            .delete_event_source_mapping()
            .uuid(uuid)
            .send(),
    )
    .await
}

/// A mapping as Lambda reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingFacts {
    /// Its UUID.
    pub uuid: String,
    /// Batch size, window and maximum concurrency.
    pub settings: Settings,
    /// Whether the function may report partial batch failures.
    pub reports_batch_item_failures: bool,
    /// Whether the mapping polls (enabled, or on its way there).
    pub enabled: bool,
}

fn facts_of(m: EventSourceMappingConfiguration) -> MappingFacts {
    MappingFacts {
        uuid: m.uuid.unwrap_or_default(),
        settings: Settings {
            batch_size: m.batch_size.unwrap_or_default(),
            batching_window_seconds: m.maximum_batching_window_in_seconds.unwrap_or_default(),
            max_concurrency: m
                .scaling_config
                .and_then(|s| s.maximum_concurrency)
                .unwrap_or_default(),
        },
        reports_batch_item_failures: m
            .function_response_types
            .unwrap_or_default()
            .contains(&FunctionResponseType::ReportBatchItemFailures),
        enabled: m
            .state
            .is_none_or(|state| matches!(state.as_str(), "Enabled" | "Enabling" | "Updating")),
    }
}

/// The mapping `uuid`, or `None` when it does not exist.
pub async fn find(clients: &Clients, uuid: &str) -> Result<Option<MappingFacts>, AwsError> {
    let found = clients
        .lambda
        .get_event_source_mapping()
        .uuid(uuid)
        .send()
        .await
        .map_err(aws_error("lambda:GetEventSourceMapping"))
        .found()?;
    Ok(found.map(|m| {
        facts_of(
            EventSourceMappingConfiguration::builder()
                .set_uuid(m.uuid)
                .set_batch_size(m.batch_size)
                .set_maximum_batching_window_in_seconds(m.maximum_batching_window_in_seconds)
                .set_scaling_config(m.scaling_config)
                .set_function_response_types(m.function_response_types)
                .set_state(m.state)
                .build(),
        )
    }))
}

/// The mapping from `queue_arn` to `pipeline`'s post-queue function, if any (import, lookup).
pub async fn find_for(
    clients: &Clients,
    pipeline: &str,
    queue_arn: &str,
) -> Result<Option<MappingFacts>, AwsError> {
    let function =
        nami_contract::naming::object_name(pipeline, Part::Function(Function::PostQueue));
    let output = clients
        .lambda
        .list_event_source_mappings()
        .function_name(function)
        .event_source_arn(queue_arn)
        .send()
        .await
        .map_err(aws_error("lambda:ListEventSourceMappings"))
        .found()?;
    Ok(output.and_then(|o| {
        o.event_source_mappings
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(facts_of)
    }))
}

/// Writes what Lambda reports into `state`: the UUID (cleared when gone) and the settings.
pub fn read_back(facts: Option<&MappingFacts>, state: &mut PipelineState) {
    state.event_source_mapping_id = crate::model::value_of(facts.map(|m| m.uuid.clone()));
    if let Some(facts) = facts {
        let post = block(&mut state.post_queue);
        post.batch_size = Value::Value(facts.settings.batch_size.into());
        post.batching_window_seconds = Value::Value(facts.settings.batching_window_seconds.into());
        post.max_concurrency = Value::Value(facts.settings.max_concurrency.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(message: &str) -> AwsError {
        AwsError::Api {
            operation: "lambda:CreateEventSourceMapping",
            code: Some("InvalidParameterValueException".into()),
            message: message.into(),
        }
    }

    #[tokio::test]
    async fn only_the_role_propagation_error_is_retried() {
        let waits = policy_not_ready();
        assert!(waits(&invalid(
            "The provided execution role does not have permissions to call ReceiveMessage on SQS"
        )));
        // A real mistake fails at once, not after the resource's timeout.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut calls = 0;
        let result: Result<(), _> = retry_while(policy_not_ready(), deadline, || {
            calls += 1;
            async { Err(invalid("Invalid batch size: must be between 1 and 10000")) }
        })
        .await;
        assert_eq!(calls, 1);
        assert!(result.unwrap_err().message().contains("Invalid batch size"));
    }
}
