//! One module per AWS component of the pipeline, each owning its create, read, update and delete.
//! The resource (`crate::pipeline`) orchestrates them.

pub mod api;
pub mod functions;
pub mod iam;
pub mod network;
pub mod queue;
pub mod store;

use std::collections::BTreeMap;

use tokio::time::Instant;

use crate::aws::Clients;

/// What every component call needs: the clients, the pipeline's name and tags, and the deadline
/// set by the resource's `timeouts`.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub clients: &'a Clients,
    pub name: &'a str,
    pub tags: &'a BTreeMap<String, String>,
    pub deadline: Instant,
}

impl Context<'_> {
    /// The AWS name of one of the pipeline's objects: `nami-<name>[-<part>]`.
    pub fn object_name(&self, part: &str) -> String {
        object_name(self.name, part)
    }
}

/// `nami-<pipeline>` or `nami-<pipeline>-<part>`.
pub fn object_name(pipeline: &str, part: &str) -> String {
    if part.is_empty() {
        format!("nami-{pipeline}")
    } else {
        format!("nami-{pipeline}-{part}")
    }
}
