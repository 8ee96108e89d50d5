//! The `nami_webhook_pipeline` resource: plan, create, read, update, delete and import of the
//! whole chain, orchestrating the components in `crate::components`.
//!
//! Create and repair share one path, [`ensure`]: it creates every object whose id the state lacks,
//! independent ones concurrently, recording each id as soon as it exists — so a create that fails
//! midway returns the partial state and `destroy` removes what was made. [`converge`] then brings
//! existing objects to the planned settings. Teardown runs in reverse dependency order.

pub mod model;
pub mod spec;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use tf_provider::schema::Schema;
use tf_provider::value::{Value, ValueEmpty};
use tf_provider::{AttributePath, Diagnostics, Resource};
use tokio::time::Instant;

use crate::artifacts::{Artifact, Function};
use crate::aws::{AwsError, Clients};
use crate::components::store;
use crate::components::{self, Context, api, functions, iam, network, queue};
use model::*;
use spec::{NetworkPlan, Spec, StoreKind, Timeouts};

/// The resource, sharing the clients `configure` builds.
#[derive(Debug, Clone)]
pub struct PipelineResource {
    clients: Arc<OnceLock<Clients>>,
}

impl PipelineResource {
    /// The resource, reading clients from `clients` once the provider is configured.
    pub fn new(clients: Arc<OnceLock<Clients>>) -> Self {
        PipelineResource { clients }
    }

    fn clients(&self, diags: &mut Diagnostics) -> Option<&Clients> {
        crate::aws::configured(&self.clients, diags)
    }
}

/// The ids of the AWS objects the pipeline owns (subnet ids aside).
fn object_ids(state: &mut PipelineState) -> [&mut Str; 18] {
    [
        &mut state.api_id,
        &mut state.api_resource_id,
        &mut state.queue_url,
        &mut state.queue_arn,
        &mut state.dlq_url,
        &mut state.dlq_arn,
        &mut state.pre_queue_role_arn,
        &mut state.post_queue_role_arn,
        &mut state.pre_queue_function_arn,
        &mut state.post_queue_function_arn,
        &mut state.event_source_mapping_id,
        &mut state.security_group_id,
        &mut state.vpc_id,
        &mut state.internet_gateway_id,
        &mut state.route_table_id,
        &mut state.store_security_group_id,
        &mut state.instance_id,
        &mut state.data_volume_id,
    ]
}

/// Clears the ids this configuration does not use (no VPC, no managed network or store).
fn clear_unused(state: &mut PipelineState) {
    let managed_store = state
        .store
        .as_ref_option()
        .is_some_and(StoreBlock::is_managed);
    let existing_network = state
        .network
        .as_ref_option()
        .is_some_and(|n| n.vpc_id.is_value());
    if !(managed_store || existing_network) {
        state.security_group_id = Value::Null;
        state.vpc_id = Value::Null;
        state.subnet_ids = Value::Null;
    }
    if !managed_store || existing_network {
        state.internet_gateway_id = Value::Null;
        state.route_table_id = Value::Null;
    }
    if existing_network {
        let network = state.network.as_ref_option().cloned().unwrap_or_default();
        state.vpc_id = network.vpc_id;
        state.subnet_ids = network.subnet_ids;
    }
    if !managed_store {
        state.store_security_group_id = Value::Null;
        state.instance_id = Value::Null;
        state.data_volume_id = Value::Null;
        block_of(&mut state.store).password = Value::Null;
    }
}

fn record_managed_network(state: &mut PipelineState, network: &network::ManagedNetwork) {
    let id = |text: &str| {
        if text.is_empty() {
            Value::Null
        } else {
            Value::Value(text.to_owned())
        }
    };
    state.vpc_id = id(&network.vpc_id);
    state.internet_gateway_id = id(&network.internet_gateway_id);
    state.route_table_id = id(&network.route_table_id);
    state.subnet_ids = if network.subnet_ids.is_empty() {
        Value::Null
    } else {
        Value::Value(
            network
                .subnet_ids
                .iter()
                .cloned()
                .map(Value::Value)
                .collect(),
        )
    };
}

/// Sets every object id whose value is `from` to `to`.
fn replace_ids(state: &mut PipelineState, from: fn(&Str) -> bool, to: fn() -> Str) {
    for field in object_ids(state) {
        if from(field) {
            *field = to();
        }
    }
}

fn block_of<T: Default>(value: &mut Value<T>) -> &mut T {
    spec::block(value)
}

/// Plans a pipeline created from nothing: every id unknown, then the unused ones cleared.
fn plan_all_new(clients: &Clients, state: &mut PipelineState, diags: &mut Diagnostics) {
    replace_ids(state, |_| true, || Value::Unknown);
    state.subnet_ids = Value::Unknown;
    state.id = Value::Unknown;
    state.endpoint_url = Value::Unknown;
    plan_settings(clients, state, diags);
    block_of(&mut state.store).password = Value::Unknown;
    clear_unused(state);
}

/// Fills defaults, `tags_all` and the artifacts' hashes of a plan; reports invalid values.
fn plan_settings(clients: &Clients, state: &mut PipelineState, diags: &mut Diagnostics) {
    spec::fill_defaults(state);
    spec::validate(state, diags);
    let mut tags_all = clients.default_tags.clone();
    tags_all.extend(spec::string_map(&state.tags));
    state.tags_all = if state.tags.is_unknown() {
        Value::Unknown
    } else {
        spec::to_str_map(&tags_all)
    };
    let pre = block_of(&mut state.pre_queue);
    pre.source_code_hash = planned_hash(Function::PreQueue, &pre.artifact, "pre_queue", diags);
    let post = block_of(&mut state.post_queue);
    post.source_code_hash = planned_hash(Function::PostQueue, &post.artifact, "post_queue", diags);
}

/// The hash the function's code will have: known at plan time from the artifact file.
fn planned_hash(
    function: Function,
    artifact: &Str,
    block: &'static str,
    diags: &mut Diagnostics,
) -> Str {
    if artifact.is_unknown() {
        return Value::Unknown;
    }
    match Artifact::locate(function, artifact.as_ref_option().map(String::as_str)) {
        Ok(found) => Value::Value(found.sha256),
        Err(error) => {
            diags.error(
                "Artifact not usable",
                error.to_string(),
                AttributePath::new(block).attribute("artifact"),
            );
            Value::Unknown
        }
    }
}

#[async_trait]
impl Resource for PipelineResource {
    type State<'a> = PipelineState;
    type PrivateState<'a> = ValueEmpty;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(model::schema())
    }

    async fn validate<'a>(&self, diags: &mut Diagnostics, config: Self::State<'a>) -> Option<()> {
        spec::validate(&config, diags);
        Some(())
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        state: Self::State<'a>,
        private_state: Self::PrivateState<'a>,
        _provider_meta_state: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let clients = self.clients(diags)?;
        match refresh(clients, state.clone()).await {
            Ok(Some(state)) => Some((state, private_state)),
            Ok(None) => None,
            Err(error) => {
                diags.root_error("Reading the pipeline failed", error.to_string());
                Some((state, private_state))
            }
        }
    }

    async fn plan_create<'a>(
        &self,
        diags: &mut Diagnostics,
        proposed_state: Self::State<'a>,
        _config_state: Self::State<'a>,
        _provider_meta_state: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let clients = self.clients(diags)?;
        let mut state = proposed_state;
        plan_all_new(clients, &mut state, diags);
        Some((state, ValueEmpty::default()))
    }

    async fn plan_update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior_state: Self::State<'a>,
        proposed_state: Self::State<'a>,
        config_state: Self::State<'a>,
        prior_private_state: Self::PrivateState<'a>,
        _provider_meta_state: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>, Vec<AttributePath>)> {
        let clients = self.clients(diags)?;
        let mut state = proposed_state;
        plan_settings(clients, &mut state, diags);

        let mut replace = Vec::new();
        if state.name != prior_state.name {
            replace.push(AttributePath::new("name"));
        }
        let vpc = |s: &PipelineState| {
            s.network
                .as_ref_option()
                .map(|n| n.vpc_id.clone())
                .unwrap_or_default()
        };
        if vpc(&state) != vpc(&prior_state) {
            replace.push(AttributePath::new("network").attribute("vpc_id"));
        }
        let managed = |s: &PipelineState| s.store.as_ref_option().map(StoreBlock::is_managed);
        if managed(&state) != managed(&prior_state) {
            replace.push(AttributePath::new("store").attribute("mongodb_uri"));
            // The new store's settings are the configuration's, not the old store's carried over.
            let configured = config_state
                .store
                .as_ref_option()
                .cloned()
                .unwrap_or_default();
            let store = block_of(&mut state.store);
            store.instance_type = configured.instance_type;
            store.image = configured.image;
            store.volume_size = configured.volume_size;
            store.retain_volume = configured.retain_volume;
        }
        if !replace.is_empty() {
            plan_all_new(clients, &mut state, diags);
            return Some((state, prior_private_state, replace));
        }

        // An object deleted out of band (its id cleared by read) is re-created: show it as unknown.
        replace_ids(&mut state, Value::is_null, || Value::Unknown);
        if state.subnet_ids.is_null() {
            state.subnet_ids = Value::Unknown;
        }
        let store = block_of(&mut state.store);
        if store.password.is_null() {
            store.password = Value::Unknown;
        }
        clear_unused(&mut state);
        let missing = object_ids(&mut state)
            .into_iter()
            .any(|field| field.is_unknown());
        if missing || state.stage != prior_state.stage {
            state.endpoint_url = Value::Unknown;
        }
        Some((state, prior_private_state, vec![]))
    }

    async fn plan_destroy<'a>(
        &self,
        _diags: &mut Diagnostics,
        _prior_state: Self::State<'a>,
        prior_private_state: Self::PrivateState<'a>,
        _provider_meta_state: Self::ProviderMetaState<'a>,
    ) -> Option<Self::PrivateState<'a>> {
        Some(prior_private_state)
    }

    async fn create<'a>(
        &self,
        diags: &mut Diagnostics,
        planned_state: Self::State<'a>,
        _config_state: Self::State<'a>,
        private_state: Self::PrivateState<'a>,
        _provider_meta_state: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let clients = self.clients(diags)?;
        let mut state = planned_state;
        replace_ids(&mut state, |_| true, || Value::Null);
        state.subnet_ids = Value::Null;
        state.endpoint_url = Value::Null;
        let timeout = Timeouts::of(&state).create;
        apply(clients, None, &mut state, timeout, diags).await;
        Some((state, private_state))
    }

    async fn update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior_state: Self::State<'a>,
        planned_state: Self::State<'a>,
        _config_state: Self::State<'a>,
        private_state: Self::PrivateState<'a>,
        _provider_meta_state: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let clients = self.clients(diags)?;
        let mut state = planned_state;
        // Start from the ids that exist; unknown ones are the objects to re-create.
        replace_ids(&mut state, Value::is_unknown, || Value::Null);
        if state.subnet_ids.is_unknown() {
            state.subnet_ids = Value::Null;
        }
        if state.endpoint_url.is_unknown() {
            state.endpoint_url = Value::Null;
        }
        let timeout = Timeouts::of(&state).update;
        apply(clients, Some(&prior_state), &mut state, timeout, diags).await;
        Some((state, private_state))
    }

    async fn destroy<'a>(
        &self,
        diags: &mut Diagnostics,
        state: Self::State<'a>,
        _private_state: Self::PrivateState<'a>,
        _provider_meta_state: Self::ProviderMetaState<'a>,
    ) -> Option<()> {
        let clients = self.clients(diags)?;
        let timeout = Timeouts::of(&state).delete;
        let deadline = Instant::now() + timeout;
        match tokio::time::timeout(timeout, teardown(clients, &state, deadline)).await {
            Ok(Ok(())) => Some(()),
            Ok(Err(error)) => {
                diags.root_error("Deleting the pipeline failed", error.to_string());
                None
            }
            Err(_) => {
                diags.root_error(
                    "Deleting the pipeline timed out",
                    format!("not finished within timeouts.delete ({timeout:?})"),
                );
                None
            }
        }
    }

    async fn import<'a>(
        &self,
        diags: &mut Diagnostics,
        id: String,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let clients = self.clients(diags)?;
        match import(clients, &id).await {
            Ok(Some(state)) => Some((state, ValueEmpty::default())),
            Ok(None) => {
                diags.root_error(
                    "Pipeline not found",
                    format!("no Nami pipeline named {id:?} in {}", clients.region),
                );
                None
            }
            Err(error) => {
                diags.root_error("Importing the pipeline failed", error.to_string());
                None
            }
        }
    }
}

/// Creates what is missing and converges the rest, within `timeout`; errors go to `diags` and
/// `state` keeps every id created so far.
async fn apply(
    clients: &Clients,
    prior: Option<&PipelineState>,
    state: &mut PipelineState,
    timeout: Duration,
    diags: &mut Diagnostics,
) {
    let store_block = block_of(&mut state.store);
    if store_block.is_managed() && !store_block.password.is_value() {
        store_block.password = Value::Value(store::generate_password());
    }
    let spec = match Spec::from_state(state) {
        Ok(spec) => spec,
        Err(error) => {
            diags.root_error("Invalid pipeline configuration", error);
            return;
        }
    };
    let tags = spec.tags.clone();
    let ctx = Context {
        clients,
        name: &spec.name,
        tags: &tags,
        deadline: Instant::now() + timeout,
    };
    let work = async {
        ensure(ctx, &spec, state).await?;
        converge(ctx, &spec, prior, state).await
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(())) => {
            state.id = Value::Value(spec.name.clone());
            state.endpoint_url = Value::Value(api::endpoint_url(
                clients,
                known_id(&state.api_id),
                &spec.stage,
            ));
        }
        Ok(Err(error)) => diags.root_error("Applying the pipeline failed", error.to_string()),
        Err(_) => diags.root_error(
            "Applying the pipeline timed out",
            format!("not finished within {timeout:?}"),
        ),
    }
    if !state.id.is_value() {
        state.id = Value::Value(spec.name.clone());
    }
    replace_ids(state, Value::is_unknown, || Value::Null);
    if state.subnet_ids.is_unknown() {
        state.subnet_ids = Value::Null;
    }
    if state.endpoint_url.is_unknown() {
        state.endpoint_url = Value::Null;
    }
}

fn known_id(value: &Str) -> &str {
    value
        .as_ref_option()
        .map(String::as_str)
        .unwrap_or_default()
}

fn record(field: &mut Str, result: Result<String, AwsError>, first_error: &mut Option<AwsError>) {
    match result {
        Ok(id) => *field = Value::Value(id),
        Err(error) => {
            first_error.get_or_insert(error);
        }
    }
}

/// Runs `create` only when `field` has no id yet.
async fn when_missing<T, F>(field: &Str, create: F) -> Option<Result<T, AwsError>>
where
    F: std::future::Future<Output = Result<T, AwsError>>,
{
    if field.is_value() {
        None
    } else {
        Some(create.await)
    }
}

macro_rules! record_all {
    ($error:ident; $($field:expr => $result:expr),+ $(,)?) => {
        $( if let Some(result) = $result { record(&mut $field, result, &mut $error); } )+
        if let Some(error) = $error.take() { return Err(error); }
    };
}

/// The VPC and subnets the post-queue function (and the managed store) use, once they exist.
fn placement_ids(spec: &Spec, state: &PipelineState) -> Option<(String, Vec<String>)> {
    match &spec.network {
        NetworkPlan::None => None,
        NetworkPlan::Existing(network) => {
            Some((network.vpc_id.clone(), network.subnet_ids.clone()))
        }
        NetworkPlan::Managed => Some((known_id(&state.vpc_id).to_owned(), subnet_ids_of(state))),
    }
}

fn subnet_ids_of(state: &PipelineState) -> Vec<String> {
    state
        .subnet_ids
        .as_ref_option()
        .map(|ids| {
            ids.iter()
                .filter_map(|id| id.as_ref_option().cloned())
                .collect()
        })
        .unwrap_or_default()
}

fn managed_network_of(state: &PipelineState) -> network::ManagedNetwork {
    network::ManagedNetwork {
        vpc_id: known_id(&state.vpc_id).to_owned(),
        subnet_ids: subnet_ids_of(state),
        internet_gateway_id: known_id(&state.internet_gateway_id).to_owned(),
        route_table_id: known_id(&state.route_table_id).to_owned(),
    }
}

/// The store's connection string: the user's, or the managed instance's.
async fn store_uri(
    clients: &Clients,
    spec: &Spec,
    state: &PipelineState,
) -> Result<String, AwsError> {
    match &spec.store.kind {
        StoreKind::External { mongodb_uri } => Ok(mongodb_uri.clone()),
        StoreKind::Managed(settings) => {
            let facts = store::find_instance(clients, known_id(&state.instance_id)).await?;
            Ok(store::managed_uri(
                &settings.password,
                &facts.map(|f| f.private_ip).unwrap_or_default(),
            ))
        }
    }
}

/// Creates the managed store's missing parts: its security group, data volume and instance.
async fn ensure_store(
    ctx: Context<'_>,
    spec: &Spec,
    state: &mut PipelineState,
) -> Result<(), AwsError> {
    let StoreKind::Managed(settings) = &spec.store.kind else {
        return Ok(());
    };
    let (vpc_id, subnet_ids) = placement_ids(spec, state).unwrap_or_default();
    let subnet_id = subnet_ids.first().cloned().unwrap_or_default();
    if !state.store_security_group_id.is_value() {
        let id =
            store::create_security_group(ctx, &vpc_id, known_id(&state.security_group_id)).await?;
        state.store_security_group_id = Value::Value(id);
    }
    if !state.data_volume_id.is_value() {
        let zone = network::subnet_zone(ctx.clients, &subnet_id).await?;
        state.data_volume_id =
            Value::Value(store::create_volume(ctx, &zone, settings.volume_size).await?);
    }
    if !state.instance_id.is_value() {
        let public_ip = spec.network == NetworkPlan::Managed;
        let (instance_id, _) = store::launch(
            ctx,
            settings,
            &subnet_id,
            known_id(&state.store_security_group_id),
            public_ip,
        )
        .await?;
        state.instance_id = Value::Value(instance_id.clone());
        store::attach_volume(ctx, known_id(&state.data_volume_id), &instance_id).await?;
    }
    Ok(())
}

/// Creates every object whose id `state` lacks, independent ones concurrently.
async fn ensure(ctx: Context<'_>, spec: &Spec, state: &mut PipelineState) -> Result<(), AwsError> {
    let mut error = None;

    // 0. The managed network, when the managed store has no network given.
    if spec.network == NetworkPlan::Managed {
        let mut managed = managed_network_of(state);
        let result = network::create_managed(ctx, &mut managed).await;
        record_managed_network(state, &managed);
        result?;
    }
    if let Some((vpc_id, subnet_ids)) = placement_ids(spec, state) {
        state.vpc_id = Value::Value(vpc_id);
        state.subnet_ids = Value::Value(subnet_ids.into_iter().map(Value::Value).collect());
    }
    let vpc_id = known_id(&state.vpc_id).to_owned();

    // 1. Nothing depends on these: the DLQ, both roles, the function's security group, the API.
    let security_group = async {
        if spec.network.in_vpc() {
            when_missing(
                &state.security_group_id,
                network::create_security_group(ctx, &vpc_id),
            )
            .await
        } else {
            None
        }
    };
    let (dlq, pre_role, post_role, security_group, api_id) = tokio::join!(
        when_missing(&state.dlq_arn, queue::create_dlq(ctx, &spec.queue)),
        when_missing(
            &state.pre_queue_role_arn,
            iam::create_role(ctx, Function::PreQueue)
        ),
        when_missing(
            &state.post_queue_role_arn,
            iam::create_role(ctx, Function::PostQueue)
        ),
        security_group,
        when_missing(&state.api_id, api::create_api(ctx)),
    );
    match dlq {
        Some(Ok(ids)) => {
            state.dlq_url = Value::Value(ids.url);
            state.dlq_arn = Value::Value(ids.arn);
        }
        Some(Err(dlq_error)) => error = Some(dlq_error),
        None => {}
    }
    record_all!(error;
        state.pre_queue_role_arn => pre_role,
        state.post_queue_role_arn => post_role,
        state.security_group_id => security_group,
        state.api_id => api_id,
    );

    // 2. The main queue redrives to the DLQ; the managed store needs the function's group.
    if !state.queue_arn.is_value() {
        let ids = queue::create_queue(ctx, &spec.queue, known_id(&state.dlq_arn)).await?;
        state.queue_url = Value::Value(ids.url);
        state.queue_arn = Value::Value(ids.arn);
    }
    ensure_store(ctx, spec, state).await?;

    // 3. The roles' policies name the queue (and the secret); rewriting them is idempotent.
    let secret_arn = spec
        .signature
        .secret_arn
        .as_ref_option()
        .map(String::as_str);
    let grants = iam::Grants {
        queue_arn: known_id(&state.queue_arn),
        secret_arn,
        in_vpc: spec.network.in_vpc(),
    };
    tokio::try_join!(
        iam::put_policy(
            ctx,
            Function::PreQueue,
            known_id(&state.pre_queue_role_arn),
            &grants
        ),
        iam::put_policy(
            ctx,
            Function::PostQueue,
            known_id(&state.post_queue_role_arn),
            &grants
        ),
    )?;

    // 4. Both functions.
    let subnet_ids = subnet_ids_of(state);
    let placement = spec.network.in_vpc().then(|| functions::Placement {
        subnet_ids: &subnet_ids,
        security_group_id: known_id(&state.security_group_id),
    });
    let mongodb_uri = store_uri(ctx.clients, spec, state).await?;
    let (pre_function, post_function) = tokio::join!(
        when_missing(
            &state.pre_queue_function_arn,
            functions::create(
                ctx,
                Function::PreQueue,
                known_id(&state.pre_queue_role_arn),
                &spec.pre_queue,
                functions::pre_queue_environment(spec, known_id(&state.queue_url)),
                None,
            ),
        ),
        when_missing(
            &state.post_queue_function_arn,
            functions::create(
                ctx,
                Function::PostQueue,
                known_id(&state.post_queue_role_arn),
                &spec.post_queue,
                functions::post_queue_environment(spec, &mongodb_uri),
                placement,
            ),
        ),
    );
    let pre_function_created = pre_function.as_ref().is_some_and(Result::is_ok);
    record_all!(error;
        state.pre_queue_function_arn => pre_function,
        state.post_queue_function_arn => post_function,
    );

    // 5. The mapping feeds the post-queue function; the API's route invokes the pre-queue one.
    let account = known_id(&state.pre_queue_role_arn)
        .split(':')
        .nth(4)
        .unwrap_or_default()
        .to_owned();
    let api_id = known_id(&state.api_id).to_owned();
    let route = async {
        let resource = when_missing(
            &state.api_resource_id,
            api::create_route(ctx, &api_id, known_id(&state.pre_queue_function_arn)),
        )
        .await;
        if resource.as_ref().is_some_and(Result::is_err) {
            return resource;
        }
        if resource.is_some() || pre_function_created {
            if let Err(error) =
                functions::allow_api(ctx, &api::invoke_source_arn(ctx.clients, &account, &api_id))
                    .await
            {
                if error.code() != Some("ResourceConflictException") {
                    return Some(Err(error));
                }
            }
        }
        resource
    };
    let (mapping, route) = tokio::join!(
        when_missing(
            &state.event_source_mapping_id,
            functions::create_mapping(ctx, known_id(&state.queue_arn), &spec.mapping)
        ),
        route,
    );
    record_all!(error;
        state.event_source_mapping_id => mapping,
        state.api_resource_id => route,
    );
    if !state.endpoint_url.is_value() {
        api::deploy(ctx, &api_id, &spec.stage).await?;
    }
    Ok(())
}

/// Brings existing objects to the planned settings, changing only what differs.
async fn converge(
    ctx: Context<'_>,
    spec: &Spec,
    prior: Option<&PipelineState>,
    state: &mut PipelineState,
) -> Result<(), AwsError> {
    let clients = ctx.clients;
    let queue_ids = queue::QueueIds {
        url: known_id(&state.queue_url).into(),
        arn: known_id(&state.queue_arn).into(),
    };
    let dlq_ids = queue::QueueIds {
        url: known_id(&state.dlq_url).into(),
        arn: known_id(&state.dlq_arn).into(),
    };
    let (queue_facts, dlq_facts, pre, post, mapping) = tokio::try_join!(
        queue::find(clients, &queue_ids.url),
        queue::find(clients, &dlq_ids.url),
        functions::find(clients, &spec.name, Function::PreQueue),
        functions::find(clients, &spec.name, Function::PostQueue),
        functions::find_mapping(clients, known_id(&state.event_source_mapping_id)),
    )?;

    let queue_ok = queue_facts.is_some_and(|q| {
        q.visibility_timeout_seconds == spec.queue.visibility_timeout_seconds
            && q.retention_seconds == spec.queue.retention_seconds
            && q.max_message_bytes == spec.queue.max_message_bytes
            && q.max_receive_count == Some(spec.queue.max_receive_count)
    }) && dlq_facts.is_some_and(|d| {
        d.retention_seconds == spec.queue.dlq_retention_seconds
            && d.max_message_bytes == spec.queue.max_message_bytes
    });
    if !queue_ok {
        queue::update(ctx, &spec.queue, &queue_ids, &dlq_ids).await?;
    }

    if let (Some(prior), StoreKind::Managed(settings)) = (prior, &spec.store.kind) {
        let prior_store = prior.store.as_ref_option().cloned().unwrap_or_default();
        let changed = |old: &Str, new: &str| old.as_ref_option().is_some_and(|old| old != new);
        if changed(&prior_store.instance_type, &settings.instance_type)
            || changed(&prior_store.image, &settings.image)
        {
            // A new instance with the new type or image; the data volume moves over.
            store::terminate(ctx, known_id(&state.instance_id)).await?;
            state.instance_id = Value::Null;
            ensure_store(ctx, spec, state).await?;
        }
        if prior_store
            .volume_size
            .as_ref_option()
            .is_some_and(|&old| old < settings.volume_size)
        {
            store::resize_volume(ctx, known_id(&state.data_volume_id), settings.volume_size)
                .await?;
        }
    }

    let mongodb_uri = store_uri(clients, spec, state).await?;
    let desired = [
        (
            Function::PreQueue,
            pre,
            &spec.pre_queue,
            functions::pre_queue_environment(spec, &queue_ids.url),
        ),
        (
            Function::PostQueue,
            post,
            &spec.post_queue,
            functions::post_queue_environment(spec, &mongodb_uri),
        ),
    ];
    for (function, facts, settings, environment) in desired {
        let Some(facts) = facts else { continue };
        if facts.code_sha256 != settings.artifact.sha256 {
            functions::update_code(ctx, function, &settings.artifact).await?;
        }
        if facts.memory_size != settings.memory_size
            || facts.timeout != settings.timeout
            || facts.environment != environment
        {
            functions::update_configuration(ctx, function, settings, environment).await?;
        }
    }

    if mapping.is_some_and(|m| m.settings != spec.mapping || !m.reports_batch_item_failures) {
        functions::update_mapping(ctx, known_id(&state.event_source_mapping_id), &spec.mapping)
            .await?;
    }

    if let Some(prior) = prior {
        if prior.tags_all != state.tags_all {
            retag(ctx, spec, &spec::string_map(&prior.tags_all), state).await?;
        }
    }

    if let Some(prior) = prior {
        let old_stage = known_id(&prior.stage);
        if prior.endpoint_url.is_value() && !old_stage.is_empty() && old_stage != spec.stage {
            api::rename_stage(ctx, known_id(&state.api_id), old_stage, &spec.stage).await?;
        }
    }
    Ok(())
}

/// Re-applies the pipeline's tags to every object after `tags` or `default_tags` changed.
async fn retag(
    ctx: Context<'_>,
    spec: &Spec,
    prior_tags: &std::collections::BTreeMap<String, String>,
    state: &PipelineState,
) -> Result<(), AwsError> {
    let clients = ctx.clients;
    let tags = crate::aws::object_tags(clients, &spec.tags, &spec.name);
    let removed: Vec<String> = prior_tags
        .keys()
        .filter(|key| !tags.contains_key(*key))
        .cloned()
        .collect();
    let ids = |fields: &[&Str]| {
        fields
            .iter()
            .filter_map(|f| f.as_ref_option().cloned())
            .collect::<Vec<_>>()
    };
    let mut ec2_ids = ids(&[
        &state.security_group_id,
        &state.store_security_group_id,
        &state.instance_id,
        &state.data_volume_id,
        &state.internet_gateway_id,
        &state.route_table_id,
    ]);
    if state.internet_gateway_id.is_value() {
        ec2_ids.extend(ids(&[&state.vpc_id]));
        ec2_ids.extend(subnet_ids_of(state));
    }
    for url in ids(&[&state.queue_url, &state.dlq_url]) {
        queue::retag(clients, &url, &tags, &removed).await?;
    }
    for arn in ids(&[
        &state.pre_queue_function_arn,
        &state.post_queue_function_arn,
    ]) {
        functions::retag(clients, &arn, &tags, &removed).await?;
    }
    for function in [Function::PreQueue, Function::PostQueue] {
        iam::retag_role(clients, &spec.name, function, &tags, &removed).await?;
    }
    if let Some(api_id) = state.api_id.as_ref_option() {
        api::retag(clients, api_id, &tags, &removed).await?;
    }
    network::retag(clients, &ec2_ids, &tags, &removed).await
}

/// Runs `delete` for an id that exists; nothing to do for one that does not.
async fn when_some<'a, F, Fut>(id: Option<&'a str>, delete: F) -> Result<(), AwsError>
where
    F: FnOnce(&'a str) -> Fut,
    Fut: std::future::Future<Output = Result<(), AwsError>>,
{
    match id {
        Some(id) => delete(id).await,
        None => Ok(()),
    }
}

/// Deletes everything, in reverse dependency order; missing objects are already deleted.
async fn teardown(
    clients: &Clients,
    state: &PipelineState,
    deadline: Instant,
) -> Result<(), AwsError> {
    let name = known_id(&state.name);
    let tags = Default::default();
    let ctx = Context {
        clients,
        name,
        tags: &tags,
        deadline,
    };
    let optional = |value: &Str| value.as_ref_option().cloned();

    // The entry point and the mapping first: nothing new arrives, nothing is polled.
    let api_id = optional(&state.api_id);
    let mapping_id = optional(&state.event_source_mapping_id);
    tokio::try_join!(
        when_some(api_id.as_deref(), |id| api::delete(clients, id)),
        when_some(mapping_id.as_deref(), |id| functions::delete_mapping(
            clients, id
        )),
    )?;
    tokio::try_join!(
        functions::delete(clients, name, Function::PreQueue),
        functions::delete(clients, name, Function::PostQueue),
    )?;
    // The store's instance next; its volume stays unless retain_volume is false.
    if let Some(id) = optional(&state.instance_id) {
        store::terminate(ctx, &id).await?;
    }
    let store_block = state.store.as_ref_option().cloned().unwrap_or_default();
    let delete_volume =
        store_block.is_managed() && store_block.retain_volume.as_ref_option() == Some(&false);
    let volume_id = optional(&state.data_volume_id).filter(|_| delete_volume);
    let store_group = optional(&state.store_security_group_id);
    let queue_url = optional(&state.queue_url);
    tokio::try_join!(
        iam::delete_role(clients, name, Function::PreQueue),
        iam::delete_role(clients, name, Function::PostQueue),
        when_some(queue_url.as_deref(), |url| queue::delete(clients, url)),
        when_some(volume_id.as_deref(), |id| store::delete_volume(ctx, id)),
        when_some(store_group.as_deref(), |id| network::delete_security_group(
            ctx, id
        )),
    )?;
    // The function's group after the store's (whose rule names it), the DLQ last of the queues.
    let security_group = optional(&state.security_group_id);
    let dlq_url = optional(&state.dlq_url);
    tokio::try_join!(
        when_some(security_group.as_deref(), |id| {
            network::delete_security_group(ctx, id)
        }),
        when_some(dlq_url.as_deref(), |url| queue::delete(clients, url)),
    )?;
    if state.internet_gateway_id.is_value() || state.route_table_id.is_value() {
        network::delete_managed(ctx, &managed_network_of(state)).await?;
    }
    Ok(())
}

/// Reads every object back; clears the ids of objects that are gone, records drift.
/// `None` when the pipeline is gone altogether.
async fn refresh(
    clients: &Clients,
    mut state: PipelineState,
) -> Result<Option<PipelineState>, AwsError> {
    let name = known_id(&state.name).to_owned();
    let optional_find = |id: &Str| id.as_ref_option().cloned();
    let (queue_url, dlq_url, api_id, mapping_id, security_group_id) = (
        optional_find(&state.queue_url),
        optional_find(&state.dlq_url),
        optional_find(&state.api_id),
        optional_find(&state.event_source_mapping_id),
        optional_find(&state.security_group_id),
    );
    let (
        queue_facts,
        dlq_facts,
        pre_role,
        post_role,
        pre,
        post,
        mapping,
        api_facts,
        security_group,
    ) = tokio::try_join!(
        async {
            match &queue_url {
                Some(url) => queue::find(clients, url).await,
                None => Ok(None),
            }
        },
        async {
            match &dlq_url {
                Some(url) => queue::find(clients, url).await,
                None => Ok(None),
            }
        },
        iam::find_role(clients, &name, Function::PreQueue),
        iam::find_role(clients, &name, Function::PostQueue),
        functions::find(clients, &name, Function::PreQueue),
        functions::find(clients, &name, Function::PostQueue),
        async {
            match &mapping_id {
                Some(id) => functions::find_mapping(clients, id).await,
                None => Ok(None),
            }
        },
        async {
            match &api_id {
                Some(id) => api::find(clients, id).await,
                None => Ok(None),
            }
        },
        async {
            match &security_group_id {
                Some(id) => network::find_security_group(clients, id).await,
                None => Ok(None),
            }
        },
    )?;
    if queue_facts.is_none() && pre.is_none() && post.is_none() && api_facts.is_none() {
        return Ok(None);
    }
    refresh_store_and_network(clients, &mut state).await?;

    // Every id is what AWS reports now: found objects recorded, missing ones cleared.
    state.dlq_url = dlq_facts.as_ref().map(|f| f.ids.url.clone()).into();
    state.dlq_arn = dlq_facts.as_ref().map(|f| f.ids.arn.clone()).into();
    state.pre_queue_role_arn = pre_role.into();
    state.post_queue_role_arn = post_role.into();
    if security_group.is_none() {
        state.security_group_id = Value::Null;
    }
    state.event_source_mapping_id = mapping.as_ref().map(|m| m.uuid.clone()).into();

    match &queue_facts {
        Some(facts) => {
            state.queue_url = Value::Value(facts.ids.url.clone());
            state.queue_arn = Value::Value(facts.ids.arn.clone());
            let queue = block_of(&mut state.queue);
            queue.visibility_timeout_seconds = Value::Value(facts.visibility_timeout_seconds);
            queue.retention_seconds = Value::Value(facts.retention_seconds);
            queue.max_message_bytes = Value::Value(facts.max_message_bytes);
            if let Some(count) = facts.max_receive_count {
                queue.max_receive_count = Value::Value(count);
            }
        }
        None => {
            // Re-created under the same name, so with the same ARN: the mapping and the policies
            // that name it stay valid.
            state.queue_url = Value::Null;
            state.queue_arn = Value::Null;
        }
    }
    if let Some(facts) = &dlq_facts {
        block_of(&mut state.queue).dlq_retention_seconds = Value::Value(facts.retention_seconds);
    }

    match &pre {
        Some(facts) => {
            state.pre_queue_function_arn = Value::Value(facts.arn.clone());
            let block = block_of(&mut state.pre_queue);
            block.memory_size = Value::Value(facts.memory_size);
            block.timeout = Value::Value(facts.timeout);
            block.source_code_hash = Value::Value(facts.code_sha256.clone());
        }
        None => {
            // Re-created under the same name (same ARN): the route stays valid, the invoke
            // permission (deleted with the function) is added again by `ensure`.
            state.pre_queue_function_arn = Value::Null;
        }
    }
    match &post {
        Some(facts) => {
            state.post_queue_function_arn = Value::Value(facts.arn.clone());
            let block = block_of(&mut state.post_queue);
            block.memory_size = Value::Value(facts.memory_size);
            block.timeout = Value::Value(facts.timeout);
            block.source_code_hash = Value::Value(facts.code_sha256.clone());
        }
        None => state.post_queue_function_arn = Value::Null,
    }
    if let Some(facts) = &mapping {
        let block = block_of(&mut state.post_queue);
        block.batch_size = Value::Value(facts.settings.batch_size);
        block.batching_window_seconds = Value::Value(facts.settings.batching_window_seconds);
        block.max_concurrency = Value::Value(facts.settings.max_concurrency);
    }
    match &api_facts {
        Some(facts) => {
            if facts.resource_id.is_none() {
                state.api_resource_id = Value::Null;
            }
            if !facts
                .stages
                .iter()
                .any(|s| Some(s) == state.stage.as_ref_option())
            {
                state.endpoint_url = Value::Null;
            }
        }
        None => {
            state.api_id = Value::Null;
            state.api_resource_id = Value::Null;
            state.endpoint_url = Value::Null;
        }
    }
    Ok(Some(state))
}

/// Clears the ids of the managed network's and store's objects that are gone.
async fn refresh_store_and_network(
    clients: &Clients,
    state: &mut PipelineState,
) -> Result<(), AwsError> {
    if state.internet_gateway_id.is_value() {
        if let Some(vpc_id) = state.vpc_id.as_ref_option().cloned() {
            if !network::vpc_exists(clients, &vpc_id).await? {
                // The whole managed network, and everything in it, is re-made.
                for field in [
                    &mut state.vpc_id,
                    &mut state.internet_gateway_id,
                    &mut state.route_table_id,
                    &mut state.security_group_id,
                    &mut state.store_security_group_id,
                ] {
                    *field = Value::Null;
                }
                state.subnet_ids = Value::Null;
            }
        }
    }
    if let Some(id) = state.store_security_group_id.as_ref_option().cloned() {
        if network::find_security_group(clients, &id).await?.is_none() {
            state.store_security_group_id = Value::Null;
        }
    }
    if let Some(id) = state.instance_id.as_ref_option().cloned() {
        match store::find_instance(clients, &id).await? {
            Some(facts) => {
                block_of(&mut state.store).instance_type = Value::Value(facts.instance_type)
            }
            None => state.instance_id = Value::Null,
        }
    }
    if let Some(id) = state.data_volume_id.as_ref_option().cloned() {
        if !store::volume_exists(clients, &id).await? {
            state.data_volume_id = Value::Null;
        }
    }
    Ok(())
}

/// Reconstructs the full state of the pipeline named `name` from AWS.
async fn import(clients: &Clients, name: &str) -> Result<Option<PipelineState>, AwsError> {
    let (queue_name, dlq_name) = (
        components::object_name(name, ""),
        components::object_name(name, "dlq"),
    );
    let (queue_url, dlq_url, api_id, pre, post, security_group) = tokio::try_join!(
        queue::find_url(clients, &queue_name),
        queue::find_url(clients, &dlq_name),
        api::find_by_name(clients, name),
        functions::find(clients, name, Function::PreQueue),
        functions::find(clients, name, Function::PostQueue),
        network::find_security_group_by_name(clients, name),
    )?;
    let (Some(pre), Some(post)) = (pre, post) else {
        return Ok(None);
    };

    let mut state = PipelineState {
        name: Value::Value(name.to_owned()),
        queue_url: queue_url.map(Value::Value).unwrap_or_default(),
        dlq_url: dlq_url.map(Value::Value).unwrap_or_default(),
        api_id: api_id.clone().map(Value::Value).unwrap_or_default(),
        signature: Value::Value(functions::signature_from_environment(&pre.environment)),
        store: Value::Value(components::store::from_environment(&post.environment)),
        pre_queue: Value::Value(PreQueueBlock::default()),
        post_queue: Value::Value(PostQueueBlock::default()),
        queue: Value::Value(QueueBlock::default()),
        timeouts: Value::Value(TimeoutsBlock::default()),
        network: Value::Value(NetworkBlock::default()),
        ..Default::default()
    };
    let (instance_id, volume_id, store_group_id) = store::find_by_name(clients, name).await?;
    let managed_network = network::find_managed(clients, name).await?;
    if let Some(instance_id) = instance_id {
        let store = block_of(&mut state.store);
        store.password = store
            .mongodb_uri
            .as_ref_option()
            .and_then(|uri| store::password_of(uri))
            .map(Value::Value)
            .unwrap_or_default();
        store.mongodb_uri = Value::Null;
        store.image = Value::Value(store::DEFAULT_IMAGE.to_owned());
        store.retain_volume = Value::Value(true);
        if let Some(volume_id) = &volume_id {
            let size = clients
                .ec2
                .describe_volumes()
                .volume_ids(volume_id)
                .send()
                .await
                .map_err(crate::aws::aws_error("ec2:DescribeVolumes"))?;
            store.volume_size = size
                .volumes
                .unwrap_or_default()
                .first()
                .and_then(|v| v.size)
                .map(|s| Value::Value(s.into()))
                .unwrap_or_default();
        }
        state.instance_id = Value::Value(instance_id);
        state.data_volume_id = volume_id.map(Value::Value).unwrap_or_default();
        state.store_security_group_id = store_group_id.map(Value::Value).unwrap_or_default();
    }
    if let Some((group_id, vpc_id)) = security_group {
        state.security_group_id = Value::Value(group_id);
        state.vpc_id = Value::Value(vpc_id.clone());
        state.subnet_ids =
            Value::Value(post.subnet_ids.iter().cloned().map(Value::Value).collect());
        match managed_network {
            Some(managed) if managed.vpc_id == vpc_id => {
                record_managed_network(&mut state, &managed)
            }
            _ => {
                state.network = Value::Value(NetworkBlock {
                    vpc_id: Value::Value(vpc_id),
                    subnet_ids: Value::Value(
                        post.subnet_ids.iter().cloned().map(Value::Value).collect(),
                    ),
                })
            }
        }
    }
    if let Some(url) = state.queue_url.as_ref_option().cloned() {
        if let Some(facts) = queue::find(clients, &url).await? {
            state.queue_arn = Value::Value(facts.ids.arn.clone());
            if let Some(uuid) = functions::find_mapping_for(clients, name, &facts.ids.arn).await? {
                state.event_source_mapping_id = Value::Value(uuid);
            }
        }
    }
    if let Some(url) = state.dlq_url.as_ref_option().cloned() {
        if let Some(facts) = queue::find(clients, &url).await? {
            state.dlq_arn = Value::Value(facts.ids.arn);
        }
    }
    if let Some(id) = &api_id {
        if let Some(facts) = api::find(clients, id).await? {
            state.stage = facts
                .stages
                .first()
                .cloned()
                .map(Value::Value)
                .unwrap_or_default();
            state.api_resource_id = facts.resource_id.map(Value::Value).unwrap_or_default();
        }
    }
    let tags = tags_of_queue(clients, state.queue_url.as_ref_option().map(String::as_str)).await?;
    let mut tags_all = clients.default_tags.clone();
    tags_all.extend(tags.clone());
    state.tags = if tags.is_empty() {
        Value::Null
    } else {
        spec::to_str_map(&tags)
    };
    state.tags_all = spec::to_str_map(&tags_all);

    // read() fills ids, settings and drift from here.
    let Some(mut state) = refresh(clients, state).await? else {
        return Ok(None);
    };
    spec::fill_defaults(&mut state);
    state.id = Value::Value(name.to_owned());
    if let Some(id) = state.api_id.as_ref_option().cloned() {
        if let Some(stage) = state.stage.as_ref_option().cloned() {
            state.endpoint_url = Value::Value(api::endpoint_url(clients, &id, &stage));
        }
    }
    Ok(Some(state))
}

/// The pipeline's own tags, read from its queue (without default tags and Nami's tag).
async fn tags_of_queue(
    clients: &Clients,
    url: Option<&str>,
) -> Result<std::collections::BTreeMap<String, String>, AwsError> {
    let Some(url) = url else {
        return Ok(Default::default());
    };
    let output = clients
        .sqs
        .list_queue_tags()
        .queue_url(url)
        .send()
        .await
        .map_err(crate::aws::aws_error("sqs:ListQueueTags"))?;
    Ok(output
        .tags
        .unwrap_or_default()
        .into_iter()
        .filter(|(key, value)| {
            key != crate::aws::PIPELINE_TAG && clients.default_tags.get(key) != Some(value)
        })
        .collect())
}
