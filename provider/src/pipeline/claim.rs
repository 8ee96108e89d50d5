//! A create's first step, before it makes anything: what already answers to the pipeline's name
//! decides (see [`crate::ownership`]). Nothing: the create goes on. Objects of a complete
//! pipeline, or not made by Nami for this name: refused, nothing created. The leftovers of an
//! interrupted create (Terraform kept no state for it): adopted — re-tagged with this create's
//! token and recorded, so the create finishes them instead of making second copies — and what it
//! cannot use (a second copy, a leftover REST API) is removed.

use std::collections::BTreeMap;

use nami_contract::naming::{Function, Part, object_name};

use super::delete::{Scope, remove};
use super::error::ApplyError;
use super::ids::Ids;
use super::update::retag;
use crate::aws::TagChange;
use crate::components::alarms::Alarm;
use crate::components::{Context, dashboard, mapping, network, queue};
use crate::lookup::inventory;
use crate::ownership::{Claim, Kind, Tagged, judge};

/// Rounds of removing second copies; each removes one of every kind.
const REMOVAL_ROUNDS: usize = 4;

/// Checks the pipeline's name before a create and adopts the leftovers of an interrupted one
/// into `ids`.
pub async fn claim(ctx: Context<'_>, ids: &mut Ids) -> Result<(), ApplyError> {
    let found = inventory(ctx.clients, ctx.name).await?;
    let leftovers = match judge(ctx.name, &found) {
        Claim::Free => return Ok(()),
        Claim::Taken(taken) => return Err(taken.into()),
        Claim::Leftovers(leftovers) => leftovers,
    };
    tracing::info!(
        pipeline = ctx.name,
        count = leftovers.len(),
        "adopting the leftovers of an interrupted create"
    );
    let mut rest: Vec<Tagged> = leftovers.into_iter().cloned().collect();
    let adopted = adopt(ctx, &mut rest).await?;
    let change = TagChange::new(&BTreeMap::new(), ctx.object_tags());
    retag(ctx, &adopted, &change).await?;
    *ids = adopted;
    for _ in 0..REMOVAL_ROUNDS {
        if rest.is_empty() {
            break;
        }
        let extras = one_of_each(&mut rest);
        let everything = Scope {
            data_volume: true,
            network: extras.has_managed_network(),
            log_groups: true,
        };
        remove(ctx, &extras, everything).await?;
    }
    Ok(())
}

/// Takes the first object of `kind` (named `name`, when given) out of `rest`.
fn take(rest: &mut Vec<Tagged>, kind: Kind, name: Option<&str>) -> Option<String> {
    let index = rest.iter().position(|object| {
        object.kind == kind
            && name.is_none_or(|name| object.tags.get("Name").map(String::as_str) == Some(name))
    })?;
    Some(rest.remove(index).id)
}

/// The ids to adopt, one of each kind, taken out of `rest`. Leftover REST APIs are not adopted
/// (their tags cannot be changed everywhere, and a new one costs nothing): they stay in `rest`.
async fn adopt(ctx: Context<'_>, rest: &mut Vec<Tagged>) -> Result<Ids, ApplyError> {
    let clients = ctx.clients;
    let mut ids = Ids::default();
    for (kind, slot) in [
        (Kind::Queue, &mut ids.queue),
        (Kind::DeadLetterQueue, &mut ids.dlq),
    ] {
        if let Some(url) = take(rest, kind, None) {
            *slot = queue::find(clients, &url)
                .await?
                .map(|facts| facts.ids)
                .filter(|ids| !ids.arn.is_empty());
        }
    }
    for function in Function::ALL {
        let role = take(rest, Kind::Role(function), None);
        let arn = take(rest, Kind::Function(function), None);
        match function {
            Function::PreQueue => {
                (ids.pre_queue_role_arn, ids.pre_queue_function_arn) = (role, arn)
            }
            Function::PostQueue => {
                (ids.post_queue_role_arn, ids.post_queue_function_arn) = (role, arn)
            }
        }
    }
    let group_name = |part| object_name(ctx.name, part);
    ids.security_group_id = take(
        rest,
        Kind::SecurityGroup,
        Some(&group_name(Part::Function(Function::PostQueue))),
    );
    ids.store_security_group_id = take(rest, Kind::SecurityGroup, Some(&group_name(Part::Store)));
    ids.instance_id = take(rest, Kind::Instance, None);
    ids.data_volume_id = take(rest, Kind::Volume, None);
    ids.store_role_arn = take(rest, Kind::StoreRole, None);
    ids.store_root_secret_arn = take(rest, Kind::Secret(Part::StoreRootSecret), None);
    ids.store_writer_secret_arn = take(rest, Kind::Secret(Part::StoreWriterSecret), None);
    ids.signing_secret_arn = take(rest, Kind::Secret(Part::SigningSecret), None);
    ids.store_uri_secret_arn = take(rest, Kind::Secret(Part::StoreUriSecret), None);
    ids.replay_table_arn = take(rest, Kind::ReplayTable, None);
    ids.snapshot_role_arn = take(rest, Kind::SnapshotRole, None);
    ids.snapshot_policy_id = take(rest, Kind::SnapshotPolicy, None);
    ids.pre_queue_log_group_arn = take(rest, Kind::LogGroup(Function::PreQueue), None);
    ids.post_queue_log_group_arn = take(rest, Kind::LogGroup(Function::PostQueue), None);
    for alarm in Alarm::ALL {
        if let Some(arn) = take(rest, Kind::Alarm(alarm), None) {
            ids.alarm_arns.insert(alarm, arn);
        }
    }
    ids.dashboard_url =
        take(rest, Kind::Dashboard, None).map(|_| dashboard::url(&ctx.clients.region, ctx.name));
    if let Some(vpc_id) = take(rest, Kind::Vpc, None) {
        let candidates: Vec<String> = (rest.iter())
            .filter(|object| object.kind == Kind::Subnet)
            .map(|object| object.id.clone())
            .collect();
        let subnets = network::subnets_in_order(clients, &vpc_id, &candidates).await?;
        rest.retain(|object| !subnets.contains(&object.id));
        ids.set_managed_network(&network::ManagedNetwork {
            vpc_id: Some(vpc_id),
            subnet_ids: subnets,
            internet_gateway_id: take(rest, Kind::InternetGateway, None),
            route_table_id: take(rest, Kind::RouteTable, None),
            endpoint_security_group_id: take(
                rest,
                Kind::SecurityGroup,
                Some(&group_name(Part::Endpoints)),
            ),
            secrets_endpoint_id: take(rest, Kind::VpcEndpoint, None),
        });
    }
    if let (Some(queue), Some(_)) = (&ids.queue, &ids.post_queue_function_arn) {
        let found = mapping::find_for(clients, ctx.name, &queue.arn).await?;
        ids.mapping_id = found.map(|facts| facts.uuid);
    }
    Ok(ids)
}

/// One object of every kind out of `rest`, as ids to remove (all subnets at once).
fn one_of_each(rest: &mut Vec<Tagged>) -> Ids {
    let url = |rest: &mut Vec<Tagged>, kind| {
        take(rest, kind, None).map(|url| queue::QueueIds {
            url,
            arn: String::new(),
        })
    };
    let mut ids = Ids {
        api_id: take(rest, Kind::Api, None),
        queue: url(rest, Kind::Queue),
        dlq: url(rest, Kind::DeadLetterQueue),
        pre_queue_role_arn: take(rest, Kind::Role(Function::PreQueue), None),
        post_queue_role_arn: take(rest, Kind::Role(Function::PostQueue), None),
        pre_queue_function_arn: take(rest, Kind::Function(Function::PreQueue), None),
        post_queue_function_arn: take(rest, Kind::Function(Function::PostQueue), None),
        instance_id: take(rest, Kind::Instance, None),
        data_volume_id: take(rest, Kind::Volume, None),
        store_role_arn: take(rest, Kind::StoreRole, None),
        store_root_secret_arn: take(rest, Kind::Secret(Part::StoreRootSecret), None),
        store_writer_secret_arn: take(rest, Kind::Secret(Part::StoreWriterSecret), None),
        signing_secret_arn: take(rest, Kind::Secret(Part::SigningSecret), None),
        store_uri_secret_arn: take(rest, Kind::Secret(Part::StoreUriSecret), None),
        replay_table_arn: take(rest, Kind::ReplayTable, None),
        snapshot_role_arn: take(rest, Kind::SnapshotRole, None),
        snapshot_policy_id: take(rest, Kind::SnapshotPolicy, None),
        pre_queue_log_group_arn: take(rest, Kind::LogGroup(Function::PreQueue), None),
        post_queue_log_group_arn: take(rest, Kind::LogGroup(Function::PostQueue), None),
        security_group_id: take(rest, Kind::SecurityGroup, None),
        store_security_group_id: take(rest, Kind::SecurityGroup, None),
        vpc_id: take(rest, Kind::Vpc, None),
        internet_gateway_id: take(rest, Kind::InternetGateway, None),
        route_table_id: take(rest, Kind::RouteTable, None),
        secrets_endpoint_id: take(rest, Kind::VpcEndpoint, None),
        endpoint_security_group_id: take(rest, Kind::SecurityGroup, None),
        // Everything in `rest` was tagged by a create of this pipeline: its own network.
        managed_network: true,
        ..Ids::default()
    };
    for alarm in Alarm::ALL {
        if let Some(arn) = take(rest, Kind::Alarm(alarm), None) {
            ids.alarm_arns.insert(alarm, arn);
        }
    }
    while let Some(subnet) = take(rest, Kind::Subnet, None) {
        ids.subnet_ids.push(subnet);
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(kind: Kind, id: &str) -> Tagged {
        Tagged::new(kind, id, [])
    }

    #[test]
    fn second_copies_are_removed_one_of_each_kind_per_round() {
        let mut rest = vec![
            object(Kind::Vpc, "vpc-1"),
            object(Kind::Vpc, "vpc-2"),
            object(Kind::Subnet, "subnet-1"),
            object(Kind::Subnet, "subnet-2"),
            object(Kind::Api, "api-1"),
        ];
        let first = one_of_each(&mut rest);
        assert_eq!(first.vpc_id.as_deref(), Some("vpc-1"));
        assert_eq!(first.subnet_ids, ["subnet-1", "subnet-2"]);
        assert_eq!(first.api_id.as_deref(), Some("api-1"));
        let second = one_of_each(&mut rest);
        assert_eq!(second.vpc_id.as_deref(), Some("vpc-2"));
        assert!(rest.is_empty());
    }
}
