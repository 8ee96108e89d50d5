//! The REST API: a `/webhook` resource whose POST method proxies to the pre-queue function,
//! deployed to a stage.

use aws_sdk_apigateway::types::{
    EndpointConfiguration, EndpointType, IntegrationType, Op, PatchOperation, RestApi,
};
use nami_contract::limits::Limit;
use nami_contract::naming::{Part, object_name};
use tf_provider::AttributePath;
use tf_provider::schema::{Attribute, AttributeConstraint, AttributeType};
use tf_provider::value::Value;

use super::Context;
use crate::aws::{AwsError, Clients, OptionalNotFound, TagChange, aws_error, returned};
use crate::check::Checker;
use crate::model::{ApiBlock, PipelineState, block, default, known};
use crate::ownership::{Kind, Tagged};
use crate::schema::{attribute, computed};

/// The stage deployed when none is configured.
pub const DEFAULT_STAGE: &str = "prod";
/// Longest stage name API Gateway takes.
const STAGE_MAX_LEN: usize = 128;
/// Statement id of the permission that lets API Gateway invoke the pre-queue function.
pub const API_PERMISSION_ID: &str = "nami-apigateway";

/// The stage's steady rate, requests per second: far below the account's API Gateway and Lambda
/// limits, so a flood on one pipeline cannot starve the rest of the account.
pub const THROTTLE_RATE: Limit = Limit::new(1, 10_000, 1_000);
/// The stage's burst, requests at once.
pub const THROTTLE_BURST: Limit = Limit::new(1, 5_000, 2_000);
/// API Gateway's key for "every method of every resource" in a stage's method settings.
const ALL_METHODS: &str = "*/*";

/// The `api` block's schema.
pub fn schema() -> tf_provider::schema::Block {
    crate::schema::block(
        "The REST API's stage: how much traffic it lets through. Past the throttle API Gateway \
         answers 429 without invoking the pre-queue function, and webhook senders retry.",
        vec![
            (
                "throttle_rate",
                crate::schema::number("Steady requests per second", THROTTLE_RATE),
            ),
            (
                "throttle_burst",
                crate::schema::number("Requests at once, above the rate", THROTTLE_BURST),
            ),
        ],
    )
}

/// The API's attributes at the resource's top level.
pub fn attributes() -> Vec<(&'static str, Attribute)> {
    vec![
        (
            "stage",
            attribute(
                AttributeType::String,
                AttributeConstraint::OptionalComputed,
                &format!(
                    "API Gateway stage name (letters, digits, `_`). Default `{DEFAULT_STAGE}`."
                ),
            ),
        ),
        ("endpoint_url", computed("URL to POST webhooks to.")),
        ("api_id", computed("ID of the REST API.")),
        (
            "api_resource_id",
            computed("ID of the REST API's `/webhook` resource."),
        ),
    ]
}

/// Fills the stage's and the throttle's defaults.
pub fn fill_defaults(state: &mut PipelineState) {
    default(&mut state.stage, DEFAULT_STAGE.to_owned());
    let api = block(&mut state.api);
    default(&mut api.throttle_rate, THROTTLE_RATE.default);
    default(&mut api.throttle_burst, THROTTLE_BURST.default);
}

/// Checks the stage name.
pub fn validate(state: &PipelineState, check: &mut Checker<'_>) {
    if let Some(stage) = state.stage.as_ref_option() {
        let valid = (1..=STAGE_MAX_LEN).contains(&stage.len())
            && stage.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        check.that(
            valid,
            AttributePath::new("stage"),
            "Invalid stage name",
            format!("{stage:?}: use letters, digits and underscores"),
        );
    }
    if let Some(api) = state.api.as_ref_option() {
        check.limit(
            &api.throttle_rate,
            THROTTLE_RATE,
            crate::check::at("api", "throttle_rate"),
        );
        check.limit(
            &api.throttle_burst,
            THROTTLE_BURST,
            crate::check::at("api", "throttle_burst"),
        );
    }
}

/// API Gateway's throttle on every method of a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Steady requests per second.
    pub rate: i64,
    /// Requests at once.
    pub burst: i64,
}

/// The API's settings: the stage it is deployed to, and its throttle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The stage name.
    pub stage: String,
    /// The stage's throttle.
    pub throttle: Throttle,
}

impl Settings {
    /// The API's settings in a planned state.
    pub fn from_state(state: &PipelineState) -> Result<Self, crate::model::SettingsError> {
        let api = known(&state.api, "api")?;
        Ok(Settings {
            stage: known(&state.stage, "stage")?,
            throttle: Throttle {
                rate: known(&api.throttle_rate, "api.throttle_rate")?,
                burst: known(&api.throttle_burst, "api.throttle_burst")?,
            },
        })
    }
}

/// The path webhooks are posted to, under the stage.
pub const PATH_PART: &str = "webhook";
/// Binary media types: every body is passed to the function base64-encoded.
const ALL_MEDIA_TYPES: &str = "*/*";
/// API Gateway's longest integration timeout for REST APIs (the default).
const INTEGRATION_TIMEOUT_MS: i32 = 29_000;

/// Creates the (empty) REST API. Returns its ID.
pub async fn create_api(ctx: Context<'_>) -> Result<String, AwsError> {
    let output = ctx
        .clients
        .apigateway
        .create_rest_api()
        .name(ctx.object_name(Part::Main))
        .description(format!("Nami webhook pipeline {}", ctx.name))
        // Every body reaches the function base64-encoded and byte-exact, so signatures over
        // binary or non-UTF-8 payloads still verify.
        .binary_media_types(ALL_MEDIA_TYPES)
        .endpoint_configuration(
            EndpointConfiguration::builder()
                .types(EndpointType::Regional)
                .build(),
        )
        .set_tags(Some(ctx.object_tags().into_iter().collect()))
        .send()
        .await
        .map_err(aws_error("apigateway:CreateRestApi"))?;
    let has_all_media_types = output
        .binary_media_types()
        .iter()
        .any(|t| t == ALL_MEDIA_TYPES);
    let api_id = returned("apigateway:CreateRestApi", output.id)?;
    if !has_all_media_types {
        // Some implementations (moto) ignore binaryMediaTypes on create; add it before the
        // first deployment. The value is in the path (AWS) and in `value` (moto reads that).
        ctx.clients
            .apigateway
            .update_rest_api()
            .rest_api_id(&api_id)
            .patch_operations(
                PatchOperation::builder()
                    .op(Op::Add)
                    .path("/binaryMediaTypes/*~1*")
                    .value(ALL_MEDIA_TYPES)
                    .build(),
            )
            .send()
            .await
            .map_err(aws_error("apigateway:UpdateRestApi"))?;
    }
    Ok(api_id)
}

/// Adds the `/webhook` resource with its POST method and AWS_PROXY integration, finishing what an
/// interrupted create left (a resource without its method or integration). Returns the
/// resource's ID.
pub async fn create_route(
    ctx: Context<'_>,
    api_id: &str,
    function_arn: &str,
) -> Result<String, AwsError> {
    let api = &ctx.clients.apigateway;
    let resources = api
        .get_resources()
        .rest_api_id(api_id)
        .send()
        .await
        .map_err(aws_error("apigateway:GetResources"))?
        .items
        .unwrap_or_default();
    let id_of = |path: &str| {
        resources
            .iter()
            .find(|r| r.path.as_deref() == Some(path))
            .and_then(|r| r.id.clone())
    };
    let resource_id = match id_of(&format!("/{PATH_PART}")) {
        Some(id) => id,
        None => {
            let root_id = returned("apigateway:GetResources", id_of("/"))?;
            let created = api
                .create_resource()
                .rest_api_id(api_id)
                .parent_id(root_id)
                .path_part(PATH_PART)
                .send()
                .await
                .map_err(aws_error("apigateway:CreateResource"))?;
            returned("apigateway:CreateResource", created.id)?
        }
    };
    let method = api
        .put_method()
        .rest_api_id(api_id)
        .resource_id(&resource_id)
        .http_method("POST")
        .authorization_type("NONE")
        .send()
        .await
        .map_err(aws_error("apigateway:PutMethod"));
    match method {
        Err(error) if error.code() == Some("ConflictException") => {}
        other => drop(other?),
    }
    let region = &ctx.clients.region;
    api.put_integration()
        .rest_api_id(api_id)
        .resource_id(&resource_id)
        .http_method("POST")
        .r#type(IntegrationType::AwsProxy)
        .integration_http_method("POST")
        .uri(format!("arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function_arn}/invocations"))
        .timeout_in_millis(INTEGRATION_TIMEOUT_MS)
        .send()
        .await
        .map_err(aws_error("apigateway:PutIntegration"))?;
    Ok(resource_id)
}

/// The ARN API Gateway invokes the function as: this API's POST /webhook on `stage` only.
pub fn invoke_source_arn(clients: &Clients, account: &str, api_id: &str, stage: &str) -> String {
    format!(
        "arn:aws:execute-api:{}:{account}:{api_id}/{stage}/POST/{PATH_PART}",
        clients.region
    )
}

/// Lets `source_arn` (see [`invoke_source_arn`]) invoke the pre-queue function `function_arn`.
/// The statement (left by an earlier API or stage of this pipeline, or by an interrupted create)
/// is removed first, so the permission always names this API and stage, once. (AWS refuses a
/// second statement of the same id; moto would keep both.)
pub async fn allow_invoke(
    ctx: Context<'_>,
    source_arn: &str,
    function_arn: &str,
) -> Result<(), AwsError> {
    let lambda = &ctx.clients.lambda;
    let remove = lambda
        .remove_permission()
        .function_name(function_arn)
        .statement_id(API_PERMISSION_ID);
    crate::aws::delete("lambda:RemovePermission", remove.send()).await?;
    lambda
        .add_permission()
        .function_name(function_arn)
        .statement_id(API_PERMISSION_ID)
        .action("lambda:InvokeFunction")
        .principal("apigateway.amazonaws.com")
        .source_arn(source_arn)
        .send()
        .await
        .map_err(aws_error("lambda:AddPermission"))?;
    Ok(())
}

/// Deploys the API to `stage`.
pub async fn deploy(ctx: Context<'_>, api_id: &str, stage: &str) -> Result<(), AwsError> {
    ctx.clients
        .apigateway
        .create_deployment()
        .rest_api_id(api_id)
        .stage_name(stage)
        .description("Nami")
        .send()
        .await
        .map_err(aws_error("apigateway:CreateDeployment"))?;
    Ok(())
}

/// Moves the deployment from stage `old` to stage `new`, and the invoke permission with it.
pub async fn rename_stage(
    ctx: Context<'_>,
    api_id: &str,
    old: &str,
    new: &str,
    invoke: Invoke<'_>,
) -> Result<(), AwsError> {
    deploy(ctx, api_id, new).await?;
    let source = invoke_source_arn(ctx.clients, invoke.account, api_id, new);
    allow_invoke(ctx, &source, invoke.function_arn).await?;
    ctx.clients
        .apigateway
        .delete_stage()
        .rest_api_id(api_id)
        .stage_name(old)
        .send()
        .await
        .map_err(aws_error("apigateway:DeleteStage"))
        .found()?;
    Ok(())
}

/// The function a stage's route invokes, and the account it is in.
#[derive(Debug, Clone, Copy)]
pub struct Invoke<'a> {
    /// The account of the API and the function.
    pub account: &'a str,
    /// The pre-queue function.
    pub function_arn: &'a str,
}

/// The `api` block as a stage's throttle says (null settings when it has none).
pub fn block_of(throttle: Option<&Throttle>) -> ApiBlock {
    ApiBlock {
        throttle_rate: crate::model::value_of(throttle.map(|t| t.rate)),
        throttle_burst: crate::model::value_of(throttle.map(|t| t.burst)),
    }
}

/// The URL webhooks are posted to.
pub fn endpoint_url(clients: &Clients, api_id: &str, stage: &str) -> String {
    format!(
        "https://{api_id}.execute-api.{}.amazonaws.com/{stage}/{PATH_PART}",
        clients.region
    )
}

/// Applies a tag change to the REST API.
pub async fn retag(clients: &Clients, api_id: &str, change: &TagChange) -> Result<(), AwsError> {
    let arn = format!("arn:aws:apigateway:{}::/restapis/{api_id}", clients.region);
    let tagged = clients
        .apigateway
        .tag_resource()
        .resource_arn(&arn)
        .set_tags(Some(change.tags.clone().into_iter().collect()))
        .send()
        .await;
    if let Err(aws_sdk_apigateway::error::SdkError::ServiceError(error)) = &tagged {
        // An endpoint without the route (moto: REST API ARNs contain '/') answers a bare 404 with
        // no AWS error code, which AWS itself never does: tagging is unavailable there, not failed.
        if error.raw().status().as_u16() == 404 && error.err().meta().code().is_none() {
            tracing::warn!(
                api_id,
                "the API Gateway endpoint does not support tagging REST APIs; tags not updated"
            );
            return Ok(());
        }
    }
    tagged.map_err(aws_error("apigateway:TagResource"))?;
    if change.removed.is_empty() {
        return Ok(());
    }
    clients
        .apigateway
        .untag_resource()
        .resource_arn(&arn)
        .set_tag_keys(Some(change.removed.clone()))
        .send()
        .await
        .map_err(aws_error("apigateway:UntagResource"))?;
    Ok(())
}

/// Deletes the REST API (with its resources, methods and stages); a missing one is already deleted.
pub async fn delete(clients: &Clients, api_id: &str) -> Result<(), AwsError> {
    crate::aws::delete(
        "apigateway:DeleteRestApi",
        clients
            .apigateway
            .delete_rest_api()
            .rest_api_id(api_id)
            .send(),
    )
    .await
}

/// The API as AWS reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFacts {
    /// The REST API's id.
    pub api_id: String,
    /// The `/webhook` resource, when it exists.
    pub resource_id: Option<String>,
    /// Every deployed stage.
    pub stages: Vec<String>,
    /// The throttle of each stage that has one on every method.
    pub throttles: std::collections::HashMap<String, Throttle>,
}

/// The REST API `api_id`, or `None` when it does not exist.
pub async fn find(clients: &Clients, api_id: &str) -> Result<Option<ApiFacts>, AwsError> {
    let api = &clients.apigateway;
    let Some(resources) = api
        .get_resources()
        .rest_api_id(api_id)
        .send()
        .await
        .map_err(aws_error("apigateway:GetResources"))
        .found()?
    else {
        return Ok(None);
    };
    let resource_id = resources
        .items
        .unwrap_or_default()
        .into_iter()
        .find(|r| r.path_part.as_deref() == Some(PATH_PART))
        .and_then(|r| r.id);
    let items = api
        .get_stages()
        .rest_api_id(api_id)
        .send()
        .await
        .map_err(aws_error("apigateway:GetStages"))?
        .item
        .unwrap_or_default();
    let throttles = items
        .iter()
        .filter_map(|stage| {
            let throttle = throttle_of(stage.method_settings.as_ref())?;
            Some((stage.stage_name.clone()?, throttle))
        })
        .collect();
    Ok(Some(ApiFacts {
        api_id: api_id.to_owned(),
        resource_id,
        stages: items.into_iter().filter_map(|s| s.stage_name).collect(),
        throttles,
    }))
}

/// A stage's throttle on every method (`*/*`, in its method settings), when it has one.
fn throttle_of(
    method_settings: Option<
        &std::collections::HashMap<String, aws_sdk_apigateway::types::MethodSetting>,
    >,
) -> Option<Throttle> {
    let all = method_settings?.get(ALL_METHODS)?;
    #[allow(clippy::cast_possible_truncation)]
    Some(Throttle {
        rate: all.throttling_rate_limit.round() as i64,
        burst: i64::from(all.throttling_burst_limit),
    })
}

/// Sets the throttle of every method of `stage`, unless it is set so already.
pub async fn throttle(
    ctx: Context<'_>,
    api_id: &str,
    stage: &str,
    wanted: Throttle,
) -> Result<(), AwsError> {
    let api = &ctx.clients.apigateway;
    let current = api
        .get_stage()
        .rest_api_id(api_id)
        .stage_name(stage)
        .send()
        .await
        .map_err(aws_error("apigateway:GetStage"))?;
    if throttle_of(current.method_settings.as_ref()) == Some(wanted) {
        return Ok(());
    }
    let set = |path: &str, value: i64| {
        PatchOperation::builder()
            .op(Op::Replace)
            .path(format!("/{ALL_METHODS}/throttling/{path}"))
            .value(value.to_string())
            .build()
    };
    api.update_stage()
        .rest_api_id(api_id)
        .stage_name(stage)
        .patch_operations(set("rateLimit", wanted.rate))
        .patch_operations(set("burstLimit", wanted.burst))
        .send()
        .await
        .map_err(aws_error("apigateway:UpdateStage"))?;
    Ok(())
}

/// Every REST API named `nami-<pipeline>`, with its tags (see [`crate::ownership`]).
pub async fn inventory(clients: &Clients, pipeline: &str) -> Result<Vec<Tagged>, AwsError> {
    let name = object_name(pipeline, Part::Main);
    Ok(list(clients)
        .await?
        .into_iter()
        .filter(|api| api.name.as_deref() == Some(name.as_str()))
        .filter_map(|api| {
            Some(Tagged::new(
                Kind::Api,
                api.id?,
                api.tags.unwrap_or_default(),
            ))
        })
        .collect())
}

/// Every REST API of the account and region.
async fn list(clients: &Clients) -> Result<Vec<RestApi>, AwsError> {
    let mut apis = Vec::new();
    let mut position = None;
    loop {
        let page = clients
            .apigateway
            .get_rest_apis()
            .limit(500)
            .set_position(position)
            .send()
            .await
            .map_err(aws_error("apigateway:GetRestApis"))?;
        apis.extend(page.items.unwrap_or_default());
        position = page.position.filter(|p| !p.is_empty());
        if position.is_none() {
            return Ok(apis);
        }
    }
}

/// The REST API named `nami-<pipeline>` as the list of APIs shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedApi {
    /// Its id.
    pub api_id: String,
    /// Media types passed to the function base64-encoded (`*/*` from the provider).
    pub binary_media_types: Vec<String>,
}

/// The REST API named `nami-<pipeline>`, if any.
pub async fn find_by_name(clients: &Clients, pipeline: &str) -> Result<Option<NamedApi>, AwsError> {
    let name = object_name(pipeline, Part::Main);
    Ok(list(clients)
        .await?
        .into_iter()
        .find(|a| a.name.as_deref() == Some(name.as_str()))
        .and_then(|a| {
            Some(NamedApi {
                api_id: a.id?,
                binary_media_types: a.binary_media_types.unwrap_or_default(),
            })
        }))
}

/// Writes what API Gateway reports into `state`: ids cleared when gone, and the endpoint cleared
/// when the stage is not deployed (so the plan shows it re-deployed).
pub fn read_back(facts: Option<&ApiFacts>, state: &mut PipelineState) {
    match facts {
        Some(facts) => {
            if facts.resource_id.is_none() {
                state.api_resource_id = Value::Null;
            }
            let deployed = facts
                .stages
                .iter()
                .any(|s| Some(s) == state.stage.as_ref_option());
            if !deployed {
                state.endpoint_url = Value::Null;
            }
            let throttle = (state.stage.as_ref_option()).and_then(|s| facts.throttles.get(s));
            state.api = Value::Value(block_of(throttle));
        }
        None => {
            state.api_id = Value::Null;
            state.api_resource_id = Value::Null;
            state.endpoint_url = Value::Null;
        }
    }
}
