//! The two Lambda functions: settings, schema and defaults of their blocks, create, update of
//! code and configuration, read-back and delete. Their environments are in [`environment`]; the
//! pre-queue function's `signature` block in [`signature`].

pub mod environment;
pub mod signature;

use std::collections::HashMap;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, LastUpdateStatus, Runtime, State, VpcConfig,
};
use nami_contract::limits::Limit;
use nami_contract::naming::{Function, Part, object_name};
use tf_provider::schema::{Attribute, AttributeConstraint, AttributeType};
use tf_provider::value::Value;
use tf_provider::{AttributePath, Diagnostics};

use super::Context;
use crate::artifacts::Artifact;
use crate::aws::{
    AwsError, Clients, OptionalNotFound, TagChange, aws_error, has_code, has_code_and_message,
    retry_while, returned, wait_for,
};
use crate::check::{Checker, at};
use crate::model::{PipelineState, SettingsError, Str, block, default, known_i32};
use crate::ownership::{Kind, Tagged};
use crate::schema::{attribute, number};

/// Memory of the pre-queue function, in MB.
pub const PRE_QUEUE_MEMORY: Limit = Limit::new(128, 10_240, 128);
/// Timeout of the pre-queue function, in seconds (API Gateway waits 29 s at most).
pub const PRE_QUEUE_TIMEOUT: Limit = Limit::new(1, 29, 10);
/// Concurrent executions reserved for the pre-queue function, when set. Unset means unreserved:
/// the `default` here is never applied.
pub const PRE_QUEUE_RESERVED_CONCURRENCY: Limit = Limit::new(1, 10_000, 1);
/// Memory of the post-queue function, in MB.
pub const POST_QUEUE_MEMORY: Limit = Limit::new(128, 10_240, 256);
/// Timeout of the post-queue function, in seconds (Lambda's longest).
pub const POST_QUEUE_TIMEOUT: Limit = Limit::new(1, 900, 30);

/// The block that configures `function`.
pub fn block_name(function: Function) -> &'static str {
    match function {
        Function::PreQueue => "pre_queue",
        Function::PostQueue => "post_queue",
    }
}

fn limits(function: Function) -> (Limit, Limit) {
    match function {
        Function::PreQueue => (PRE_QUEUE_MEMORY, PRE_QUEUE_TIMEOUT),
        Function::PostQueue => (POST_QUEUE_MEMORY, POST_QUEUE_TIMEOUT),
    }
}

/// The function's attributes in its block.
pub fn attributes(function: Function) -> Vec<(&'static str, Attribute)> {
    let (memory, timeout) = limits(function);
    let mut attributes = vec![
        ("memory_size", number("Memory in MB", memory)),
        ("timeout", number("Timeout in seconds", timeout)),
        (
            "artifact",
            attribute(
                AttributeType::String,
                AttributeConstraint::Optional,
                "Path to a `bootstrap.zip` with custom handler logic. Default: the artifact installed with the provider.",
            ),
        ),
        (
            "source_code_hash",
            attribute(
                AttributeType::String,
                AttributeConstraint::Computed,
                "Base64 SHA-256 of the deployed artifact; a changed zip updates the function in place.",
            ),
        ),
    ];
    if function == Function::PreQueue {
        let range = PRE_QUEUE_RESERVED_CONCURRENCY;
        attributes.push((
            "reserved_concurrency",
            attribute(
                AttributeType::Number,
                AttributeConstraint::Optional,
                &format!(
                    "Concurrent executions reserved for the pre-queue function, {}–{}: also its ceiling, so \
                     a flood of webhooks cannot take the account's whole Lambda concurrency (API Gateway \
                     answers 429 past it, and senders retry). Unset: unreserved.",
                    range.min, range.max
                ),
            ),
        ));
    }
    attributes
}

/// The function's block as plain fields: memory, timeout, artifact, hash.
struct Fields<'a> {
    memory_size: &'a mut Value<i64>,
    timeout: &'a mut Value<i64>,
    artifact: &'a mut Str,
    source_code_hash: &'a mut Str,
}

fn fields(state: &mut PipelineState, function: Function) -> Fields<'_> {
    match function {
        Function::PreQueue => {
            let b = block(&mut state.pre_queue);
            Fields {
                memory_size: &mut b.memory_size,
                timeout: &mut b.timeout,
                artifact: &mut b.artifact,
                source_code_hash: &mut b.source_code_hash,
            }
        }
        Function::PostQueue => {
            let b = block(&mut state.post_queue);
            Fields {
                memory_size: &mut b.memory_size,
                timeout: &mut b.timeout,
                artifact: &mut b.artifact,
                source_code_hash: &mut b.source_code_hash,
            }
        }
    }
}

fn read_fields(
    state: &PipelineState,
    function: Function,
) -> Option<(&Value<i64>, &Value<i64>, &Str)> {
    match function {
        Function::PreQueue => state
            .pre_queue
            .as_ref_option()
            .map(|b| (&b.memory_size, &b.timeout, &b.artifact)),
        Function::PostQueue => state
            .post_queue
            .as_ref_option()
            .map(|b| (&b.memory_size, &b.timeout, &b.artifact)),
    }
}

/// Fills both functions' defaults.
pub fn fill_defaults(state: &mut PipelineState) {
    for function in Function::ALL {
        let (memory, timeout) = limits(function);
        let fields = fields(state, function);
        default(fields.memory_size, memory.default);
        default(fields.timeout, timeout.default);
    }
}

/// Checks both functions' settings.
pub fn validate(state: &PipelineState, check: &mut Checker<'_>) {
    for function in Function::ALL {
        let (memory, timeout) = limits(function);
        if let Some((memory_size, timeout_value, _)) = read_fields(state, function) {
            check.limit(memory_size, memory, at(block_name(function), "memory_size"));
            check.limit(timeout_value, timeout, at(block_name(function), "timeout"));
        }
    }
    if let Some(pre) = state.pre_queue.as_ref_option() {
        check.limit(
            &pre.reserved_concurrency,
            PRE_QUEUE_RESERVED_CONCURRENCY,
            at("pre_queue", "reserved_concurrency"),
        );
    }
}

/// Sets both functions' planned `source_code_hash`: known at plan time from the artifact file.
/// An unusable artifact is reported at its attribute.
pub fn plan_code_hashes(state: &mut PipelineState, diags: &mut Diagnostics) {
    for function in Function::ALL {
        let fields = fields(state, function);
        *fields.source_code_hash = if fields.artifact.is_unknown() {
            Value::Unknown
        } else {
            match Artifact::locate(
                function,
                fields.artifact.as_ref_option().map(String::as_str),
            ) {
                Ok(found) => Value::Value(found.sha256),
                Err(error) => {
                    diags.error(
                        "Artifact not usable",
                        error.to_string(),
                        AttributePath::new(block_name(function)).attribute("artifact"),
                    );
                    Value::Unknown
                }
            }
        };
    }
}

/// One function's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Memory in MB.
    pub memory_size: i32,
    /// Timeout in seconds.
    pub timeout: i32,
    /// The code.
    pub artifact: Artifact,
    /// Reserved concurrent executions (the pre-queue function's, when set).
    pub reserved_concurrency: Option<i32>,
}

impl Settings {
    /// `function`'s settings in a planned state.
    pub fn from_state(state: &PipelineState, function: Function) -> Result<Self, SettingsError> {
        let (memory_size, timeout, artifact) =
            read_fields(state, function).ok_or(SettingsError::NotSet(block_name(function)))?;
        let (memory_what, timeout_what) = match function {
            Function::PreQueue => ("pre_queue.memory_size", "pre_queue.timeout"),
            Function::PostQueue => ("post_queue.memory_size", "post_queue.timeout"),
        };
        Ok(Settings {
            memory_size: known_i32(memory_size, memory_what)?,
            timeout: known_i32(timeout, timeout_what)?,
            artifact: Artifact::locate(function, artifact.as_ref_option().map(String::as_str))?,
            reserved_concurrency: match function {
                Function::PreQueue => state
                    .pre_queue
                    .as_ref_option()
                    .and_then(|pre| pre.reserved_concurrency.as_ref_option().copied())
                    .map(|count| i32::try_from(count).unwrap_or(i32::MAX)),
                Function::PostQueue => None,
            },
        })
    }

    /// Whether the live function differs from these settings and `environment`: its code, or
    /// its configuration.
    pub fn drifted(&self, facts: &FunctionFacts, environment: &HashMap<String, String>) -> Drift {
        Drift {
            code: facts.code_sha256 != self.artifact.sha256,
            configuration: facts.memory_size != self.memory_size
                || facts.timeout != self.timeout
                || &facts.environment != environment,
            concurrency: facts.reserved_concurrency != self.reserved_concurrency,
        }
    }
}

/// What differs between a live function and its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drift {
    /// The deployed code.
    pub code: bool,
    /// Memory, timeout or environment.
    pub configuration: bool,
    /// Reserved concurrency.
    pub concurrency: bool,
}

/// Where the post-queue function runs: subnets and its security group.
#[derive(Debug, Clone)]
pub struct Placement<'a> {
    /// Subnets of its network interfaces.
    pub subnet_ids: &'a [String],
    /// Its security group.
    pub security_group_id: &'a str,
}

/// Creates `function`, retrying while its new role is not yet assumable. Returns its ARN.
pub async fn create(
    ctx: Context<'_>,
    function: Function,
    role_arn: &str,
    settings: &Settings,
    environment: HashMap<String, String>,
    placement: Option<Placement<'_>>,
) -> Result<String, AwsError> {
    let code = settings.artifact.bytes()?;
    let name = ctx.object_name(Part::Function(function));
    // IAM is eventually consistent: a role created seconds ago may not be assumable by Lambda
    // yet, nor its policy's network-interface actions visible to it (a VPC function), which
    // CreateFunction reports with these messages. Nothing else is retried.
    let not_assumable = has_code_and_message("InvalidParameterValueException", "cannot be assumed");
    let no_eni_permission =
        has_code_and_message("InvalidParameterValueException", "CreateNetworkInterface");
    let role_not_ready = |error: &AwsError| not_assumable(error) || no_eni_permission(error);
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
            .memory_size(settings.memory_size)
            .timeout(settings.timeout)
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
            .set_tags(Some(ctx.object_tags().into_iter().collect()))
            .send()
            .await
            .map_err(aws_error("lambda:CreateFunction"))
    })
    .await?
    .function_arn;
    let arn = returned("lambda:CreateFunction", arn)?;
    wait_until_ready(ctx, &name).await?;
    reserve_concurrency(ctx.clients, &arn, settings.reserved_concurrency).await?;
    Ok(arn)
}

/// Reserves `count` concurrent executions for the function, or removes its reservation.
async fn reserve_concurrency(
    clients: &Clients,
    arn: &str,
    count: Option<i32>,
) -> Result<(), AwsError> {
    match count {
        Some(count) => {
            clients
                .lambda
                .put_function_concurrency()
                .function_name(arn)
                .reserved_concurrent_executions(count)
                .send()
                .await
                .map_err(aws_error("lambda:PutFunctionConcurrency"))?;
            Ok(())
        }
        None => {
            crate::aws::delete(
                "lambda:DeleteFunctionConcurrency",
                clients
                    .lambda
                    .delete_function_concurrency()
                    .function_name(arn)
                    .send(),
            )
            .await
        }
    }
}

/// Brings an existing function (by its ARN) to `settings` and `environment`, changing only what
/// differs.
pub async fn converge(
    ctx: Context<'_>,
    facts: &FunctionFacts,
    settings: &Settings,
    environment: HashMap<String, String>,
) -> Result<(), AwsError> {
    let drift = settings.drifted(facts, &environment);
    let name = &facts.arn;
    // A function accepts one update at a time: while the previous one is in progress, Lambda
    // answers ResourceConflictException.
    let busy = has_code(&["ResourceConflictException"]);
    if drift.code {
        let code = settings.artifact.bytes()?;
        retry_while(&busy, ctx.deadline, || async {
            ctx.clients
                .lambda
                .update_function_code()
                .function_name(name)
                .zip_file(Blob::new(code.clone()))
                .send()
                .await
                .map_err(aws_error("lambda:UpdateFunctionCode"))
        })
        .await?;
        wait_until_ready(ctx, name).await?;
    }
    if drift.configuration {
        retry_while(&busy, ctx.deadline, || async {
            ctx.clients
                .lambda
                .update_function_configuration()
                .function_name(name)
                .memory_size(settings.memory_size)
                .timeout(settings.timeout)
                .environment(
                    Environment::builder()
                        .set_variables(Some(environment.clone()))
                        .build(),
                )
                .send()
                .await
                .map_err(aws_error("lambda:UpdateFunctionConfiguration"))
        })
        .await?;
        wait_until_ready(ctx, name).await?;
    }
    if drift.concurrency {
        reserve_concurrency(ctx.clients, name, settings.reserved_concurrency).await?;
    }
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

/// Applies a tag change to a function (or anything else Lambda tags by ARN).
pub async fn retag(clients: &Clients, arn: &str, change: &TagChange) -> Result<(), AwsError> {
    change
        .apply(
            async |tags| {
                clients
                    .lambda
                    .tag_resource()
                    .resource(arn)
                    .set_tags(Some(tags.clone().into_iter().collect()))
                    .send()
                    .await
                    .map_err(aws_error("lambda:TagResource"))
            },
            async |removed| {
                clients
                    .lambda
                    .untag_resource()
                    .resource(arn)
                    .set_tag_keys(Some(removed.to_vec()))
                    .send()
                    .await
                    .map_err(aws_error("lambda:UntagResource"))
            },
        )
        .await
}

/// Deletes the function `arn`; a missing one is already deleted.
pub async fn delete(clients: &Clients, arn: &str) -> Result<(), AwsError> {
    crate::aws::delete(
        "lambda:DeleteFunction",
        clients.lambda.delete_function().function_name(arn).send(),
    )
    .await
}

/// Both functions answering to `pipeline`'s names, with their tags (see [`crate::ownership`]).
pub async fn inventory(clients: &Clients, pipeline: &str) -> Result<Vec<Tagged>, AwsError> {
    let named = async |function| -> Result<Option<Tagged>, AwsError> {
        let found = clients
            .lambda
            .get_function()
            .function_name(object_name(pipeline, Part::Function(function)))
            .send()
            .await
            .map_err(aws_error("lambda:GetFunction"))
            .found()?;
        Ok(found.and_then(|output| {
            let arn = output.configuration?.function_arn?;
            let tags = output.tags.unwrap_or_default();
            Some(Tagged::new(Kind::Function(function), arn, tags))
        }))
    };
    let (pre, post) = tokio::try_join!(named(Function::PreQueue), named(Function::PostQueue))?;
    Ok(pre.into_iter().chain(post).collect())
}

/// A function as Lambda reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionFacts {
    /// Its ARN.
    pub arn: String,
    /// Its execution role's ARN.
    pub role_arn: String,
    /// Memory in MB.
    pub memory_size: i32,
    /// Timeout in seconds.
    pub timeout: i32,
    /// Base64 SHA-256 of the deployed package.
    pub code_sha256: String,
    /// Its environment.
    pub environment: HashMap<String, String>,
    /// Security groups of its VPC configuration.
    pub security_group_ids: Vec<String>,
    /// Subnets of its VPC configuration.
    pub subnet_ids: Vec<String>,
    /// Its reserved concurrent executions, if any.
    pub reserved_concurrency: Option<i32>,
}

/// The configuration of the function `name` (a name or an ARN), or `None` when it does not exist.
pub async fn find(clients: &Clients, name: &str) -> Result<Option<FunctionFacts>, AwsError> {
    let Some(function) = clients
        .lambda
        .get_function()
        .function_name(name)
        .send()
        .await
        .map_err(aws_error("lambda:GetFunction"))
        .found()?
    else {
        return Ok(None);
    };
    let reserved_concurrency = function
        .concurrency
        .and_then(|c| c.reserved_concurrent_executions);
    let Some(configuration) = function.configuration else {
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
        role_arn: configuration.role.unwrap_or_default(),
        memory_size: configuration.memory_size.unwrap_or_default(),
        timeout: configuration.timeout.unwrap_or_default(),
        code_sha256: configuration.code_sha256.unwrap_or_default(),
        environment: configuration
            .environment
            .and_then(|e| e.variables)
            .unwrap_or_default(),
        security_group_ids,
        subnet_ids,
        reserved_concurrency,
    }))
}

/// Writes what Lambda reports into `state`: the function's ARN (cleared when gone) and its block's
/// memory, timeout and code hash. A function deleted out of band is re-created under the same
/// name (same ARN): the route stays valid; the invoke permission is added again with it.
pub fn read_back(function: Function, facts: Option<&FunctionFacts>, state: &mut PipelineState) {
    let arn = crate::model::value_of(facts.map(|f| f.arn.clone()));
    match function {
        Function::PreQueue => state.pre_queue_function_arn = arn,
        Function::PostQueue => state.post_queue_function_arn = arn,
    }
    if let Some(facts) = facts {
        let fields = fields(state, function);
        *fields.memory_size = Value::Value(facts.memory_size.into());
        *fields.timeout = Value::Value(facts.timeout.into());
        *fields.source_code_hash = Value::Value(facts.code_sha256.clone());
        if function == Function::PreQueue {
            block(&mut state.pre_queue).reserved_concurrency =
                crate::model::value_of(facts.reserved_concurrency.map(i64::from));
        }
    }
}
