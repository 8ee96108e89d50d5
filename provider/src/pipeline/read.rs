//! Read and import. [`refresh`] reads every object back by its id: found ones write their live
//! settings into state, gone ones clear their id (so the next plan re-creates them). [`import`]
//! finds a pipeline by name, rebuilds its configuration from what AWS holds, then refreshes.

use nami_contract::naming::Function;
use tf_provider::value::Value;

use super::ids::{Ids, with_id};
use super::plan::fill_defaults;
use crate::aws::{AwsError, Clients};
use crate::components::functions::{self, environment};
use crate::components::security_groups::{self, Group};
use crate::components::store::{self, instance};
use crate::components::{api, iam, mapping, network, queue};
use crate::lookup::find_pipeline;
use crate::model::{
    NetworkBlock, PipelineState, PostQueueBlock, PreQueueBlock, QueueBlock, TimeoutsBlock,
    str_list, to_str_map, value_of,
};

/// Reads every object back; clears the ids of objects that are gone, records drift.
/// `None` when the pipeline is gone altogether.
pub async fn refresh(
    clients: &Clients,
    mut state: PipelineState,
) -> Result<Option<PipelineState>, AwsError> {
    let ids = Ids::from_state(&state);
    let name = state.name.as_ref_option().cloned().unwrap_or_default();
    let url = |queue: &Option<queue::QueueIds>| queue.as_ref().map(|q| q.url.clone());
    let (queue_url, dlq_url) = (url(&ids.queue), url(&ids.dlq));
    let (queue_facts, dlq_facts, pre_role, post_role, pre, post, mapping_facts, api_facts, group) =
        tokio::try_join!(
            with_id(queue_url.as_deref(), |url| queue::find(clients, url)),
            with_id(dlq_url.as_deref(), |url| queue::find(clients, url)),
            iam::find_role(clients, &name, Function::PreQueue),
            iam::find_role(clients, &name, Function::PostQueue),
            functions::find(clients, &name, Function::PreQueue),
            functions::find(clients, &name, Function::PostQueue),
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

    queue::read_back(queue_facts.as_ref(), dlq_facts.as_ref(), &mut state);
    iam::read_back(Function::PreQueue, pre_role, &mut state);
    iam::read_back(Function::PostQueue, post_role, &mut state);
    functions::read_back(Function::PreQueue, pre.as_ref(), &mut state);
    functions::read_back(Function::PostQueue, post.as_ref(), &mut state);
    mapping::read_back(mapping_facts.as_ref(), &mut state);
    api::read_back(api_facts.as_ref(), &mut state);
    security_groups::read_back(Group::Function, group.is_some(), &mut state);
    Ok(Some(state))
}

/// Reconstructs the full state of the pipeline named `name` from AWS.
pub async fn import(clients: &Clients, name: &str) -> Result<Option<PipelineState>, AwsError> {
    let Some(found) = find_pipeline(clients, name).await? else {
        return Ok(None);
    };
    let Some(post) = &found.post_queue else {
        return Ok(None);
    };
    let (function_group, store_group, managed_store, managed_network) = tokio::try_join!(
        security_groups::find_by_name(clients, name, Group::Function),
        security_groups::find_by_name(clients, name, Group::Store),
        instance::find_by_name(clients, name),
        network::find_managed(clients, name),
    )?;

    let mut state = PipelineState {
        name: Value::Value(name.to_owned()),
        stage: value_of(found.stage().map(str::to_owned)),
        signature: Value::Value(environment::signature_from(&found.pre_queue.environment)),
        store: Value::Value(store::from_environment(
            &post.environment,
            managed_store.as_ref(),
        )),
        pre_queue: Value::Value(PreQueueBlock::default()),
        post_queue: Value::Value(PostQueueBlock::default()),
        queue: Value::Value(QueueBlock::default()),
        timeouts: Value::Value(TimeoutsBlock::default()),
        network: Value::Value(NetworkBlock::default()),
        ..Default::default()
    };
    let mut ids = Ids {
        api_id: found.api.as_ref().map(|a| a.api_id.clone()),
        api_resource_id: found.api.as_ref().and_then(|a| a.resource_id.clone()),
        queue: found.queue.as_ref().map(|q| q.ids.clone()),
        dlq: found.dlq.as_ref().map(|q| q.ids.clone()),
        mapping_id: found.mapping.as_ref().map(|m| m.uuid.clone()),
        store_security_group_id: managed_store.as_ref().and(store_group.map(|(id, _)| id)),
        instance_id: managed_store.as_ref().map(|m| m.instance_id.clone()),
        data_volume_id: managed_store.as_ref().and_then(|m| m.volume_id.clone()),
        ..Ids::default()
    };
    if let Some((group_id, vpc_id)) = function_group {
        ids.security_group_id = Some(group_id);
        ids.vpc_id = Some(vpc_id.clone());
        ids.subnet_ids = post.subnet_ids.clone();
        match managed_network {
            Some(managed) if managed.vpc_id.as_deref() == Some(vpc_id.as_str()) => {
                ids.set_managed_network(&managed)
            }
            _ => {
                state.network = Value::Value(NetworkBlock {
                    vpc_id: Value::Value(vpc_id),
                    subnet_ids: str_list(&post.subnet_ids),
                })
            }
        }
    }
    ids.record(&mut state);

    let tags = match &found.queue {
        Some(facts) => queue::own_tags(clients, &facts.ids.url).await?,
        None => Default::default(),
    };
    let tags_all = crate::aws::tags_all(&clients.default_tags, &tags);
    state.tags = if tags.is_empty() {
        Value::Null
    } else {
        to_str_map(&tags)
    };
    state.tags_all = to_str_map(&tags_all);

    // read() fills ids, settings and drift from here.
    let Some(mut state) = refresh(clients, state).await? else {
        return Ok(None);
    };
    fill_defaults(&mut state);
    state.id = Value::Value(name.to_owned());
    state.endpoint_url = value_of(found.endpoint_url(clients));
    Ok(Some(state))
}
