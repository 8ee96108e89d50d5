//! The settings of every component, resolved once from a planned state (defaults applied, all
//! known) at apply time.

use std::collections::BTreeMap;

use nami_contract::naming::Function;

use crate::components::{alarms, api, functions, logs, mapping, network, queue, store};
use crate::model::{PipelineState, SettingsError, SignatureBlock, known, string_map};
use crate::timeouts::Timeouts;

/// Everything the components need to create and update a pipeline.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The pipeline's name.
    pub name: String,
    /// The resource's own tags.
    pub tags: BTreeMap<String, String>,
    /// The owner token every object carries (`None`: a state from before tokens).
    pub owner: Option<String>,
    /// The REST API's stage.
    pub api: api::Settings,
    /// How the pre-queue function verifies senders.
    pub signature: SignatureBlock,
    /// Both queues.
    pub queue: queue::Settings,
    /// The pre-queue function.
    pub pre_queue: functions::Settings,
    /// The post-queue function.
    pub post_queue: functions::Settings,
    /// The event source mapping.
    pub mapping: mapping::Settings,
    /// The store.
    pub store: store::Settings,
    /// Where the post-queue function runs.
    pub network: network::Plan,
    /// The functions' log groups.
    pub logs: logs::Settings,
    /// The alarms.
    pub alarms: alarms::Settings,
    /// Whether the pipeline has its dashboard.
    pub dashboard: bool,
    /// Bounds of create, update and delete.
    pub timeouts: Timeouts,
}

impl Spec {
    /// Resolves a planned state.
    pub fn from_state(state: &PipelineState) -> Result<Spec, SettingsError> {
        Ok(Spec {
            name: known(&state.name, "name")?,
            tags: string_map(&state.tags),
            owner: state.owner_token.as_ref_option().cloned(),
            api: api::Settings::from_state(state)?,
            signature: known(&state.signature, "signature")?,
            queue: queue::Settings::from_state(state)?,
            pre_queue: functions::Settings::from_state(state, Function::PreQueue)?,
            post_queue: functions::Settings::from_state(state, Function::PostQueue)?,
            mapping: mapping::Settings::from_state(state)?,
            store: store::Settings::from_state(state)?,
            network: network::Plan::from_state(state)?,
            logs: logs::Settings::from_state(state)?,
            alarms: alarms::Settings::from_state(state)?,
            dashboard: known(&state.dashboard, "dashboard")?,
            timeouts: Timeouts::of(&state.timeouts),
        })
    }

    /// `function`'s settings.
    pub fn function(&self, function: Function) -> &functions::Settings {
        match function {
            Function::PreQueue => &self.pre_queue,
            Function::PostQueue => &self.post_queue,
        }
    }
}
