//! Create and repair: [`ensure`] creates every object whose id is missing, independent ones
//! concurrently, recording each id in [`Ids`] as soon as it exists — so a create that fails
//! midway leaves state that `destroy` cleans up, and the next apply finishes the job.
//!
//! Order: managed network → DLQ, roles, function security group, API, log groups → queue, managed store
//! (secrets, role, group, volume, instance, then its snapshots' role and policy) → role policies → functions → mapping and route →
//! deployment → alarms → dashboard.

use std::collections::HashMap;
use std::future::Future;

use nami_contract::naming::{Function, Part};

use super::error::ApplyError;
use super::ids::{Ids, MissingId, need};
use super::spec::Spec;
use crate::aws::{AwsError, Clients};
use crate::components::functions::{self, environment};
use crate::components::store::{
    Connection, StoreKind, UriSource, instance, shared, snapshots, user_uri,
};
use crate::components::{
    Context, alarms, api, dashboard, iam, logs, mapping, network, queue, replay, secret,
    security_groups,
};

/// Runs `create` only when `id` is missing.
async fn when_missing<I, T>(
    id: &Option<I>,
    create: impl Future<Output = Result<T, AwsError>>,
) -> Option<Result<T, AwsError>> {
    match id {
        Some(_) => None,
        None => Some(create.await),
    }
}

/// Records the outcomes of concurrent creates: each id that was made, and the first error.
#[derive(Default)]
struct Outcomes {
    first_error: Option<AwsError>,
}

impl Outcomes {
    fn record<T>(&mut self, slot: &mut Option<T>, outcome: Option<Result<T, AwsError>>) {
        match outcome {
            Some(Ok(id)) => *slot = Some(id),
            Some(Err(error)) => {
                self.first_error.get_or_insert(error);
            }
            None => {}
        }
    }

    fn finish(self) -> Result<(), AwsError> {
        self.first_error.map_or(Ok(()), Err)
    }
}

/// Creates every object whose id `ids` lacks. `deployed` says whether the stage is deployed.
pub async fn ensure(
    ctx: Context<'_>,
    spec: &Spec,
    ids: &mut Ids,
    deployed: bool,
) -> Result<(), ApplyError> {
    // 0. Where the function and the store run. A shared store is looked up once per apply.
    let shared_store = match spec.store.shared() {
        Some(name) => Some(shared::find(ctx.clients, name).await?),
        None => None,
    };
    match &spec.network {
        network::Plan::Managed => {
            let mut managed = ids.managed_network();
            let result = network::create_managed(ctx, &mut managed).await;
            ids.set_managed_network(&managed);
            result?;
        }
        network::Plan::Existing(existing) => {
            if ids.security_group_id.is_none() {
                // Given ids are checked before anything is made in them.
                network::check_existing(ctx.clients, existing).await?;
            }
            ids.vpc_id = Some(existing.vpc_id.clone());
            ids.subnet_ids = existing.subnet_ids.clone();
        }
        network::Plan::SharedStore(_) => {
            let store = shared_store.as_ref().ok_or(MissingId("the shared store"))?;
            ids.vpc_id = Some(store.vpc_id.clone());
            ids.subnet_ids = store.subnet_ids.clone();
        }
        network::Plan::None => {}
    }
    if let (Some(store), network::Plan::Existing(existing)) = (&shared_store, &spec.network) {
        if store.vpc_id != existing.vpc_id {
            return Err(AwsError::Unusable(format!(
                "network.vpc_id {} is not the VPC of store {:?} ({}): a shared store is reached from its own VPC",
                existing.vpc_id, store.name, store.vpc_id
            ))
            .into());
        }
    }

    // 1. Nothing depends on these: the DLQ, both roles, the function's security group, the API,
    // the functions' log groups (which must exist before the functions: they may not make one).
    let function_group = async {
        match (&ids.vpc_id, spec.network.in_vpc()) {
            (Some(vpc_id), true) => {
                when_missing(
                    &ids.security_group_id,
                    security_groups::create_function_group(ctx, vpc_id),
                )
                .await
            }
            _ => None,
        }
    };
    // A signing secret or a connection string given by value goes into a secret of the
    // pipeline's own.
    let signing_secret = async {
        match spec.signature.secret.as_ref_option() {
            Some(value) => {
                let create = secret::create(ctx, Part::SigningSecret, value);
                when_missing(&ids.signing_secret_arn, create).await
            }
            None => None,
        }
    };
    let uri_secret = async {
        match &spec.store.kind {
            StoreKind::External(UriSource::Value(mongodb_uri)) => {
                let create = secret::create(ctx, Part::StoreUriSecret, mongodb_uri);
                when_missing(&ids.store_uri_secret_arn, create).await
            }
            StoreKind::External(UriSource::Secret(_))
            | StoreKind::Managed(_)
            | StoreKind::Shared(_) => None,
        }
    };
    let replay_table = async {
        match spec.signature.replay_window_seconds.as_ref_option() {
            Some(_) => when_missing(&ids.replay_table_arn, replay::create(ctx)).await,
            None => None,
        }
    };
    let log_group = |function| {
        let create = logs::create(ctx, function, spec.logs.retention_days);
        when_missing(ids.log_group_arn(function), create)
    };
    let log_groups = async {
        tokio::join!(
            log_group(Function::PreQueue),
            log_group(Function::PostQueue)
        )
    };
    let (dlq, pre_role, post_role, function_group, api_id, signing_secret, uri_secret, table, logs) = tokio::join!(
        when_missing(&ids.dlq, queue::create_dlq(ctx, &spec.queue)),
        when_missing(
            &ids.pre_queue_role_arn,
            iam::create_role(ctx, Function::PreQueue)
        ),
        when_missing(
            &ids.post_queue_role_arn,
            iam::create_role(ctx, Function::PostQueue)
        ),
        function_group,
        when_missing(&ids.api_id, api::create_api(ctx)),
        signing_secret,
        uri_secret,
        replay_table,
        log_groups,
    );
    let mut outcomes = Outcomes::default();
    outcomes.record(&mut ids.dlq, dlq);
    outcomes.record(&mut ids.pre_queue_role_arn, pre_role);
    outcomes.record(&mut ids.post_queue_role_arn, post_role);
    outcomes.record(&mut ids.security_group_id, function_group);
    outcomes.record(&mut ids.api_id, api_id);
    outcomes.record(&mut ids.signing_secret_arn, signing_secret);
    outcomes.record(&mut ids.store_uri_secret_arn, uri_secret);
    outcomes.record(&mut ids.replay_table_arn, table);
    outcomes.record(&mut ids.pre_queue_log_group_arn, logs.0);
    outcomes.record(&mut ids.post_queue_log_group_arn, logs.1);
    outcomes.finish()?;
    if let Some(arn) = replay_table_arn(spec, ids) {
        replay::ensure_ready(ctx, arn).await?;
    }

    // 2. The main queue redrives to the DLQ; the managed store needs the function's group.
    if ids.queue.is_none() {
        let dlq_arn = &ids.dlq.as_ref().ok_or(MissingId("dlq_arn"))?.arn;
        ids.queue = Some(queue::create_queue(ctx, &spec.queue, dlq_arn).await?);
    }
    ensure_store(ctx, spec, ids).await?;
    if let Some(store) = &shared_store {
        join_shared_store(ctx, spec, ids, store).await?;
    }
    if let Some(function_group) =
        (ids.security_group_id.as_deref()).filter(|_| spec.network.in_vpc())
    {
        let store_group = match &shared_store {
            Some(store) => Some(store.security_group_id.as_str()),
            None => spec
                .store
                .managed()
                .and(ids.store_security_group_id.as_deref()),
        };
        let uri = match &spec.store.kind {
            StoreKind::External(UriSource::Value(uri)) => Some(uri.clone()),
            StoreKind::External(UriSource::Secret(arn)) => {
                Some(secret::user_value(ctx.clients, arn).await?)
            }
            StoreKind::Managed(_) | StoreKind::Shared(_) => None,
        };
        let wanted =
            security_groups::function_egress(&spec.store.ports(uri.as_deref()), store_group);
        security_groups::limit_egress(ctx, function_group, &wanted).await?;
    }

    // 3. The roles' policies name the queue (and the secret); rewriting them is idempotent.
    let queue = ids.queue.clone().ok_or(MissingId("queue_arn"))?;
    let grants = iam::Grants {
        queue_arn: &queue.arn,
        secret_arn: signing_secret_arn(spec, ids),
        secret_customer_key: match spec.signature.secret_arn.as_ref_option() {
            Some(arn) => secret::uses_customer_key(ctx.clients, arn).await,
            None => false,
        },
        store_secret_arn: store_secret_arn(spec, ids),
        store_secret_customer_key: match &spec.store.kind {
            StoreKind::External(UriSource::Secret(arn)) => {
                secret::uses_customer_key(ctx.clients, arn).await
            }
            _ => false,
        },
        replay_table_arn: replay_table_arn(spec, ids),
        network: match &ids.security_group_id {
            Some(group) if spec.network.in_vpc() => Some(iam::NetworkGrant {
                subnet_ids: &ids.subnet_ids,
                security_group_id: group,
            }),
            _ => None,
        },
    };
    let policy = async |function| {
        let role_arn = need(ids.role_arn(function), "role_arn")?;
        tokio::try_join!(
            iam::put_trust(ctx, role_arn),
            iam::put_policy(ctx, function, role_arn, &grants)
        )
        .map(drop)
        .map_err(ApplyError::from)
    };
    tokio::try_join!(policy(Function::PreQueue), policy(Function::PostQueue))?;

    // 4. Both functions.
    let connection = store_connection(ctx.clients, spec, ids, shared_store.as_ref()).await?;
    let environments = environments(spec, ids, &queue.url, &connection);
    let placement = match &ids.security_group_id {
        Some(group) if spec.network.in_vpc() => Some(functions::Placement {
            subnet_ids: &ids.subnet_ids,
            security_group_id: group,
        }),
        _ => None,
    };
    let roles = HashMap::from([
        (
            Function::PreQueue,
            need(&ids.pre_queue_role_arn, "pre_queue_role_arn")?.to_owned(),
        ),
        (
            Function::PostQueue,
            need(&ids.post_queue_role_arn, "post_queue_role_arn")?.to_owned(),
        ),
    ]);
    let create_function = |function: Function, placement| {
        let (role_arn, environment) = (&roles[&function], environments[&function].clone());
        let settings = spec.function(function);
        functions::create(ctx, function, role_arn, settings, environment, placement)
    };
    let (pre_function, post_function) = tokio::join!(
        when_missing(
            &ids.pre_queue_function_arn,
            create_function(Function::PreQueue, None)
        ),
        when_missing(
            &ids.post_queue_function_arn,
            create_function(Function::PostQueue, placement.clone())
        ),
    );
    let pre_function_created = matches!(pre_function, Some(Ok(_)));
    let mut outcomes = Outcomes::default();
    outcomes.record(&mut ids.pre_queue_function_arn, pre_function);
    outcomes.record(&mut ids.post_queue_function_arn, post_function);
    outcomes.finish()?;

    // 5. The mapping feeds the post-queue function; the API's route invokes the pre-queue one.
    let api_id = need(&ids.api_id, "api_id")?.to_owned();
    let pre_function_arn = need(&ids.pre_queue_function_arn, "pre_queue_function_arn")?.to_owned();
    // arn:aws:iam::<account>:role/…: the account the API's invoke permission names.
    let account = iam::account_of(need(&ids.pre_queue_role_arn, "pre_queue_role_arn")?)
        .ok_or(MissingId("the account in pre_queue_role_arn"))?
        .to_owned();
    let route = async {
        let resource = when_missing(
            &ids.api_resource_id,
            api::create_route(ctx, &api_id, &pre_function_arn),
        )
        .await;
        if matches!(resource, Some(Err(_))) {
            return resource;
        }
        // A new route, or a re-created function (whose permissions went with it), needs the
        // permission to invoke.
        if resource.is_some() || pre_function_created {
            let source = api::invoke_source_arn(ctx.clients, &account, &api_id, &spec.api.stage);
            let allowed = api::allow_invoke(ctx, &source, &pre_function_arn).await;
            if let Err(error) = allowed {
                return Some(Err(error));
            }
        }
        resource
    };
    let (mapping_id, route) = tokio::join!(
        when_missing(
            &ids.mapping_id,
            mapping::create(ctx, &queue.arn, &spec.mapping)
        ),
        route,
    );
    let mut outcomes = Outcomes::default();
    outcomes.record(&mut ids.mapping_id, mapping_id);
    outcomes.record(&mut ids.api_resource_id, route);
    outcomes.finish()?;
    if !deployed {
        api::deploy(ctx, &api_id, &spec.api.stage).await?;
    }
    ensure_alarms(ctx, spec, ids).await?;
    if spec.dashboard {
        let alarm_arns = ids.alarm_arns.values().cloned();
        ids.dashboard_url = Some(dashboard::ensure(ctx, &spec.api.stage, alarm_arns).await?);
    }
    // The last step: both queues say the pipeline is complete (see crate::ownership).
    let dlq_url = &ids.dlq.as_ref().ok_or(MissingId("dlq_url"))?.url;
    tokio::try_join!(
        queue::mark_complete(ctx.clients, &queue.url),
        queue::mark_complete(ctx.clients, dlq_url),
    )?;
    Ok(())
}

/// Makes the alarms that do not exist yet, when the pipeline has alarms.
async fn ensure_alarms(ctx: Context<'_>, spec: &Spec, ids: &mut Ids) -> Result<(), AwsError> {
    if !spec.alarms.enabled {
        return Ok(());
    }
    let missing =
        (alarms::Alarm::ALL.into_iter()).filter(|alarm| !ids.alarm_arns.contains_key(alarm));
    let made = alarms::put(ctx, missing, &spec.alarms, &spec.api.stage).await?;
    ids.alarm_arns.extend(made);
    Ok(())
}

/// Creates the managed store's missing parts: its password secrets (generated here, written
/// only to Secrets Manager), its role and instance profile (reading exactly those secrets), its
/// security group, data volume and instance.
pub async fn ensure_store(ctx: Context<'_>, spec: &Spec, ids: &mut Ids) -> Result<(), ApplyError> {
    let Some(settings) = spec.store.managed() else {
        return Ok(());
    };
    let new_secret =
        |part| async move { secret::create(ctx, part, &secret::generate_password()).await };
    let (root, writer, role) = tokio::join!(
        when_missing(
            &ids.store_root_secret_arn,
            new_secret(Part::StoreRootSecret)
        ),
        when_missing(
            &ids.store_writer_secret_arn,
            new_secret(Part::StoreWriterSecret)
        ),
        when_missing(&ids.store_role_arn, iam::create_store_role(ctx)),
    );
    let mut outcomes = Outcomes::default();
    outcomes.record(&mut ids.store_root_secret_arn, root);
    outcomes.record(&mut ids.store_writer_secret_arn, writer);
    outcomes.record(&mut ids.store_role_arn, role);
    outcomes.finish()?;
    let root_secret_arn = need(&ids.store_root_secret_arn, "store_root_secret_arn")?;
    let writer_secret_arn = need(&ids.store_writer_secret_arn, "store_writer_secret_arn")?;
    let role_arn = need(&ids.store_role_arn, "store_role_arn")?;
    iam::put_store_policy(ctx, role_arn, &[root_secret_arn, writer_secret_arn]).await?;
    let instance_profile = iam::ensure_instance_profile(ctx, role_arn).await?;
    let vpc_id = need(&ids.vpc_id, "vpc_id")?.to_owned();
    let subnet_id = ids
        .subnet_ids
        .first()
        .cloned()
        .ok_or(MissingId("subnet_ids"))?;
    if ids.store_security_group_id.is_none() {
        ids.store_security_group_id =
            Some(security_groups::create_store_group(ctx, &vpc_id).await?);
    }
    let store_group = need(&ids.store_security_group_id, "store_security_group_id")?;
    let function_group = need(&ids.security_group_id, "security_group_id")?;
    security_groups::admit_function(ctx, store_group, function_group).await?;
    if ids.data_volume_id.is_none() {
        ids.data_volume_id = Some(instance::make_data_volume(ctx, &subnet_id, settings).await?);
    }
    let volume_id = need(&ids.data_volume_id, "data_volume_id")?;
    if ids.instance_id.is_none() {
        let boot = instance::Boot {
            volume_id,
            root_secret_arn,
            writer: Some(instance::Writer {
                database: &spec.store.database,
                secret_arn: writer_secret_arn,
            }),
            shared_store: None,
        };
        let placement = instance::Placement {
            subnet_id: &subnet_id,
            security_group_id: store_group,
            public_ip: spec.network == network::Plan::Managed,
            instance_profile: &instance_profile,
        };
        ids.instance_id = Some(instance::launch(ctx, settings, boot, placement).await?);
    }
    // A new instance, or one an interrupted create launched, gets the volume.
    let instance_id = need(&ids.instance_id, "instance_id")?;
    instance::ensure_attached(ctx, volume_id, instance_id).await?;
    if let Some(retention_days) = settings.snapshot_retention_days {
        ensure_snapshots(ctx, ids, retention_days).await?;
    }
    Ok(())
}

/// Joins the shared store: the pipeline's writer secret (its database user's password, tagged so
/// the store's instance makes the user) and the store's group admitting the function.
async fn join_shared_store(
    ctx: Context<'_>,
    spec: &Spec,
    ids: &mut Ids,
    store: &shared::SharedStore,
) -> Result<(), ApplyError> {
    if ids.store_writer_secret_arn.is_none() {
        let password = secret::generate_password();
        let arn = secret::create(ctx, Part::StoreWriterSecret, &password).await?;
        ids.store_writer_secret_arn = Some(arn);
    }
    let writer = need(&ids.store_writer_secret_arn, "store_writer_secret_arn")?;
    shared::register_tenant(ctx, writer, &store.name, &spec.store.database).await?;
    let function_group = need(&ids.security_group_id, "security_group_id")?;
    security_groups::admit_function(ctx, &store.security_group_id, function_group).await?;
    Ok(())
}

/// Makes the managed store's daily snapshots exist: the role (its policy naming the data
/// volume, rewritten every apply), the volume's target tag, then the policy itself.
async fn ensure_snapshots(
    ctx: Context<'_>,
    ids: &mut Ids,
    retention_days: i32,
) -> Result<(), ApplyError> {
    if ids.snapshot_role_arn.is_none() {
        ids.snapshot_role_arn = Some(iam::create_snapshot_role(ctx).await?);
    }
    let role_arn = need(&ids.snapshot_role_arn, "snapshot_role_arn")?;
    let volume_id = need(&ids.data_volume_id, "data_volume_id")?;
    iam::put_snapshot_policy(ctx, role_arn, volume_id).await?;
    snapshots::target(ctx, volume_id).await?;
    if ids.snapshot_policy_id.is_none() {
        ids.snapshot_policy_id = Some(snapshots::create(ctx, role_arn, retention_days).await?);
    }
    Ok(())
}

/// The ARN the pre-queue function reads its signing secret from: the pipeline's own secret (a
/// secret given by value), or the user's.
pub fn signing_secret_arn<'a>(spec: &'a Spec, ids: &'a Ids) -> Option<&'a str> {
    match spec.signature.secret_arn.as_ref_option() {
        Some(arn) => Some(arn),
        None => (ids.signing_secret_arn.as_deref()).filter(|_| spec.signature.secret.is_value()),
    }
}

/// The replay window's table, when the signature block sets a window.
pub fn replay_table_arn<'a>(spec: &Spec, ids: &'a Ids) -> Option<&'a str> {
    (ids.replay_table_arn.as_deref()).filter(|_| spec.signature.replay_window_seconds.is_value())
}

/// The secret the post-queue function reads at start: the one holding the connection string, or
/// the managed store's writer secret.
pub fn store_secret_arn<'a>(spec: &'a Spec, ids: &'a Ids) -> Option<&'a str> {
    match &spec.store.kind {
        StoreKind::External(UriSource::Value(_)) => ids.store_uri_secret_arn.as_deref(),
        StoreKind::External(UriSource::Secret(arn)) => Some(arn),
        StoreKind::Managed(_) | StoreKind::Shared(_) => ids.store_writer_secret_arn.as_deref(),
    }
}

/// How the post-queue function connects: the connection string's secret, or the managed or
/// shared store instance's address (without a password) and the writer secret. `shared_store`:
/// the shared store if the caller has looked it up already.
pub async fn store_connection(
    clients: &Clients,
    spec: &Spec,
    ids: &Ids,
    shared_store: Option<&shared::SharedStore>,
) -> Result<Connection, ApplyError> {
    match &spec.store.kind {
        StoreKind::External(UriSource::Value(_)) => Ok(Connection::UriSecret(
            need(&ids.store_uri_secret_arn, "store_uri_secret_arn")?.to_owned(),
        )),
        StoreKind::External(UriSource::Secret(arn)) => Ok(Connection::UriSecret(arn.clone())),
        StoreKind::Managed(_) => {
            let instance_id = need(&ids.instance_id, "instance_id")?;
            // The instance was made or found by this apply: gone now, it cannot be connected to.
            let facts = instance::find_instance(clients, instance_id)
                .await?
                .filter(|facts| !facts.private_ip.is_empty())
                .ok_or(MissingId("the store instance's private address"))?;
            Ok(Connection::Managed {
                uri: crate::components::store::managed_uri(&facts.private_ip, &spec.store.database),
                password_secret_arn: need(&ids.store_writer_secret_arn, "store_writer_secret_arn")?
                    .to_owned(),
            })
        }
        StoreKind::Shared(name) => {
            let store = match shared_store {
                Some(store) => store.clone(),
                None => shared::find(clients, name).await?,
            };
            let user = shared::tenant_user(&spec.name);
            Ok(Connection::Managed {
                uri: user_uri(&user, &store.private_ip, &spec.store.database),
                password_secret_arn: need(&ids.store_writer_secret_arn, "store_writer_secret_arn")?
                    .to_owned(),
            })
        }
    }
}

/// Both functions' environments.
pub fn environments(
    spec: &Spec,
    ids: &Ids,
    queue_url: &str,
    connection: &Connection,
) -> HashMap<Function, HashMap<String, String>> {
    // The function reads a secret given by value from the pipeline's secret, by its ARN.
    let mut signature = spec.signature.clone();
    if signature.secret.is_value() {
        signature.secret = tf_provider::value::Value::Null;
        signature.secret_arn =
            crate::model::value_of(signing_secret_arn(spec, ids).map(str::to_owned));
    }
    HashMap::from([
        (
            Function::PreQueue,
            environment::pre_queue(
                &spec.name,
                queue_url,
                spec.queue.max_message_bytes,
                &signature,
                replay_table_arn(spec, ids).map(replay::name_in),
            ),
        ),
        (
            Function::PostQueue,
            environment::post_queue(
                &spec.name,
                spec.store.environment(connection, spec.post_queue.timeout),
            ),
        ),
    ])
}
