//! Finding a pipeline by its name: the one lookup that import, the data sources and the local
//! data plane (`nami-local`) share. It reads the objects the provider names `nami-<name>…`
//! (see `nami_contract::naming`).

use nami_contract::naming::{Function, PIPELINE_TAG, Part, object_name};

use crate::aws::{AwsError, Clients, aws_error};
use crate::components::functions::{self, FunctionFacts};
use crate::components::queue::{self, QueueFacts};
use crate::components::store::{instance, snapshots};
use crate::components::{
    alarms, api, dashboard, iam, logs, mapping, network, replay, secret, security_groups,
};
use crate::ownership::{Kind, Tagged};

/// A pipeline as found by name: whatever of it exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundPipeline {
    /// The pipeline's name.
    pub name: String,
    /// The pre-queue function (a pipeline is found when it exists).
    pub pre_queue: FunctionFacts,
    /// The post-queue function.
    pub post_queue: Option<FunctionFacts>,
    /// The REST API, with what it reports.
    pub api: Option<api::ApiFacts>,
    /// The REST API's binary media types.
    pub binary_media_types: Vec<String>,
    /// The main queue.
    pub queue: Option<QueueFacts>,
    /// The dead-letter queue.
    pub dlq: Option<QueueFacts>,
    /// The mapping from the main queue to the post-queue function.
    pub mapping: Option<mapping::MappingFacts>,
}

impl FoundPipeline {
    /// The stage the API is deployed to (its first).
    pub fn stage(&self) -> Option<&str> {
        self.api.as_ref()?.stages.first().map(String::as_str)
    }

    /// The URL webhooks are posted to, when the API is deployed.
    pub fn endpoint_url(&self, clients: &Clients) -> Option<String> {
        let api = self.api.as_ref()?;
        Some(api::endpoint_url(clients, &api.api_id, self.stage()?))
    }
}

/// Everything answering to pipeline `name`, with its tags: the objects named after it (queues,
/// roles, functions, APIs) and those tagged with it (the EC2 parts). What a create must not
/// collide with, and what an apply, a read or a destroy may act on (see [`crate::ownership`]).
pub async fn inventory(clients: &Clients, name: &str) -> Result<Vec<Tagged>, AwsError> {
    let (
        queues,
        roles,
        functions,
        apis,
        network,
        groups,
        store,
        secrets,
        tables,
        log_groups,
        alarms,
        dashboard,
    ) = tokio::try_join!(
        queue::inventory(clients, name),
        iam::inventory(clients, name),
        functions::inventory(clients, name),
        api::inventory(clients, name),
        network::inventory(clients, name),
        security_groups::inventory(clients, name),
        instance::inventory(clients, name),
        secret::inventory(clients, name),
        replay::inventory(clients, name),
        logs::inventory(clients, name),
        alarms::inventory(clients, name),
        dashboard::inventory(clients, name),
    )?;
    let snapshot_role = roles.iter().any(|role| role.kind == Kind::SnapshotRole);
    let policies = snapshots::inventory(clients, name, snapshot_role).await?;
    Ok([
        queues, roles, functions, apis, network, groups, store, secrets, tables, policies,
        log_groups, alarms, dashboard,
    ]
    .concat())
}

/// Pipeline `name`, or `None` when it has no pre-queue function.
pub async fn find_pipeline(
    clients: &Clients,
    name: &str,
) -> Result<Option<FoundPipeline>, AwsError> {
    let api = async {
        match api::find_by_name(clients, name).await? {
            Some(named) => Ok((
                api::find(clients, &named.api_id).await?,
                named.binary_media_types,
            )),
            None => Ok((None, Vec::new())),
        }
    };
    let function_name = |function| object_name(name, Part::Function(function));
    let (pre_name, post_name) = (
        function_name(Function::PreQueue),
        function_name(Function::PostQueue),
    );
    let (pre_queue, post_queue, (api, binary_media_types), (queue, dlq)) = tokio::try_join!(
        functions::find(clients, &pre_name),
        functions::find(clients, &post_name),
        api,
        queue::find_by_name(clients, name),
    )?;
    let Some(pre_queue) = pre_queue else {
        return Ok(None);
    };
    let mapping = match &queue {
        Some(facts) => mapping::find_for(clients, name, &facts.ids.arn).await?,
        None => None,
    };
    Ok(Some(FoundPipeline {
        name: name.to_owned(),
        pre_queue,
        post_queue,
        api,
        binary_media_types,
        queue,
        dlq,
        mapping,
    }))
}

/// A pipeline as listed: its name and its queues' URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPipeline {
    /// The pipeline's name.
    pub name: String,
    /// Its main queue.
    pub queue_url: String,
    /// Its dead-letter queue, if it exists.
    pub dlq_url: Option<String>,
}

/// Every pipeline in the account and region, by name: found by the `nami:pipeline` tag on its
/// main queue (`nami-<name>`).
pub async fn pipeline_queues(clients: &Clients) -> Result<Vec<ListedPipeline>, AwsError> {
    let urls = clients
        .sqs
        .list_queues()
        .queue_name_prefix("nami-")
        .send()
        .await
        .map_err(aws_error("sqs:ListQueues"))?
        .queue_urls
        .unwrap_or_default();
    let named = |name: &str| urls.iter().find(|url| url.ends_with(&format!("/{name}")));
    let mut pipelines = Vec::new();
    for url in &urls {
        let tags = queue::all_tags(clients, url).await?;
        let Some(pipeline) = tags.get(PIPELINE_TAG) else {
            continue;
        };
        if !url.ends_with(&format!("/{}", object_name(pipeline, Part::Main))) {
            continue;
        }
        pipelines.push(ListedPipeline {
            name: pipeline.clone(),
            queue_url: url.clone(),
            dlq_url: named(&object_name(pipeline, Part::DeadLetterQueue)).cloned(),
        });
    }
    pipelines.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(pipelines)
}
