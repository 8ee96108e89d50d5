//! The `nami_mongodb_store` resource: a managed MongoDB several pipelines store into. Like
//! [`crate::pipeline`], orchestration only: the AWS components are `crate::components`' (the
//! same network, security group, secret, role, volume, instance and snapshots a pipeline's
//! inline store uses), acting for a store ([`crate::components::Owner::Store`]).
//!
//! - [`state`]: the state, schema, defaults, plan-time checks, what replaces;
//! - [`apply`]: create and update; [`read`]: refresh and import; [`delete`]: destroy.

pub mod apply;
pub mod delete;
pub mod read;
pub mod state;

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use tf_provider::schema::Schema;
use tf_provider::value::ValueEmpty;
use tf_provider::{AttributePath, Diagnostics, Resource};

use crate::aws::Clients;
use crate::timeouts::Timeouts;
use state::StoreState;

/// The resource, sharing the clients `configure` builds.
#[derive(Debug, Clone)]
pub struct MongodbStoreResource {
    clients: Arc<OnceLock<Clients>>,
}

impl MongodbStoreResource {
    /// The resource, reading clients from `clients` once the provider is configured.
    pub fn new(clients: Arc<OnceLock<Clients>>) -> Self {
        MongodbStoreResource { clients }
    }

    fn clients(&self, diags: &mut Diagnostics) -> Option<&Clients> {
        crate::aws::configured(&self.clients, diags)
    }
}

#[async_trait]
impl Resource for MongodbStoreResource {
    type State<'a> = StoreState;
    type PrivateState<'a> = ValueEmpty;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(state::schema())
    }

    async fn validate<'a>(&self, diags: &mut Diagnostics, config: Self::State<'a>) -> Option<()> {
        state::validate(&config, diags);
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
                diags.root_error("Reading the store failed", error.to_string());
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
        state::plan_create(&clients.default_tags, &mut state, diags);
        Some((state, ValueEmpty::default()))
    }

    async fn plan_update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior_state: Self::State<'a>,
        proposed_state: Self::State<'a>,
        _config_state: Self::State<'a>,
        prior_private_state: Self::PrivateState<'a>,
        _provider_meta_state: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>, Vec<AttributePath>)> {
        let clients = self.clients(diags)?;
        let mut state = proposed_state;
        let replace = state::plan_update(&clients.default_tags, &prior_state, &mut state, diags);
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
        let timeout = Timeouts::of(&state.timeouts).create;
        apply::apply(clients, None, &mut state, timeout, diags).await;
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
        match tokio::time::timeout(timeout, delete::teardown(clients, &state, timeout)).await {
            Ok(Ok(())) => Some(()),
            Ok(Err(error)) => {
                diags.root_error("Deleting the store failed", error.to_string());
                None
            }
            Err(_) => {
                diags.root_error(
                    "Deleting the store timed out",
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
                    "Store not found",
                    format!("no Nami store named {id:?} in {}", clients.region),
                );
                None
            }
            Err(error) => {
                diags.root_error("Importing the store failed", error.to_string());
                None
            }
        }
    }
}
