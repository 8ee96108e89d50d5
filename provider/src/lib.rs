//! The Nami Terraform provider: `nami_webhook_pipeline` and its data sources.
//!
//! [`provider`] holds the provider block and `configure`; [`pipeline`] the resource, which
//! orchestrates one module per AWS component in [`components`]; [`aws`] the AWS-call boilerplate;
//! [`docs`] renders the registry documentation from the schemas.

pub mod artifacts;
pub mod aws;
pub mod components;
pub mod data_sources;
pub mod docs;
pub mod pipeline;
pub mod provider;
