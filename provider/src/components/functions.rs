//! The two Lambda functions and the event source mapping from the queue to the post-queue one.

use std::collections::HashMap;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, FunctionResponseType, LastUpdateStatus, Runtime,
    ScalingConfig, State, VpcConfig,
};
use nami_handlers::config::vars;
use tf_provider::value::Value;

use super::Context;
use crate::artifacts::{Artifact, Function};
use crate::aws::{
    AwsError, Clients, OptionalNotFound, aws_error, has_code, object_tags, retry_while, wait_for,
};
use crate::pipeline::model::SignatureBlock;
use crate::pipeline::spec::{FunctionSettings, MappingSettings, Spec};

/// Statement id of the permission that lets API Gateway invoke the pre-queue function.
pub const API_PERMISSION_ID: &str = "nami-apigateway";

/// The pre-queue function's environment.
pub fn pre_queue_environment(spec: &Spec, queue_url: &str) -> HashMap<String, String> {
    let signature = &spec.signature;
    let mut env = HashMap::from([
        (vars::PIPELINE.to_owned(), spec.name.clone()),
        (vars::QUEUE_URL.to_owned(), queue_url.to_owned()),
        (
            vars::MAX_MESSAGE_BYTES.to_owned(),
            spec.queue.max_message_bytes.to_string(),
        ),
    ]);
    let optional = [
        (vars::SIGNATURE_SCHEME, &signature.scheme),
        (vars::SIGNATURE_SECRET, &signature.secret),
        (vars::SIGNATURE_SECRET_ARN, &signature.secret_arn),
        (vars::DELIVERY_ID, &signature.delivery_id),
        (vars::SIGNATURE_HEADER, &signature.header),
        (vars::SIGNATURE_ALGORITHM, &signature.algorithm),
        (vars::SIGNATURE_ENCODING, &signature.encoding),
        (vars::SIGNATURE_PREFIX, &signature.prefix),
    ];
    for (var, value) in optional {
        if let Some(value) = value.as_ref_option() {
            env.insert(var.to_owned(), value.clone());
        }
    }
    if let Some(tolerance) = signature.tolerance_seconds.as_ref_option() {
        env.insert(
            vars::SIGNATURE_TOLERANCE_SECONDS.to_owned(),
            tolerance.to_string(),
        );
    }
    env
}

/// The `signature` block a pre-queue environment describes (for import).
pub fn signature_from_environment(env: &HashMap<String, String>) -> SignatureBlock {
    let get = |var: &str| {
        env.get(var)
            .cloned()
            .map(Value::Value)
            .unwrap_or(Value::Null)
    };
    SignatureBlock {
        scheme: get(vars::SIGNATURE_SCHEME),
        secret: get(vars::SIGNATURE_SECRET),
        secret_arn: get(vars::SIGNATURE_SECRET_ARN),
        tolerance_seconds: env
            .get(vars::SIGNATURE_TOLERANCE_SECONDS)
            .and_then(|v| v.parse().ok())
            .map(Value::Value)
            .unwrap_or(Value::Null),
        delivery_id: get(vars::DELIVERY_ID),
        header: get(vars::SIGNATURE_HEADER),
        algorithm: get(vars::SIGNATURE_ALGORITHM),
        encoding: get(vars::SIGNATURE_ENCODING),
        prefix: get(vars::SIGNATURE_PREFIX),
    }
}

/// The post-queue function's environment, with the store's resolved connection string.
pub fn post_queue_environment(spec: &Spec, mongodb_uri: &str) -> HashMap<String, String> {
    let mut env = super::store::environment(mongodb_uri, &spec.store, spec.post_queue.timeout);
    env.insert(vars::PIPELINE.to_owned(), spec.name.clone());
    env
}

/// Where the post-queue function runs: subnets and its security group.
#[derive(Debug, Clone)]
pub struct Placement<'a> {
    pub subnet_ids: &'a [String],
    pub security_group_id: &'a str,
}

/// Creates `function`, retrying while its new role is not yet assumable. Returns its ARN.
pub async fn create(
    ctx: Context<'_>,
    function: Function,
    role_arn: &str,
    settings: &FunctionSettings,
    environment: HashMap<String, String>,
    placement: Option<Placement<'_>>,
) -> Result<String, AwsError> {
    let code = settings.artifact.bytes().map_err(|e| AwsError::Api {
        operation: "lambda:CreateFunction",
        code: None,
        message: e.to_string(),
    })?;
    let name = ctx.object_name(function.slug());
    let role_not_ready = |error: &AwsError| {
        error.code() == Some("InvalidParameterValueException")
            && error.message().contains("cannot be assumed")
    };
    let arn = retry_while(role_not_ready, ctx.deadline, || async {
        ctx.clients
            .lambda
            .create_function()
            .function_name(&name)
            .runtime(Runtime::Providedal2023)
            .handler("bootstrap")
            .architectures(Architecture::X8664)
            .role(role_arn)
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(code.clone()))
                    .build(),
            )
            .memory_size(settings.memory_size as i32)
            .timeout(settings.timeout as i32)
            .environment(
                Environment::builder()
                    .set_variables(Some(environment.clone()))
                    .build(),
            )
            .set_vpc_config(placement.as_ref().map(|p| {
                VpcConfig::builder()
                    .set_subnet_ids(Some(p.subnet_ids.to_vec()))
                    .security_group_ids(p.security_group_id)
                    .build()
            }))
            .set_tags(Some(
                object_tags(ctx.clients, ctx.tags, ctx.name)
                    .into_iter()
                    .collect(),
            ))
            .send()
            .await
            .map_err(aws_error("lambda:CreateFunction"))
    })
    .await?
    .function_arn
    .unwrap_or_default();
    wait_until_ready(ctx, &name).await?;
    Ok(arn)
}

/// Replaces the function's code with `artifact`.
pub async fn update_code(
    ctx: Context<'_>,
    function: Function,
    artifact: &Artifact,
) -> Result<(), AwsError> {
    let name = ctx.object_name(function.slug());
    let code = artifact.bytes().map_err(|e| AwsError::Api {
        operation: "lambda:UpdateFunctionCode",
        code: None,
        message: e.to_string(),
    })?;
    retry_while(
        has_code(&["ResourceConflictException"]),
        ctx.deadline,
        || async {
            ctx.clients
                .lambda
                .update_function_code()
                .function_name(&name)
                .zip_file(Blob::new(code.clone()))
                .send()
                .await
                .map_err(aws_error("lambda:UpdateFunctionCode"))
        },
    )
    .await?;
    wait_until_ready(ctx, &name).await
}

/// Applies memory, timeout and environment.
pub async fn update_configuration(
    ctx: Context<'_>,
    function: Function,
    settings: &FunctionSettings,
    environment: HashMap<String, String>,
) -> Result<(), AwsError> {
    let name = ctx.object_name(function.slug());
    retry_while(
        has_code(&["ResourceConflictException"]),
        ctx.deadline,
        || async {
            ctx.clients
                .lambda
                .update_function_configuration()
                .function_name(&name)
                .memory_size(settings.memory_size as i32)
                .timeout(settings.timeout as i32)
                .environment(
                    Environment::builder()
                        .set_variables(Some(environment.clone()))
                        .build(),
                )
                .send()
                .await
                .map_err(aws_error("lambda:UpdateFunctionConfiguration"))
        },
    )
    .await?;
    wait_until_ready(ctx, &name).await
}

/// Lets API Gateway (only this API's POST method) invoke the pre-queue function.
pub async fn allow_api(ctx: Context<'_>, source_arn: &str) -> Result<(), AwsError> {
    ctx.clients
        .lambda
        .add_permission()
        .function_name(ctx.object_name(Function::PreQueue.slug()))
        .statement_id(API_PERMISSION_ID)
        .action("lambda:InvokeFunction")
        .principal("apigateway.amazonaws.com")
        .source_arn(source_arn)
        .send()
        .await
        .map_err(aws_error("lambda:AddPermission"))?;
    Ok(())
}

async fn wait_until_ready(ctx: Context<'_>, name: &str) -> Result<(), AwsError> {
    wait_for(
        &format!("function {name} to be ready"),
        ctx.deadline,
        || async {
            let configuration = ctx
                .clients
                .lambda
                .get_function_configuration()
                .function_name(name)
                .send()
                .await
                .map_err(aws_error("lambda:GetFunctionConfiguration"))?;
            if configuration.state == Some(State::Failed)
                || configuration.last_update_status == Some(LastUpdateStatus::Failed)
            {
                return Err(AwsError::Api {
                    operation: "lambda:GetFunctionConfiguration",
                    code: None,
                    message: format!(
                        "function {name} failed: {}",
                        configuration
                            .state_reason
                            .or(configuration.last_update_status_reason)
                            .unwrap_or_default()
                    ),
                });
            }
            let active = configuration
                .state
                .is_none_or(|state| state == State::Active);
            let updated = configuration
                .last_update_status
                .is_none_or(|status| status == LastUpdateStatus::Successful);
            Ok((active && updated).then_some(()))
        },
    )
    .await
}

/// Sets `tags` on a function (or mapping) ARN and removes the keys in `removed`.
pub async fn retag(
    clients: &Clients,
    arn: &str,
    tags: &std::collections::BTreeMap<String, String>,
    removed: &[String],
) -> Result<(), AwsError> {
    clients
        .lambda
        .tag_resource()
        .resource(arn)
        .set_tags(Some(tags.clone().into_iter().collect()))
        .send()
        .await
        .map_err(aws_error("lambda:TagResource"))?;
    if !removed.is_empty() {
        clients
            .lambda
            .untag_resource()
            .resource(arn)
            .set_tag_keys(Some(removed.to_vec()))
            .send()
            .await
            .map_err(aws_error("lambda:UntagResource"))?;
    }
    Ok(())
}

/// Deletes `function`; a missing one is already deleted.
pub async fn delete(clients: &Clients, pipeline: &str, function: Function) -> Result<(), AwsError> {
    clients
        .lambda
        .delete_function()
        .function_name(super::object_name(pipeline, function.slug()))
        .send()
        .await
        .map_err(aws_error("lambda:DeleteFunction"))
        .found()
        .map(drop)
}

/// A function as AWS reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionFacts {
    pub arn: String,
    pub memory_size: i64,
    pub timeout: i64,
    pub code_sha256: String,
    pub environment: HashMap<String, String>,
    pub security_group_ids: Vec<String>,
    pub subnet_ids: Vec<String>,
}

/// `function`'s configuration, or `None` when it does not exist.
pub async fn find(
    clients: &Clients,
    pipeline: &str,
    function: Function,
) -> Result<Option<FunctionFacts>, AwsError> {
    let Some(configuration) = clients
        .lambda
        .get_function_configuration()
        .function_name(super::object_name(pipeline, function.slug()))
        .send()
        .await
        .map_err(aws_error("lambda:GetFunctionConfiguration"))
        .found()?
    else {
        return Ok(None);
    };
    let (security_group_ids, subnet_ids) = configuration
        .vpc_config
        .map(|vpc| {
            (
                vpc.security_group_ids.unwrap_or_default(),
                vpc.subnet_ids.unwrap_or_default(),
            )
        })
        .unwrap_or_default();
    Ok(Some(FunctionFacts {
        arn: configuration.function_arn.unwrap_or_default(),
        memory_size: configuration.memory_size.unwrap_or_default().into(),
        timeout: configuration.timeout.unwrap_or_default().into(),
        code_sha256: configuration.code_sha256.unwrap_or_default(),
        environment: configuration
            .environment
            .and_then(|e| e.variables)
            .unwrap_or_default(),
        security_group_ids,
        subnet_ids,
    }))
}

// --- The event source mapping (queue → post-queue function).

/// Creates the mapping with partial batch responses on. Returns its UUID.
pub async fn create_mapping(
    ctx: Context<'_>,
    queue_arn: &str,
    settings: &MappingSettings,
) -> Result<String, AwsError> {
    let output = retry_while(
        has_code(&["InvalidParameterValueException"]),
        ctx.deadline,
        || async {
            ctx.clients
                .lambda
                .create_event_source_mapping()
                .function_name(ctx.object_name(Function::PostQueue.slug()))
                .event_source_arn(queue_arn)
                .batch_size(settings.batch_size as i32)
                .maximum_batching_window_in_seconds(settings.batching_window_seconds as i32)
                .scaling_config(
                    ScalingConfig::builder()
                        .maximum_concurrency(settings.max_concurrency as i32)
                        .build(),
                )
                .function_response_types(FunctionResponseType::ReportBatchItemFailures)
                .enabled(true)
                .send()
                .await
                .map_err(aws_error("lambda:CreateEventSourceMapping"))
        },
    )
    .await?;
    Ok(output.uuid.unwrap_or_default())
}

/// Applies batch size, batching window and maximum concurrency.
pub async fn update_mapping(
    ctx: Context<'_>,
    uuid: &str,
    settings: &MappingSettings,
) -> Result<(), AwsError> {
    retry_while(
        has_code(&["ResourceInUseException", "ResourceConflictException"]),
        ctx.deadline,
        || async {
            ctx.clients
                .lambda
                .update_event_source_mapping()
                .uuid(uuid)
                .batch_size(settings.batch_size as i32)
                .maximum_batching_window_in_seconds(settings.batching_window_seconds as i32)
                .scaling_config(
                    ScalingConfig::builder()
                        .maximum_concurrency(settings.max_concurrency as i32)
                        .build(),
                )
                .function_response_types(FunctionResponseType::ReportBatchItemFailures)
                .send()
                .await
                .map_err(aws_error("lambda:UpdateEventSourceMapping"))
        },
    )
    .await?;
    Ok(())
}

/// Deletes the mapping; a missing one is already deleted.
pub async fn delete_mapping(clients: &Clients, uuid: &str) -> Result<(), AwsError> {
    clients
        .lambda
        .delete_event_source_mapping()
        .uuid(uuid)
        .send()
        .await
        .map_err(aws_error("lambda:DeleteEventSourceMapping"))
        .found()
        .map(drop)
}

/// A mapping as AWS reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingFacts {
    pub uuid: String,
    pub settings: MappingSettings,
    pub reports_batch_item_failures: bool,
}

/// The mapping `uuid`, or `None` when it does not exist.
pub async fn find_mapping(clients: &Clients, uuid: &str) -> Result<Option<MappingFacts>, AwsError> {
    Ok(clients
        .lambda
        .get_event_source_mapping()
        .uuid(uuid)
        .send()
        .await
        .map_err(aws_error("lambda:GetEventSourceMapping"))
        .found()?
        .map(|m| MappingFacts {
            uuid: m.uuid.unwrap_or_default(),
            settings: MappingSettings {
                batch_size: m.batch_size.unwrap_or_default().into(),
                batching_window_seconds: m
                    .maximum_batching_window_in_seconds
                    .unwrap_or_default()
                    .into(),
                max_concurrency: m
                    .scaling_config
                    .and_then(|s| s.maximum_concurrency)
                    .unwrap_or_default()
                    .into(),
            },
            reports_batch_item_failures: m
                .function_response_types
                .unwrap_or_default()
                .contains(&FunctionResponseType::ReportBatchItemFailures),
        }))
}

/// The UUID of the mapping from `queue_arn` to the pipeline's post-queue function, if any.
pub async fn find_mapping_for(
    clients: &Clients,
    pipeline: &str,
    queue_arn: &str,
) -> Result<Option<String>, AwsError> {
    let output = clients
        .lambda
        .list_event_source_mappings()
        .function_name(super::object_name(pipeline, Function::PostQueue.slug()))
        .event_source_arn(queue_arn)
        .send()
        .await
        .map_err(aws_error("lambda:ListEventSourceMappings"))
        .found()?;
    Ok(output.and_then(|o| {
        o.event_source_mappings
            .unwrap_or_default()
            .into_iter()
            .find_map(|m| m.uuid)
    }))
}
