//! The `nami_webhook_pipeline` resource: orchestration only. Each AWS component lives in
//! `crate::components`; this module turns Terraform's calls into their order:
//!
//! - [`plan`]: defaults, validation, what replaces, which ids a plan shows unknown;
//! - [`ids`]: the typed ids derived from state once — every object is acted on by its id;
//! - [`apply`] → [`create`] (what is missing, independent objects concurrently) then
//!   [`update`] (what differs); [`delete`] (reverse order); [`read`] (refresh and import).

pub mod apply;
pub mod claim;
pub mod create;
pub mod delete;
pub mod error;
pub mod ids;
pub mod plan;
pub mod read;
pub mod schema;
pub mod spec;
pub mod update;

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use tf_provider::schema::Schema;
use tf_provider::value::{Value, ValueEmpty};
use tf_provider::{AttributePath, Diagnostics, Resource};
use tokio::time::Instant;

use crate::aws::Clients;
use crate::model::PipelineState;
use crate::timeouts::Timeouts;

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

#[async_trait]
impl Resource for PipelineResource {
    type State<'a> = PipelineState;
    type PrivateState<'a> = ValueEmpty;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(schema::schema())
    }

    async fn validate<'a>(&self, diags: &mut Diagnostics, config: Self::State<'a>) -> Option<()> {
        plan::validate_config(&config, diags);
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
        match read::refresh(clients, state.clone()).await {
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
        plan::plan_create(&clients.default_tags, &mut state, diags);
        plan::check_endpoints(&clients.endpoints, &state, diags);
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
        let replace = plan::plan_update(
            &clients.default_tags,
            &prior_state,
            &config_state,
            &mut state,
            diags,
        );
        plan::check_endpoints(&clients.endpoints, &state, diags);
        Some((state, prior_private_state, replace))
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
        // Nothing exists yet: every id is made by this apply.
        ids::Ids::default().record(&mut state);
        state.endpoint_url = Value::Null;
        let timeout = Timeouts::of(&state.timeouts).create;
        apply::apply(clients, None, &mut state, timeout, diags).await;
        if ids::Ids::from_state(&state) == ids::Ids::default() {
            // Nothing was made (a name taken, a bad configuration): nothing to record.
            return None;
        }
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
        // Unknown ids are the objects to re-create: the apply starts from the ones that exist.
        if state.endpoint_url.is_unknown() {
            state.endpoint_url = Value::Null;
        }
        let timeout = Timeouts::of(&state.timeouts).update;
        apply::apply(clients, Some(&prior_state), &mut state, timeout, diags).await;
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
        let timeout = Timeouts::of(&state.timeouts).delete;
        let deadline = Instant::now() + timeout;
        match tokio::time::timeout(timeout, delete::teardown(clients, &state, deadline)).await {
            Ok(Ok(foreign)) => {
                for object in foreign {
                    diags.root_warning(
                        "Left an object the pipeline does not own",
                        format!(
                            "{object} is named in state but carries another pipeline's owner token (or none): it was not deleted"
                        ),
                    );
                }
                Some(())
            }
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
        match read::import(clients, &id).await {
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
