//! Read and import. [`refresh`] reads every object back by its id: found ones write their live
//! settings into state; gone ones, and ones that no longer carry the pipeline's owner token,
//! clear their id (so the next plan re-creates them). [`import`] finds a pipeline by name,
//! rebuilds its configuration from what AWS holds, then refreshes.

use nami_contract::naming::{Function, OWNER_TAG};
use tf_provider::value::Value;

use super::ids::{Ids, with_id};
use super::plan::fill_defaults;
use crate::aws::{AwsError, Clients};
use crate::components::functions::{self, environment};
use crate::components::security_groups::{self, Group};
use crate::components::store::{self, instance};
use crate::components::{api, iam, mapping, network, queue};
use crate::lookup::{find_pipeline, inventory};
use crate::model::{
    NetworkBlock, PipelineState, PostQueueBlock, PreQueueBlock, QueueBlock, TimeoutsBlock,
    str_list, to_str_map, value_of,
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
    let url = |queue: &Option<queue::QueueIds>| queue.as_ref().map(|q| q.url.clone());
    let (queue_url, dlq_url) = (url(&ids.queue), url(&ids.dlq));
    let (pre_arn, post_arn) = (
        ids.pre_queue_function_arn.as_deref(),
        ids.post_queue_function_arn.as_deref(),
    );
    let (queue_facts, dlq_facts, pre, post, mapping_facts, api_facts, group) = tokio::try_join!(
        with_id(queue_url.as_deref(), |url| queue::find(clients, url)),
        with_id(dlq_url.as_deref(), |url| queue::find(clients, url)),
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

/// Reconstructs the full state of the pipeline named `name` from AWS.
pub async fn import(clients: &Clients, name: &str) -> Result<Option<PipelineState>, AwsError> {
    let Some(found) = find_pipeline(clients, name).await? else {
        return Ok(None);
    };
    let Some(post) = &found.post_queue else {
        return Ok(None);
    };
    let (roles, function_group, store_group, managed_store, managed_network) = tokio::try_join!(
        iam::inventory(clients, name),
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
        pre_queue_function_arn: Some(found.pre_queue.arn.clone()),
        post_queue_function_arn: Some(post.arn.clone()),
        pre_queue_role_arn: role_arn(&roles, Function::PreQueue),
        post_queue_role_arn: role_arn(&roles, Function::PostQueue),
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

    let all_tags = match &found.queue {
        Some(facts) => queue::all_tags(clients, &facts.ids.url).await?,
        None => Default::default(),
    };
    // The objects carrying the queue's token are the pipeline's (refresh drops the others).
    state.owner_token = value_of(all_tags.get(OWNER_TAG).cloned());
    let tags = queue::own_tags(&clients.default_tags, &all_tags);
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

/// The ARN of `function`'s role among `roles`.
fn role_arn(roles: &[Tagged], function: Function) -> Option<String> {
    (roles.iter())
        .find(|role| role.kind == Kind::Role(function))
        .map(|role| role.id.clone())
}
