//! Plan rules: defaults, validation, which changes replace the pipeline, and which ids a plan
//! shows as unknown (objects to create) or null (objects this configuration does not use).

use std::collections::BTreeMap;

use nami_contract::naming::is_valid_pipeline_name;
use tf_provider::value::Value;
use tf_provider::{AttributePath, Diagnostics};

use super::ids::id_fields;
use crate::aws::Endpoints;
use crate::check::Checker;
use crate::components::functions::{self, signature};
use crate::components::{alarms, api, dashboard, logs, mapping, network, queue, store};
use crate::model::{PipelineState, StoreBlock, block, string_map, to_str_map};
use crate::timeouts;

/// Fills every unset optional-computed attribute with its default. The post-queue function's
/// timeout comes before the queue's visibility timeout, which derives from it.
pub fn fill_defaults(state: &mut PipelineState) {
    api::fill_defaults(state);
    signature::fill_defaults(state);
    functions::fill_defaults(state);
    mapping::fill_defaults(state);
    queue::fill_defaults(state);
    store::fill_defaults(state);
    logs::fill_defaults(state);
    alarms::fill_defaults(state);
    dashboard::fill_defaults(state);
}

/// Checks every known value; each problem is reported at its attribute.
pub fn validate(state: &PipelineState, diags: &mut Diagnostics) {
    let mut check = Checker::new(diags);
    if let Some(name) = state.name.as_ref_option() {
        check.that(
            is_valid_pipeline_name(name),
            AttributePath::new("name"),
            "Invalid pipeline name",
            format!(
                "{name:?}: use 1–{} lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen (names starting with store- are kept for nami_mongodb_store's objects)",
                nami_contract::limits::PIPELINE_NAME_MAX_LEN
            ),
        );
    }
    api::validate(state, &mut check);
    signature::validate(state, &mut check);
    functions::validate(state, &mut check);
    mapping::validate(state, &mut check);
    queue::validate(state, &mut check);
    logs::validate(state, &mut check);
    alarms::validate(state, &mut check);
    store::validate(state, &mut check);
    network::validate(state, &mut check);
    timeouts::validate(&state.timeouts, &mut check);
}

/// Checks a configuration: every value, and what only the configuration can tell (a plan
/// carries computed values over from the prior state).
pub fn validate_config(config: &PipelineState, diags: &mut Diagnostics) {
    validate(config, diags);
    let mut check = Checker::new(diags);
    store::validate_config(config, &mut check);
    signature::validate_config(config, &mut check);
}

/// The AWS services the provider calls for a pipeline like `state`: every pipeline's (CloudWatch
/// Logs for the functions' log groups among them), EC2 for a
/// VPC (the user's or the managed store's), SSM for the managed store's machine image, Secrets
/// Manager for the secrets the pipeline keeps (every pipeline has one), DynamoDB for a replay
/// window, Data Lifecycle Manager for the managed store's snapshots.
pub fn services(state: &PipelineState) -> Vec<&'static str> {
    let mut services = vec!["apigateway", "iam", "lambda", "logs", "sqs"];
    let managed_store = managed_store(state) == Some(true);
    let user_network = (state.network.as_ref_option()).is_some_and(|n| n.vpc_id.is_value());
    if managed_store || user_network {
        services.push("ec2");
    }
    // The machine image; a secret kept as an SSM parameter (described for its key, read for
    // the store's ports).
    let parameter = |arn: Option<&String>| arn.is_some_and(|arn| arn.starts_with("arn:aws:ssm:"));
    let signature = state.signature.as_ref_option();
    let store = state.store.as_ref_option();
    if managed_store
        || parameter(signature.and_then(|s| s.secret_arn.as_ref_option()))
        || parameter(store.and_then(|s| s.mongodb_uri_secret_arn.as_ref_option()))
    {
        services.push("ssm");
    }
    // The signing secret given by value, the connection string, the managed store's passwords.
    services.push("secretsmanager");
    let replay =
        (state.signature.as_ref_option()).is_some_and(|s| !s.replay_window_seconds.is_null());
    if replay {
        services.push("dynamodb");
    }
    if managed_store && snapshots(state) {
        services.push("dlm");
    }
    if alarms::enabled(state) || dashboard::enabled(state) {
        services.push("cloudwatch");
    }
    services
}

/// Whether the managed store keeps daily snapshots (`store.snapshot_retention_days` set).
fn snapshots(state: &PipelineState) -> bool {
    (state.store.as_ref_option()).is_some_and(|s| !s.snapshot_retention_days.is_null())
}

/// With a partial `endpoints {}` block, the services this pipeline calls that would go to AWS
/// itself: an error at plan, before a call hangs on an endpoint the user did not mean.
pub fn check_endpoints(endpoints: &Endpoints, state: &PipelineState, diags: &mut Diagnostics) {
    let missing = endpoints.missing(&services(state));
    if !missing.is_empty() {
        let list = missing.join(", ");
        diags.root_error(
            "Endpoint missing",
            format!(
                "this pipeline calls {list}, which the provider's endpoints {{}} block does not override (it overrides {}): \
                 those calls would go to AWS itself. Add {list} to endpoints {{}}, or remove the block to use AWS for every service",
                endpoints.overridden().join(", ")
            ),
        );
    }
}

/// Fills defaults, `tags_all` and the artifacts' hashes of a plan; reports invalid values.
pub fn plan_settings(
    default_tags: &BTreeMap<String, String>,
    state: &mut PipelineState,
    diags: &mut Diagnostics,
) {
    fill_defaults(state);
    validate(state, diags);
    let tags_all = crate::aws::tags_all(default_tags, &string_map(&state.tags));
    state.tags_all = if state.tags.is_unknown() {
        Value::Unknown
    } else {
        to_str_map(&tags_all)
    };
    functions::plan_code_hashes(state, diags);
}

/// Plans a pipeline created from nothing: every id unknown, then the unused ones cleared.
pub fn plan_create(
    default_tags: &BTreeMap<String, String>,
    state: &mut PipelineState,
    diags: &mut Diagnostics,
) {
    for field in id_fields(state) {
        *field = Value::Unknown;
    }
    state.subnet_ids = Value::Unknown;
    state.id = Value::Unknown;
    state.endpoint_url = Value::Unknown;
    state.owner_token = Value::Unknown;
    state.alarm_arns = Value::Unknown;
    state.dashboard_url = Value::Unknown;
    plan_settings(default_tags, state, diags);
    clear_unused(state);
}

/// Plans an update of `prior` to `state` (the proposed state, changed in place). Returns the
/// attributes whose change replaces the pipeline; empty for an update in place.
pub fn plan_update(
    default_tags: &BTreeMap<String, String>,
    prior: &PipelineState,
    config: &PipelineState,
    state: &mut PipelineState,
    diags: &mut Diagnostics,
) -> Vec<AttributePath> {
    queue::follow_defaults(config, state);
    logs::follow_defaults(config, state);
    alarms::follow_defaults(config, state);
    dashboard::follow_defaults(config, state);
    plan_settings(default_tags, state, diags);
    store::plan_change(prior, state, &mut Checker::new(diags));
    let replace = replacing_changes(prior, state);
    if !replace.is_empty() {
        if managed_store(state) != managed_store(prior) {
            // The new store's settings are the configuration's, not the old store's carried over.
            let configured = config.store.as_ref_option().cloned().unwrap_or_default();
            let store = block(&mut state.store);
            store.instance_type = configured.instance_type;
            store.image = configured.image;
            store.volume_size = configured.volume_size;
            store.retain_volume = configured.retain_volume;
            store.snapshot_retention_days = configured.snapshot_retention_days;
        }
        plan_create(default_tags, state, diags);
        return replace;
    }

    // An object deleted out of band (its id cleared by read) is re-created: show it as unknown.
    for field in id_fields(state) {
        if field.is_null() {
            *field = Value::Unknown;
        }
    }
    if state.subnet_ids.is_null() {
        state.subnet_ids = Value::Unknown;
    }
    // Alarms deleted out of band (or newly enabled) are made again.
    let all_alarms = (state.alarm_arns.as_ref_option()).map_or(0, |arns| arns.len());
    if all_alarms < alarms::Alarm::ALL.len() {
        state.alarm_arns = Value::Unknown;
    }
    // A dashboard deleted out of band (or newly enabled) is made again.
    if state.dashboard_url.is_null() {
        state.dashboard_url = Value::Unknown;
    }
    // A store password made anew (its secret deleted out of band, or a state from before the
    // secrets) reaches MongoDB only through a new instance: the instance is replaced.
    if managed_store(state) == Some(true)
        && (state.store_root_secret_arn.is_unknown() || state.store_writer_secret_arn.is_unknown())
    {
        state.instance_id = Value::Unknown;
    }
    clear_unused(state);
    // The URL names the API and the stage: only a new API or stage changes it.
    if state.api_id.is_unknown() || state.stage != prior.stage || state.endpoint_url.is_null() {
        state.endpoint_url = Value::Unknown;
    }
    Vec::new()
}

fn managed_store(state: &PipelineState) -> Option<bool> {
    state.store.as_ref_option().map(StoreBlock::is_managed)
}

/// The changes that replace the pipeline: its name, its VPC, or the kind of store.
pub fn replacing_changes(prior: &PipelineState, planned: &PipelineState) -> Vec<AttributePath> {
    let mut replace = Vec::new();
    if planned.name != prior.name {
        replace.push(AttributePath::new("name"));
    }
    let vpc = |s: &PipelineState| {
        s.network
            .as_ref_option()
            .map(|n| n.vpc_id.clone())
            .unwrap_or_default()
    };
    if vpc(planned) != vpc(prior) {
        replace.push(AttributePath::new("network").attribute("vpc_id"));
    }
    let store = |s: &PipelineState| s.store.as_ref_option().cloned().unwrap_or_default();
    let (before, after) = (store(prior), store(planned));
    // Another shared store, or one joined or left: a new pipeline (its user, its place).
    if before.shared != after.shared {
        replace.push(AttributePath::new("store").attribute("shared"));
    }
    if managed_store(planned) != managed_store(prior) {
        // Terraform replaces only for a path whose value changes: name the connection string
        // attribute that was set or cleared (the managed store is neither being set).
        if before.mongodb_uri != after.mongodb_uri {
            replace.push(AttributePath::new("store").attribute("mongodb_uri"));
        }
        if before.mongodb_uri_secret_arn != after.mongodb_uri_secret_arn {
            replace.push(AttributePath::new("store").attribute("mongodb_uri_secret_arn"));
        }
    }
    replace
}

/// Clears the ids this configuration does not use (no VPC, no managed network or store).
pub fn clear_unused(state: &mut PipelineState) {
    let managed_store = managed_store(state) == Some(true);
    let shared_store = (state.store.as_ref_option()).is_some_and(StoreBlock::is_shared);
    let existing_network = state
        .network
        .as_ref_option()
        .is_some_and(|n| n.vpc_id.is_value());
    if !(managed_store || shared_store || existing_network) {
        state.security_group_id = Value::Null;
        state.vpc_id = Value::Null;
        state.subnet_ids = Value::Null;
    }
    if !managed_store || existing_network {
        state.internet_gateway_id = Value::Null;
        state.route_table_id = Value::Null;
        state.endpoint_security_group_id = Value::Null;
        state.secrets_endpoint_id = Value::Null;
    }
    if existing_network {
        let network = state.network.as_ref_option().cloned().unwrap_or_default();
        state.vpc_id = network.vpc_id;
        state.subnet_ids = network.subnet_ids;
    }
    if !managed_store {
        state.store_security_group_id = Value::Null;
        state.instance_id = Value::Null;
        state.data_volume_id = Value::Null;
        state.store_role_arn = Value::Null;
        state.store_root_secret_arn = Value::Null;
    }
    // The writer's password: the managed store's, or the pipeline's user in a shared store.
    if !(managed_store || shared_store) {
        state.store_writer_secret_arn = Value::Null;
    }
    // Only a connection string given by value is kept in a secret of the pipeline's.
    let uri_by_value = (state.store.as_ref_option()).is_some_and(|s| !s.mongodb_uri.is_null());
    if !uri_by_value {
        state.store_uri_secret_arn = Value::Null;
    }
    // Only a signing secret given by value is kept in a secret of the pipeline's.
    let by_value = (state.signature.as_ref_option()).is_some_and(|s| !s.secret.is_null());
    if !by_value {
        state.signing_secret_arn = Value::Null;
    }
    let replay =
        (state.signature.as_ref_option()).is_some_and(|s| !s.replay_window_seconds.is_null());
    if !replay {
        state.replay_table_arn = Value::Null;
    }
    if !(managed_store && snapshots(state)) {
        state.snapshot_role_arn = Value::Null;
        state.snapshot_policy_id = Value::Null;
    }
    if !alarms::enabled(state) {
        state.alarm_arns = Value::Null;
    }
    if !dashboard::enabled(state) {
        state.dashboard_url = Value::Null;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NetworkBlock, PostQueueBlock, SignatureBlock};

    fn errors(state: &PipelineState) -> Vec<String> {
        let mut diags = Diagnostics::default();
        validate_config(state, &mut diags);
        diags
            .errors
            .iter()
            .map(|d| format!("{}: {}", d.summary, d.detail))
            .collect()
    }

    fn valid() -> PipelineState {
        let mut state = PipelineState {
            name: Value::Value("orders".into()),
            signature: Value::Value(SignatureBlock {
                scheme: Value::Value("github".into()),
                secret: Value::Value("s".into()),
                ..Default::default()
            }),
            store: Value::Value(StoreBlock {
                mongodb_uri: Value::Value("mongodb://db:27017".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        fill_defaults(&mut state);
        state
    }

    fn managed(mut state: PipelineState) -> PipelineState {
        block(&mut state.store).mongodb_uri = Value::Null;
        fill_defaults(&mut state);
        state
    }

    #[test]
    fn defaults_are_valid_and_derived() {
        let state = valid();
        assert!(errors(&state).is_empty(), "{:?}", errors(&state));
        let queue = state.queue.as_ref_option().unwrap();
        assert_eq!(queue.visibility_timeout_seconds, Value::Value(180));
        assert_eq!(
            state.store.as_ref_option().unwrap().collection,
            Value::Value("orders".into())
        );
        assert_eq!(
            state.post_queue.as_ref_option().unwrap().max_concurrency,
            Value::Value(mapping::MAX_CONCURRENCY.default)
        );
    }

    #[test]
    fn bad_values_are_named() {
        let mut state = managed(valid());
        state.name = Value::Value("Orders_1".into());
        block(&mut state.post_queue).max_concurrency = Value::Value(1);
        block(&mut state.post_queue).batch_size = Value::Value(100);
        block(&mut state.queue).visibility_timeout_seconds = Value::Value(60);
        block(&mut state.signature).scheme = Value::Value("gitlab".into());
        block(&mut state.store).volume_size = Value::Value(4);
        let errors = errors(&state).join("\n");
        for expected in [
            "Invalid pipeline name",
            "1 is outside 2–1000",
            "batch_size 100 is over 10",
            "60 s is less than 6 × post_queue.timeout + post_queue.batching_window_seconds (6 × 30 s + 0 s = 180 s)",
            "Unknown signature scheme",
            "4 is outside 8–16384",
        ] {
            assert!(
                errors.contains(expected),
                "missing {expected:?} in:\n{errors}"
            );
        }
    }

    #[test]
    fn a_new_pipeline_plans_every_used_id_unknown_and_unused_ones_null() {
        let mut external = valid();
        plan_create(&BTreeMap::new(), &mut external, &mut Diagnostics::default());
        assert!(external.queue_arn.is_unknown() && external.api_id.is_unknown());
        assert!(external.instance_id.is_null() && external.vpc_id.is_null());
        assert!(external.store_root_secret_arn.is_null());

        let mut in_managed_network = managed(valid());
        plan_create(
            &BTreeMap::new(),
            &mut in_managed_network,
            &mut Diagnostics::default(),
        );
        assert!(in_managed_network.internet_gateway_id.is_unknown());
        assert!(in_managed_network.instance_id.is_unknown());
        assert!(in_managed_network.store_writer_secret_arn.is_unknown());
    }

    #[test]
    fn name_vpc_and_store_kind_replace_everything_else_updates_in_place() {
        let prior = valid();
        let mut planned = prior.clone();
        block(&mut planned.post_queue).max_concurrency = Value::Value(50);
        planned.stage = Value::Value("live".into());
        assert!(replacing_changes(&prior, &planned).is_empty());

        let named = PipelineState {
            name: Value::Value("payments".into()),
            ..prior.clone()
        };
        assert_eq!(
            replacing_changes(&prior, &named),
            [AttributePath::new("name")]
        );
        let in_vpc = PipelineState {
            network: Value::Value(NetworkBlock {
                vpc_id: Value::Value("vpc-1".into()),
                subnet_ids: Value::Null,
            }),
            ..prior.clone()
        };
        assert_eq!(
            replacing_changes(&prior, &in_vpc),
            [AttributePath::new("network").attribute("vpc_id")]
        );
        assert_eq!(
            replacing_changes(&prior, &managed(prior.clone())),
            [AttributePath::new("store").attribute("mongodb_uri")]
        );
        // The path is the attribute that changes: Terraform ignores one that does not.
        let by_secret = |mut state: PipelineState| {
            let store = block(&mut state.store);
            store.mongodb_uri = Value::Null;
            store.mongodb_uri_secret_arn =
                Value::Value("arn:aws:secretsmanager:us-east-1:1:secret:uri".into());
            state
        };
        let managed_prior = managed(prior.clone());
        assert_eq!(
            replacing_changes(&managed_prior, &by_secret(prior.clone())),
            [AttributePath::new("store").attribute("mongodb_uri_secret_arn")]
        );
        assert_eq!(
            replacing_changes(&by_secret(prior.clone()), &managed_prior),
            [AttributePath::new("store").attribute("mongodb_uri_secret_arn")]
        );
        assert!(replacing_changes(&by_secret(prior.clone()), &prior).is_empty());
    }

    #[test]
    fn an_object_gone_out_of_band_is_planned_again_and_the_endpoint_with_it() {
        let mut prior = valid();
        plan_create(&BTreeMap::new(), &mut prior, &mut Diagnostics::default());
        for field in id_fields(&mut prior) {
            if field.is_unknown() {
                *field = Value::Value("id".into());
            }
        }
        prior.endpoint_url = Value::Value("https://x".into());
        let mut unchanged = prior.clone();
        let replace = plan_update(
            &BTreeMap::new(),
            &prior,
            &prior,
            &mut unchanged,
            &mut Diagnostics::default(),
        );
        assert!(replace.is_empty());
        assert_eq!(unchanged.endpoint_url, prior.endpoint_url);

        let mut repaired = prior.clone();
        repaired.event_source_mapping_id = Value::Null;
        plan_update(
            &BTreeMap::new(),
            &prior,
            &prior,
            &mut repaired,
            &mut Diagnostics::default(),
        );
        assert!(repaired.event_source_mapping_id.is_unknown());
        assert_eq!(
            repaired.endpoint_url, prior.endpoint_url,
            "the API is untouched: its URL stays known"
        );
        assert!(repaired.instance_id.is_null(), "unused ids stay null");

        let mut new_api = prior.clone();
        new_api.api_id = Value::Null;
        plan_update(
            &BTreeMap::new(),
            &prior,
            &prior,
            &mut new_api,
            &mut Diagnostics::default(),
        );
        assert!(new_api.endpoint_url.is_unknown(), "a new API, a new URL");
    }

    /// Plans `change` applied to `prior` with `config` as the configuration; returns the plan and
    /// its errors.
    fn update(
        prior: &PipelineState,
        config: &PipelineState,
        change: impl FnOnce(&mut PipelineState),
    ) -> (PipelineState, Vec<String>) {
        // Both functions' code: a file that reads as a zip, so the plan can hash it.
        let artifact = std::env::temp_dir().join(format!("nami-plan-{}.zip", std::process::id()));
        std::fs::write(&artifact, b"PK\x03\x04 test").unwrap();
        let path = Value::Value(artifact.display().to_string());
        let mut planned = prior.clone();
        change(&mut planned);
        block(&mut planned.pre_queue).artifact = path.clone();
        block(&mut planned.post_queue).artifact = path;
        let mut diags = Diagnostics::default();
        plan_update(&BTreeMap::new(), prior, config, &mut planned, &mut diags);
        let errors = diags.errors.iter().map(|d| d.detail.to_string()).collect();
        (planned, errors)
    }

    #[test]
    fn a_derived_default_follows_what_it_derives_from() {
        // The defect: raising post_queue.timeout failed the plan ("180 s is less than … 360 s")
        // although the visibility timeout was never set: its default was frozen at create.
        let prior = valid();
        let mut config = prior.clone();
        block(&mut config.queue).visibility_timeout_seconds = Value::Null;
        let (planned, errors) = update(&prior, &config, |state| {
            block(&mut state.post_queue).timeout = Value::Value(60)
        });
        assert!(errors.is_empty(), "{errors:?}");
        let queue = planned.queue.as_ref_option().unwrap();
        assert_eq!(queue.visibility_timeout_seconds, Value::Value(360));

        // A visibility timeout the user set is theirs: too short is still an error.
        let (_, errors) = update(&prior, &prior, |state| {
            block(&mut state.post_queue).timeout = Value::Value(60)
        });
        assert!(
            errors.iter().any(|e| e.contains("180 s is less than")),
            "{errors:?}"
        );
    }

    #[test]
    fn the_visibility_timeout_covers_the_batching_window_too() {
        // The defect: with a 20 s window, 6 × 30 s = 180 s passed, though a message gathered at
        // the window's start can be held 20 s + 30 s while its queue shows it again after 180 s
        // of a longer-running neighbour; AWS asks for 6 × timeout + window.
        let mut state = valid();
        block(&mut state.post_queue).batching_window_seconds = Value::Value(20);
        block(&mut state.queue).visibility_timeout_seconds = Value::Value(180);
        let errors = errors(&state).join("\n");
        assert!(
            errors.contains("180 s is less than 6 × post_queue.timeout + post_queue.batching_window_seconds (6 × 30 s + 20 s = 200 s)"),
            "{errors}"
        );
        // Unset, the default covers it.
        block(&mut state.queue).visibility_timeout_seconds = Value::Null;
        let (planned, errors) = update(&valid(), &state, |planned| {
            block(&mut planned.post_queue).batching_window_seconds = Value::Value(20)
        });
        assert!(errors.is_empty(), "{errors:?}");
        let queue = planned.queue.as_ref_option().unwrap();
        assert_eq!(queue.visibility_timeout_seconds, Value::Value(200));
    }

    #[test]
    fn a_data_volume_cannot_shrink_and_a_new_instance_type_replaces_the_instance() {
        let mut prior = managed(valid());
        plan_create(&BTreeMap::new(), &mut prior, &mut Diagnostics::default());
        prior.instance_id = Value::Value("i-0123456789abcdef0".into());
        prior.store_root_secret_arn = Value::Value("arn:aws:secretsmanager:r:1:secret:root".into());
        prior.store_writer_secret_arn =
            Value::Value("arn:aws:secretsmanager:r:1:secret:writer".into());
        // The defect: a shrink "applied" (state said 10, the volume kept 20).
        let (_, errors) = update(&prior, &prior, |state| {
            block(&mut state.store).volume_size = Value::Value(10)
        });
        assert!(
            errors
                .iter()
                .any(|e| e.contains("20 GiB → 10 GiB: EBS volumes only grow")),
            "{errors:?}"
        );
        let (grown, errors) = update(&prior, &prior, |state| {
            block(&mut state.store).volume_size = Value::Value(30)
        });
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            grown.instance_id, prior.instance_id,
            "a volume grows in place"
        );
        // The defect: the plan kept the instance id known, the apply replaced the instance.
        for change in [
            |s: &mut PipelineState| {
                block(&mut s.store).instance_type = Value::Value("t3.medium".into())
            },
            |s: &mut PipelineState| block(&mut s.store).image = Value::Value("mongo:8.0.4".into()),
            // The writer's grant names the database.
            |s: &mut PipelineState| block(&mut s.store).database = Value::Value("events".into()),
            // A state from before the store's secrets, or a secret deleted out of band: the
            // new password reaches MongoDB through a new instance.
            |s: &mut PipelineState| s.store_writer_secret_arn = Value::Null,
        ] {
            let (planned, errors) = update(&prior, &prior, change);
            assert!(errors.is_empty(), "{errors:?}");
            assert!(planned.instance_id.is_unknown(), "a new instance");
        }
    }

    #[test]
    fn store_and_network_values_are_checked_at_plan() {
        let mut state = valid();
        // Managed-store settings with an existing store (in the configuration).
        block(&mut state.store).volume_size = Value::Value(50);
        // Dots are legal in a collection name.
        block(&mut state.store).collection = Value::Value("events.github".into());
        state.network = Value::Value(NetworkBlock {
            vpc_id: Value::Value("my-vpc".into()),
            subnet_ids: Value::Value(vec![Value::Value("10.0.1.0/24".into())]),
        });
        let errors = errors(&state).join("\n");
        for expected in [
            "store.volume_size applies only to the pipeline's own managed store",
            "\"my-vpc\" is not a vpc id",
            "\"10.0.1.0/24\" is not a subnet id",
        ] {
            assert!(
                errors.contains(expected),
                "missing {expected:?} in:\n{errors}"
            );
        }
        assert!(!errors.contains("collection"), "{errors}");
        block(&mut state.store).collection = Value::Value("system.views".into());
        assert!(
            super::tests::errors(&state)
                .join("\n")
                .contains("Invalid MongoDB collection name")
        );
    }

    #[test]
    fn a_batch_over_ten_needs_a_window() {
        let mut state = valid();
        state.post_queue = Value::Value(PostQueueBlock {
            batch_size: Value::Value(100),
            batching_window_seconds: Value::Value(1),
            ..Default::default()
        });
        // The default visibility timeout covers the window (6 × 30 s + 1 s).
        block(&mut state.queue).visibility_timeout_seconds = Value::Null;
        fill_defaults(&mut state);
        assert!(errors(&state).is_empty(), "{:?}", errors(&state));
    }
}
