//! Finding a pipeline by its name: the one lookup that import, the data sources and the local
//! data plane (`nami-local`) share. It reads the objects the provider names `nami-<name>…`
//! (see `nami_contract::naming`).

use nami_contract::naming::Function;

use crate::aws::{AwsError, Clients};
use crate::components::functions::{self, FunctionFacts};
use crate::components::queue::{self, QueueFacts};
use crate::components::{api, mapping};

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
    let (pre_queue, post_queue, (api, binary_media_types), (queue, dlq)) = tokio::try_join!(
        functions::find(clients, name, Function::PreQueue),
        functions::find(clients, name, Function::PostQueue),
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
