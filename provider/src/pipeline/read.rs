//! Read and import. [`refresh`] reads every object back by its id: found ones write their live
//! settings into state; gone ones, and ones that no longer carry the pipeline's owner token,
//! clear their id (so the next plan re-creates them). [`import`] finds a pipeline by name,
//! rebuilds its configuration from what AWS holds, then refreshes.

use std::collections::BTreeMap;

use nami_contract::naming::{Function, Part, STORE_TAG, is_nami_tag, object_name};
use tf_provider::value::Value;

use super::ids::{Ids, with_id};
use super::plan::fill_defaults;
use crate::aws::{AwsError, Clients};
use crate::components::functions::{self, environment};
use crate::components::security_groups::{self, Group};
use crate::components::store::{self, instance, shared, snapshots};
use crate::components::{alarms, api, dashboard, iam, logs, mapping, network, queue, secret};
use crate::lookup::inventory;
use crate::model::{
    NetworkBlock, PipelineState, PostQueueBlock, PreQueueBlock, QueueBlock, block, str_list,
    to_str_map, value_of,
};
use crate::ownership::{Kind, Tagged};

/// Reads every object back; clears the ids of objects that are gone, records drift.
/// `None` when the pipeline is gone altogether.
pub async fn refresh(
    clients: &Clients,
    mut state: PipelineState,
) -> Result<Option<PipelineState>, AwsError> {
    let name = state.name.as_ref_option().cloned().unwrap_or_default();
    let token = state.owner_token.as_ref_option().cloned();
    let found = inventory(clients, &name).await?;
    let ids = Ids::from_state(&state)
        .owned(&found, &name, token.as_deref())
        .ids;
    ids.record(&mut state);
    // Tags as the queue carries them (the pipeline's representative object): a tag added or
    // changed outside Terraform shows in the plan, and the next apply puts every object back.
    let queue_tags = (found.iter()).find(|object| {
        object.kind == Kind::Queue && Some(&object.id) == ids.queue.as_ref().map(|q| &q.url)
    });
    if let Some(queue) = queue_tags {
        let live: BTreeMap<String, String> = (queue.tags.iter())
            .filter(|(key, _)| !is_nami_tag(key))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        state.tags_all = to_str_map(&live);
    }
    let (queue_url, dlq_url) = ids.queue_urls();
    let (pre_arn, post_arn) = (
        ids.pre_queue_function_arn.as_deref(),
        ids.post_queue_function_arn.as_deref(),
    );
    let (queue_facts, dlq_facts, pre, post, mapping_facts, api_facts, group) = tokio::try_join!(
        with_id(queue_url, |url| queue::find(clients, url)),
        with_id(dlq_url, |url| queue::find(clients, url)),
        with_id(pre_arn, |arn| functions::find(clients, arn)),
        with_id(post_arn, |arn| functions::find(clients, arn)),
        with_id(ids.mapping_id.as_deref(), |id| mapping::find(clients, id)),
        with_id(ids.api_id.as_deref(), |id| api::find(clients, id)),
        with_id(ids.security_group_id.as_deref(), |id| {
            security_groups::find(clients, id)
        }),
    )?;
    if queue_facts.is_none() && pre.is_none() && post.is_none() && api_facts.is_none() {
        return Ok(None);
    }
    network::read_back(clients, &mut state).await?;
    if let Some(id) = state.store_security_group_id.as_ref_option().cloned() {
        let found = security_groups::find(clients, &id).await?.is_some();
        security_groups::read_back(Group::Store, found, &mut state);
    }
    instance::read_back(clients, &mut state).await?;
    snapshots::read_back(clients, &mut state).await?;
    for (part, arn) in [
        (Part::SigningSecret, ids.signing_secret_arn.as_deref()),
        (Part::StoreUriSecret, ids.store_uri_secret_arn.as_deref()),
    ] {
        let live = with_id(arn, |arn| secret::value(clients, arn)).await?;
        secret::read_back(part, arn.filter(|_| live.is_some()), live, &mut state);
    }

    let log_group = |function| {
        with_id(ids.log_group_arn(function).as_deref(), |arn| {
            logs::find(clients, logs::name_in(arn))
        })
    };
    let log_groups = tokio::try_join!(
        log_group(Function::PreQueue),
        log_group(Function::PostQueue)
    )?;
    logs::read_back(&[log_groups.0, log_groups.1], &mut state);
    let importing = state.id.is_null();
    let live_alarms = alarms::find_facts(clients, &name).await?;
    let owned_alarms: std::collections::BTreeMap<_, _> = (live_alarms.into_iter())
        .filter(|(alarm, _)| ids.alarm_arns.contains_key(alarm))
        .collect();
    alarms::read_back(&owned_alarms, importing, &mut state);
    let live_dashboard = match &ids.dashboard_url {
        Some(_) => dashboard::find(clients, &name).await?,
        None => None,
    };
    let drawn = dashboard::Layout::of(&state, &clients.region).body();
    dashboard::read_back(live_dashboard.as_ref(), &drawn, &clients.region, &mut state);
    queue::read_back(queue_facts.as_ref(), dlq_facts.as_ref(), &mut state);
    for function in Function::ALL {
        iam::read_back(function, ids.role_arn(function).clone(), &mut state);
    }
    functions::read_back(Function::PreQueue, pre.as_ref(), &mut state);
    functions::read_back(Function::PostQueue, post.as_ref(), &mut state);
    mapping::read_back(mapping_facts.as_ref(), &mut state);
    api::read_back(api_facts.as_ref(), &mut state);
    security_groups::read_back(Group::Function, group.is_some(), &mut state);
    Ok(Some(state))
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// An AWS call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The pipeline never finished its create, or lost a function its settings live in.
    #[error(
        "pipeline {pipeline:?} is incomplete ({why}): apply its configuration to finish or repair it instead of importing"
    )]
    Incomplete {
        /// The pipeline.
        pipeline: String,
        /// What is missing.
        why: String,
    },
    /// Several objects of one kind carry the pipeline's name and owner token.
    #[error(
        "more than one {kind} carries pipeline {pipeline:?}'s owner token: {}. Delete the ones that are not the pipeline's, then import again",
        candidates.join(", ")
    )]
    Ambiguous {
        /// The pipeline.
        pipeline: String,
        /// The kind of object.
        kind: String,
        /// Every candidate, as kind and id.
        candidates: Vec<String>,
    },
}

/// Reconstructs the full state of the pipeline named `name` from AWS: only objects carrying its
/// name and the owner token of its (complete) queue, one of each kind. `None` when no pipeline
/// of that name exists.
pub async fn import(clients: &Clients, name: &str) -> Result<Option<PipelineState>, ImportError> {
    let found = inventory(clients, name).await?;
    let Some(main_queue) = found.iter().find(|t| t.kind == Kind::Queue) else {
        return Ok(None);
    };
    let incomplete = |why: &str| ImportError::Incomplete {
        pipeline: name.to_owned(),
        why: why.to_owned(),
    };
    if !main_queue.is_complete() {
        return Err(incomplete("its create never finished"));
    }
    let token = main_queue.owner().map(str::to_owned);
    let mine: Vec<&Tagged> = (found.iter())
        .filter(|object| object.is_owned_by(name, token.as_deref()))
        .collect();
    let pick = |kind: Kind, named: Option<&str>| -> Result<Option<&Tagged>, ImportError> {
        let candidates: Vec<&&Tagged> = (mine.iter())
            .filter(|object| object.kind == kind)
            .filter(|object| {
                named.is_none_or(|n| object.tags.get("Name").map(String::as_str) == Some(n))
            })
            .collect();
        match candidates.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            many => Err(ImportError::Ambiguous {
                pipeline: name.to_owned(),
                kind: kind.to_string(),
                candidates: many.iter().map(ToString::to_string).collect(),
            }),
        }
    };
    let id = |object: Option<&Tagged>| object.map(|o| o.id.clone());
    let function_arn = |function| pick(Kind::Function(function), None).map(id);
    let (Some(pre_arn), Some(post_arn)) = (
        function_arn(Function::PreQueue)?,
        function_arn(Function::PostQueue)?,
    ) else {
        return Err(incomplete("a function is missing"));
    };
    let group = |part| pick(Kind::SecurityGroup, Some(&object_name(name, part))).map(id);
    let function_group = group(Part::Function(Function::PostQueue))?;
    let store_group = group(Part::Store)?;
    let api_id = pick(Kind::Api, None).map(id)?;
    let instance_id = pick(Kind::Instance, None).map(id)?;
    let volume = pick(Kind::Volume, None)?;
    let managed_vpc = pick(Kind::Vpc, None).map(id)?;
    let queue_url = |kind| pick(kind, None).map(id);
    let (main_url, dlq_url) = (queue_url(Kind::Queue)?, queue_url(Kind::DeadLetterQueue)?);
    let queue_ids = async |url: Option<String>| -> Result<Option<queue::QueueIds>, AwsError> {
        match url {
            Some(url) => Ok(queue::find(clients, &url).await?.map(|facts| facts.ids)),
            None => Ok(None),
        }
    };
    let (pre, post, api_facts, main, dlq) = tokio::try_join!(
        functions::find(clients, &pre_arn),
        functions::find(clients, &post_arn),
        with_id(api_id.as_deref(), |id| api::find(clients, id)),
        queue_ids(main_url),
        queue_ids(dlq_url),
    )?;
    let (Some(pre), Some(post)) = (pre, post) else {
        return Err(incomplete("a function is missing"));
    };
    let managed_store = match &instance_id {
        Some(instance_id) => Some(instance::read_facts(clients, instance_id, volume).await?),
        None => None,
    };
    let stage = api_facts
        .as_ref()
        .and_then(|facts| facts.stages.first().cloned());

    let mut state = PipelineState {
        name: Value::Value(name.to_owned()),
        stage: value_of(stage.clone()),
        signature: Value::Value(environment::signature_from(&pre.environment)),
        store: Value::Value(store::from_environment(
            &post.environment,
            managed_store.as_ref(),
        )),
        pre_queue: Value::Value(PreQueueBlock::default()),
        post_queue: Value::Value(PostQueueBlock::default()),
        queue: Value::Value(QueueBlock::default()),
        owner_token: value_of(token.clone()),
        // Not AWS settings: an imported pipeline starts with the defaults.
        force_destroy: Value::Value(false),
        retain_logs: Value::Value(false),
        ..Default::default()
    };
    let mapping_id = match &main {
        Some(queue) => mapping::find_for(clients, name, &queue.arn)
            .await?
            .map(|m| m.uuid),
        None => None,
    };
    let role = |function| pick(Kind::Role(function), None).map(id);
    let mut ids = Ids {
        api_id: api_id.clone(),
        api_resource_id: api_facts.as_ref().and_then(|a| a.resource_id.clone()),
        queue: main,
        dlq,
        mapping_id,
        pre_queue_function_arn: Some(pre_arn),
        post_queue_function_arn: Some(post_arn),
        pre_queue_role_arn: role(Function::PreQueue)?,
        post_queue_role_arn: role(Function::PostQueue)?,
        store_security_group_id: store_group,
        data_volume_id: id(volume),
        store_role_arn: pick(Kind::StoreRole, None)
            .map(id)?
            .filter(|_| instance_id.is_some()),
        replay_table_arn: pick(Kind::ReplayTable, None).map(id)?,
        pre_queue_log_group_arn: pick(Kind::LogGroup(Function::PreQueue), None).map(id)?,
        alarm_arns: alarms::Alarm::ALL
            .into_iter()
            .filter_map(|alarm| match pick(Kind::Alarm(alarm), None) {
                Ok(found) => found.map(|object| Ok((alarm, object.id.clone()))),
                Err(error) => Some(Err(error)),
            })
            .collect::<Result<_, _>>()?,
        post_queue_log_group_arn: pick(Kind::LogGroup(Function::PostQueue), None).map(id)?,
        dashboard_url: pick(Kind::Dashboard, None)?.map(|_| dashboard::url(&clients.region, name)),
        snapshot_role_arn: pick(Kind::SnapshotRole, None)
            .map(id)?
            .filter(|_| instance_id.is_some()),
        snapshot_policy_id: pick(Kind::SnapshotPolicy, None)
            .map(id)?
            .filter(|_| instance_id.is_some()),
        store_root_secret_arn: pick(Kind::Secret(Part::StoreRootSecret), None)
            .map(id)?
            .filter(|_| instance_id.is_some()),
        store_writer_secret_arn: pick(Kind::Secret(Part::StoreWriterSecret), None)
            .map(id)?
            .filter(|_| instance_id.is_some()),
        instance_id,
        ..Ids::default()
    };
    // A shared store: the pipeline's writer secret names it.
    let writer = pick(Kind::Secret(Part::StoreWriterSecret), None)?;
    let shared_store = writer.and_then(|secret| secret.tags.get(STORE_TAG).cloned());
    if let Some(store_name) = &shared_store {
        let store = block(&mut state.store);
        store.shared = Value::Value(store_name.clone());
        store.mongodb_uri = Value::Null;
        ids.store_writer_secret_arn = writer.map(|secret| secret.id.clone());
    }
    // A connection string given by value: the function reads it from the pipeline's own secret.
    let own_uri_secret = pick(Kind::Secret(Part::StoreUriSecret), None).map(id)?;
    let by_arn = store::uri_secret_arn(&post.environment);
    match (own_uri_secret, by_arn) {
        (Some(own), Some(arn)) if own == arn => {
            block(&mut state.store).mongodb_uri = value_of(secret::value(clients, &own).await?);
            ids.store_uri_secret_arn = Some(own);
        }
        // The user's secret.
        (_, Some(arn)) if managed_store.is_none() => {
            block(&mut state.store).mongodb_uri_secret_arn = Value::Value(arn.to_owned());
        }
        _ => {}
    }
    // A signing secret given by value: the function reads it from the pipeline's own secret.
    let own_secret = pick(Kind::Secret(Part::SigningSecret), None).map(id)?;
    let signature = block(&mut state.signature);
    if let Some(arn) = own_secret.filter(|arn| signature.secret_arn.as_ref_option() == Some(arn)) {
        signature.secret = value_of(secret::value(clients, &arn).await?);
        signature.secret_arn = Value::Null;
        ids.signing_secret_arn = Some(arn);
    }
    if let Some(group_id) = function_group {
        let vpc_id = security_groups::find(clients, &group_id).await?;
        ids.security_group_id = Some(group_id);
        match (managed_vpc, vpc_id) {
            (Some(managed), _) => {
                let subnets: Vec<String> = (mine.iter())
                    .filter(|object| object.kind == Kind::Subnet)
                    .map(|object| object.id.clone())
                    .collect();
                ids.set_managed_network(&network::ManagedNetwork {
                    subnet_ids: network::subnets_in_order(clients, &managed, &subnets).await?,
                    internet_gateway_id: pick(Kind::InternetGateway, None).map(id)?,
                    route_table_id: pick(Kind::RouteTable, None).map(id)?,
                    endpoint_security_group_id: group(Part::Endpoints)?,
                    secrets_endpoint_id: pick(Kind::VpcEndpoint, None).map(id)?,
                    vpc_id: Some(managed),
                });
            }
            (None, Some(vpc_id)) => {
                ids.vpc_id = Some(vpc_id.clone());
                ids.subnet_ids = post.subnet_ids.clone();
                // In a shared store's own network, as it places pipelines without a network block.
                let in_store_network = match &shared_store {
                    Some(store_name) => {
                        let store = shared::find(clients, store_name).await?;
                        store.vpc_id == vpc_id && store.subnet_ids == post.subnet_ids
                    }
                    None => false,
                };
                if !in_store_network {
                    state.network = Value::Value(NetworkBlock {
                        vpc_id: Value::Value(vpc_id),
                        subnet_ids: str_list(&post.subnet_ids),
                    });
                }
            }
            (None, None) => {}
        }
    }
    ids.record(&mut state);

    let tags = crate::aws::own_tags(&clients.default_tags, &main_queue.tags);
    let tags_all = crate::aws::tags_all(&clients.default_tags, &tags);
    state.tags = if tags.is_empty() {
        Value::Null
    } else {
        to_str_map(&tags)
    };
    state.tags_all = to_str_map(&tags_all);

    // refresh() fills ids, settings and drift from here.
    let Some(mut state) = refresh(clients, state).await? else {
        return Ok(None);
    };
    fill_defaults(&mut state);
    state.id = Value::Value(name.to_owned());
    state.endpoint_url = match (&api_id, &stage) {
        (Some(api_id), Some(stage)) => Value::Value(api::endpoint_url(clients, api_id, stage)),
        _ => Value::Null,
    };
    Ok(Some(state))
}
