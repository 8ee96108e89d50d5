//! The Nami Terraform provider: `nami_webhook_pipeline` and its data sources.
//!
//! Layers, each depending only on those below it:
//! - [`provider`], [`data_sources`], [`docs`]: what Terraform and the registry see;
//! - [`pipeline`]: the resource, orchestrating the components (plan, create, update, delete,
//!   read, import);
//! - [`lookup`]: a pipeline found by name (import and the data sources);
//! - [`components`]: one module per AWS component, owning all of it;
//! - [`model`] (the state's shape), [`schema`] and [`check`] (attribute and validation
//!   helpers), [`aws`] (the AWS-call boilerplate), [`artifacts`] (the functions' code);
//! - the shared contract, `nami_contract`.

pub mod artifacts;
pub mod aws;
pub mod check;
pub mod components;
pub mod data_sources;
pub mod docs;
pub mod lookup;
pub mod model;
pub mod mongodb_store;
pub mod ownership;
pub mod pipeline;
pub mod provider;
pub mod schema;
pub mod timeouts;
