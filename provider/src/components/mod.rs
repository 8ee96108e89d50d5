//! One module per AWS component of the pipeline. Each owns everything about its objects: its
//! settings (in AWS's types), schema attributes, defaults and validation, create, update,
//! delete, find/wait, reading live facts back into state, drift, and its part of import.
//!
//! Components depend only downward: on [`crate::aws`], [`crate::model`] (the state's shape),
//! [`crate::schema`], [`crate::check`] and the contract — never on `crate::pipeline`, which
//! orchestrates them.

pub mod alarms;
pub mod api;
pub mod dashboard;
pub mod functions;
pub mod iam;
pub mod logs;
pub mod mapping;
pub mod network;
pub mod queue;
pub mod replay;
pub mod secret;
pub mod security_groups;
pub mod store;

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use nami_contract::naming::{self, Part};
use tokio::time::Instant;

use crate::aws::{AwsError, Clients, TagChange, aws_error, tags_all};

/// Whose objects a component call makes and acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A `nami_webhook_pipeline`: objects `nami-<name>…`, tagged `nami:pipeline`.
    Pipeline,
    /// A `nami_mongodb_store`: objects `nami-store-<name>…`, tagged `nami:store` (the context's
    /// name is the stem, `store-<name>`).
    Store,
}

/// What every component call needs: the clients, the owner's name and tags, and the deadline
/// set by the resource's `timeouts`.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The AWS clients.
    pub clients: &'a Clients,
    /// Whose objects these are.
    pub kind: Owner,
    /// The pipeline's name, or the store's stem (`store-<name>`): what names start with after
    /// `nami-`.
    pub name: &'a str,
    /// The resource's own tags (without default tags).
    pub tags: &'a BTreeMap<String, String>,
    /// The owner token every object of this pipeline carries (`None`: a state from before
    /// tokens; see [`crate::ownership`]).
    pub owner: Option<&'a str>,
    /// When the current operation must be done.
    pub deadline: Instant,
}

/// The AWS name of one of an owner's objects, `name` being a pipeline's name or a store's stem.
/// A store's instance, group and role are the store itself (`nami-store-<name>`), its root secret
/// `nami-store-<name>-root`.
pub fn object_name(kind: Owner, name: &str, part: Part) -> String {
    match (kind, part) {
        (Owner::Store, Part::Store) => naming::object_name(name, Part::Main),
        (Owner::Store, Part::StoreRootSecret) => format!("nami-{name}-root"),
        _ => naming::object_name(name, part),
    }
}

impl Context<'_> {
    /// The AWS name of one of the owner's objects ([`object_name`]).
    pub fn object_name(&self, part: Part) -> String {
        object_name(self.kind, self.name, part)
    }

    /// How AWS descriptions name the owner: `Nami pipeline <name>` or `Nami store <name>`.
    pub fn describe(&self) -> String {
        match self.kind {
            Owner::Pipeline => format!("Nami pipeline {}", self.name),
            Owner::Store => format!("Nami store {}", self.owner_name()),
        }
    }

    /// The owner's own name (a store's without its stem's prefix).
    pub fn owner_name(&self) -> &str {
        match self.kind {
            Owner::Pipeline => self.name,
            Owner::Store => (self.name)
                .strip_prefix(naming::STORE_PREFIX)
                .unwrap_or(self.name),
        }
    }

    /// The tag holding the owner's name: `nami:pipeline` or `nami:store`.
    pub fn owner_tag(&self) -> &'static str {
        match self.kind {
            Owner::Pipeline => naming::PIPELINE_TAG,
            Owner::Store => naming::STORE_TAG,
        }
    }

    /// Tags of an object of the owner: `tags_all`, then Nami's own (name and owner token).
    pub fn object_tags(&self) -> BTreeMap<String, String> {
        let mut all = tags_all(&self.clients.default_tags, self.tags);
        all.insert(self.owner_tag().to_owned(), self.owner_name().to_owned());
        if let Some(owner) = self.owner {
            all.insert(naming::OWNER_TAG.to_owned(), owner.to_owned());
        }
        all
    }

    /// EC2 tags of an object of `resource_type` named `name` (EC2 shows `Name`).
    pub fn ec2_tags(&self, resource_type: ResourceType, name: &str) -> TagSpecification {
        let mut tags = self.object_tags();
        tags.insert("Name".into(), name.into());
        TagSpecification::builder()
            .resource_type(resource_type)
            .set_tags(Some(ec2_tags(&tags)))
            .build()
    }
}

/// The EC2 filter for objects tagged with shared store `store`'s name.
pub fn store_tagged_with(store: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{}", naming::STORE_TAG))
        .values(store)
        .build()
}

/// The EC2 filter for objects tagged with `pipeline`'s name.
pub fn tagged_with(pipeline: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{}", naming::PIPELINE_TAG))
        .values(pipeline)
        .build()
}

/// EC2 tags as a map.
pub fn ec2_tag_map(tags: Option<Vec<Tag>>) -> BTreeMap<String, String> {
    tags.unwrap_or_default()
        .into_iter()
        .filter_map(|tag| Some((tag.key?, tag.value.unwrap_or_default())))
        .collect()
}

fn ec2_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Adds one tag to EC2 object `resource_id`.
pub async fn add_ec2_tag(
    clients: &Clients,
    resource_id: &str,
    key: &str,
    value: String,
) -> Result<(), AwsError> {
    let change = TagChange {
        tags: [(key.to_owned(), value)].into(),
        removed: Vec::new(),
    };
    retag_ec2(clients, &[resource_id.to_owned()], &change).await
}

/// Applies a tag change to EC2 objects (keeping their `Name`).
pub async fn retag_ec2(
    clients: &Clients,
    resource_ids: &[String],
    change: &TagChange,
) -> Result<(), AwsError> {
    if resource_ids.is_empty() {
        return Ok(());
    }
    let ec2 = &clients.ec2;
    change
        .apply(
            async |tags| {
                ec2.create_tags()
                    .set_resources(Some(resource_ids.to_vec()))
                    .set_tags(Some(ec2_tags(tags)))
                    .send()
                    .await
                    .map_err(aws_error("ec2:CreateTags"))
            },
            async |removed| {
                let keys = removed.iter().map(|k| Tag::builder().key(k).build());
                ec2.delete_tags()
                    .set_resources(Some(resource_ids.to_vec()))
                    .set_tags(Some(keys.collect()))
                    .send()
                    .await
                    .map_err(aws_error("ec2:DeleteTags"))
            },
        )
        .await
}
