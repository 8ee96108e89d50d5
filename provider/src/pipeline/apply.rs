//! One apply, for create and update alike: create what is missing ([`super::create`]), then
//! converge the rest ([`super::update`]), within the operation's timeout. State keeps every id
//! made, whatever happens.

use std::time::Duration;

use tf_provider::Diagnostics;
use tf_provider::value::Value;
use tokio::time::Instant;

use super::claim::claim;
use super::create::ensure;
use super::ids::{Ids, MissingId};
use super::spec::Spec;
use super::update::{converge, retire_replaced_instance};
use crate::aws::Clients;
use crate::components::{Context, Owner, api};
use crate::model::PipelineState;
use crate::ownership;

/// Creates what is missing and converges the rest, within `timeout`; errors go to `diags` and
/// `state` keeps every id created so far. `prior` is the state before an update.
pub async fn apply(
    clients: &Clients,
    prior: Option<&PipelineState>,
    state: &mut PipelineState,
    timeout: Duration,
    diags: &mut Diagnostics,
) {
    if prior.is_none() {
        // A create: a fresh token, whatever an interrupted earlier create generated.
        state.owner_token = Value::Value(ownership::generate_token());
    }
    let spec = match Spec::from_state(state) {
        Ok(spec) => spec,
        Err(error) => {
            diags.root_error("Invalid pipeline configuration", error.to_string());
            return;
        }
    };
    let ctx = Context {
        clients,
        kind: Owner::Pipeline,
        name: &spec.name,
        tags: &spec.tags,
        owner: spec.owner.as_deref(),
        deadline: Instant::now() + timeout,
    };
    let mut ids = Ids::from_state(state);
    // A route made anew (its resource id missing) goes live only with a new deployment.
    let deployed = state.endpoint_url.is_value() && ids.api_resource_id.is_some();
    let work = async {
        match prior {
            None => claim(ctx, &mut ids).await?,
            Some(prior) => retire_replaced_instance(ctx, prior, &ids).await?,
        }
        ensure(ctx, &spec, &mut ids, deployed).await?;
        converge(ctx, &spec, prior, &mut ids).await
    };
    let outcome = tokio::time::timeout(timeout, work).await;
    ids.record(state);
    state.id = Value::Value(spec.name.clone());
    match (outcome, &ids.api_id) {
        (Ok(Ok(())), Some(api_id)) => {
            state.endpoint_url = Value::Value(api::endpoint_url(clients, api_id, &spec.api.stage));
        }
        (Ok(Ok(())), None) => diags.root_error(
            "Applying the pipeline failed",
            MissingId("api_id").to_string(),
        ),
        (Ok(Err(error)), _) => diags.root_error("Applying the pipeline failed", error.to_string()),
        (Err(_), _) => diags.root_error(
            "Applying the pipeline timed out",
            format!("not finished within {timeout:?}"),
        ),
    }
    if state.endpoint_url.is_unknown() {
        state.endpoint_url = Value::Null;
    }
}
