//! Defaults, plan-time validation, and the resolved settings the components work from.

use std::collections::BTreeMap;
use std::time::Duration;

use tf_provider::value::Value;
use tf_provider::{AttributePath, Diagnostics};

use super::model::*;
use crate::artifacts::{Artifact, Function};

/// Fills every unset optional-computed attribute with its default.
pub fn fill_defaults(state: &mut PipelineState) {
    let name = state.name.as_ref_option().cloned();
    default(&mut state.stage, defaults::STAGE.to_owned());

    let signature = block(&mut state.signature);
    default(
        &mut signature.tolerance_seconds,
        defaults::TOLERANCE_SECONDS,
    );

    let post = block(&mut state.post_queue);
    default(&mut post.batch_size, defaults::BATCH_SIZE);
    default(
        &mut post.batching_window_seconds,
        defaults::BATCHING_WINDOW_SECONDS,
    );
    default(&mut post.max_concurrency, defaults::MAX_CONCURRENCY);
    default(&mut post.memory_size, defaults::POST_QUEUE_MEMORY);
    default(&mut post.timeout, defaults::POST_QUEUE_TIMEOUT);
    let post_timeout = post.timeout;

    let pre = block(&mut state.pre_queue);
    default(&mut pre.memory_size, defaults::PRE_QUEUE_MEMORY);
    default(&mut pre.timeout, defaults::PRE_QUEUE_TIMEOUT);

    let queue = block(&mut state.queue);
    if queue.visibility_timeout_seconds.is_null() {
        queue.visibility_timeout_seconds = post_timeout.map(|timeout| timeout * 6);
    }
    default(&mut queue.retention_seconds, defaults::RETENTION_SECONDS);
    default(&mut queue.max_receive_count, defaults::MAX_RECEIVE_COUNT);
    default(
        &mut queue.dlq_retention_seconds,
        defaults::DLQ_RETENTION_SECONDS,
    );
    default(&mut queue.max_message_bytes, defaults::MAX_MESSAGE_BYTES);

    let store = block(&mut state.store);
    default(&mut store.database, defaults::DATABASE.to_owned());
    if store.is_managed() {
        default(
            &mut store.instance_type,
            crate::components::store::DEFAULT_INSTANCE_TYPE.to_owned(),
        );
        default(
            &mut store.image,
            crate::components::store::DEFAULT_IMAGE.to_owned(),
        );
        default(
            &mut store.volume_size,
            crate::components::store::DEFAULT_VOLUME_SIZE,
        );
        default(&mut store.retain_volume, true);
    }
    if store.collection.is_null() {
        store.collection = name.map(Value::Value).unwrap_or(Value::Unknown);
    }
    block(&mut state.network);
    block(&mut state.timeouts);
}

fn default<T>(value: &mut Value<T>, fallback: T) {
    if value.is_null() {
        *value = Value::Value(fallback);
    }
}

/// The block's fields, creating an all-null block when absent.
pub fn block<T: Default>(value: &mut Value<T>) -> &mut T {
    if !value.is_value() {
        *value = Value::Value(T::default());
    }
    value.as_mut_option().expect("just set")
}

/// Checks every known value; each problem is reported at its attribute.
pub fn validate(state: &PipelineState, diags: &mut Diagnostics) {
    let mut check = Checker { diags };
    if let Some(name) = state.name.as_ref_option() {
        let valid = (1..=40).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.ends_with('-');
        check.that(valid, AttributePath::new("name"), "Invalid pipeline name", format!(
            "{name:?}: use 1–40 lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen"
        ));
    }
    if let Some(stage) = state.stage.as_ref_option() {
        let valid = (1..=128).contains(&stage.len())
            && stage.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        check.that(
            valid,
            AttributePath::new("stage"),
            "Invalid stage name",
            format!("{stage:?}: use letters, digits and underscores"),
        );
    }

    if let Some(signature) = state.signature.as_ref_option() {
        validate_signature(signature, &mut check);
    }
    let post = state.post_queue.as_ref_option();
    let at =
        |block: &str, attr: &str| AttributePath::new(block.to_owned()).attribute(attr.to_owned());
    if let Some(pre) = state.pre_queue.as_ref_option() {
        check.range(
            &pre.memory_size,
            128..=10_240,
            at("pre_queue", "memory_size"),
        );
        check.range(&pre.timeout, 1..=29, at("pre_queue", "timeout"));
    }
    if let Some(post) = post {
        check.range(&post.batch_size, 1..=10_000, at("post_queue", "batch_size"));
        check.range(
            &post.batching_window_seconds,
            0..=300,
            at("post_queue", "batching_window_seconds"),
        );
        check.range(
            &post.max_concurrency,
            2..=1000,
            at("post_queue", "max_concurrency"),
        );
        check.range(
            &post.memory_size,
            128..=10_240,
            at("post_queue", "memory_size"),
        );
        check.range(&post.timeout, 1..=900, at("post_queue", "timeout"));
        if let (Some(&size), window) = (
            post.batch_size.as_ref_option(),
            post.batching_window_seconds.as_ref_option(),
        ) {
            check.that(
                size <= 10 || window.is_some_and(|&w| w >= 1),
                at("post_queue", "batching_window_seconds"),
                "Batching window required",
                format!("batch_size {size} is over 10: AWS requires batching_window_seconds of at least 1"),
            );
        }
    }
    if let Some(queue) = state.queue.as_ref_option() {
        check.range(
            &queue.visibility_timeout_seconds,
            0..=43_200,
            at("queue", "visibility_timeout_seconds"),
        );
        check.range(
            &queue.retention_seconds,
            60..=1_209_600,
            at("queue", "retention_seconds"),
        );
        check.range(
            &queue.dlq_retention_seconds,
            60..=1_209_600,
            at("queue", "dlq_retention_seconds"),
        );
        check.range(
            &queue.max_receive_count,
            1..=1000,
            at("queue", "max_receive_count"),
        );
        check.range(
            &queue.max_message_bytes,
            1024..=1_048_576,
            at("queue", "max_message_bytes"),
        );
        let timeout = post
            .and_then(|p| p.timeout.as_ref_option().copied())
            .or(Some(defaults::POST_QUEUE_TIMEOUT));
        if let (Some(&visibility), Some(timeout)) =
            (queue.visibility_timeout_seconds.as_ref_option(), timeout)
        {
            check.that(
                visibility >= 6 * timeout,
                at("queue", "visibility_timeout_seconds"),
                "Visibility timeout too short",
                format!(
                    "{visibility} s is less than 6 × post_queue.timeout ({timeout} s = {} s): messages would be redelivered while still being processed",
                    6 * timeout
                ),
            );
        }
    }
    if let Some(store) = state.store.as_ref_option() {
        if let Some(uri) = store.mongodb_uri.as_ref_option() {
            check.that(
                uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://"),
                at("store", "mongodb_uri"),
                "Invalid MongoDB connection string",
                "it must start with mongodb:// or mongodb+srv://",
            );
        }
        for (attr, value) in [
            ("database", &store.database),
            ("collection", &store.collection),
        ] {
            if let Some(text) = value.as_ref_option() {
                check.that(
                    !text.is_empty()
                        && !text.contains(['$', '\0', '/', '\\', ' ', '.'])
                        && text.len() <= 64,
                    at("store", attr),
                    "Invalid MongoDB name",
                    format!("{text:?}: 1–64 characters, none of $ / \\ . space"),
                );
            }
        }
    }
    if let Some(network) = state.network.as_ref_option() {
        let subnets = network.subnet_ids.as_ref_option().map(Vec::len);
        match (network.vpc_id.is_null(), subnets) {
            (false, Some(0)) | (false, None) if !network.subnet_ids.is_unknown() => check.fail(
                at("network", "subnet_ids"),
                "Subnets required",
                "network.vpc_id is set: give at least one subnet in network.subnet_ids",
            ),
            (true, Some(n)) if n > 0 => check.fail(
                at("network", "vpc_id"),
                "VPC required",
                "network.subnet_ids is set: give their network.vpc_id",
            ),
            _ => {}
        }
    }
    if let Some(timeouts) = state.timeouts.as_ref_option() {
        for (attr, value) in [
            ("create", &timeouts.create),
            ("update", &timeouts.update),
            ("delete", &timeouts.delete),
        ] {
            if let Some(text) = value.as_ref_option() {
                check.that(
                    parse_duration(text).is_some(),
                    at("timeouts", attr),
                    "Invalid duration",
                    format!("{text:?}: use a number with s, m or h, such as 90s, 30m or 1h"),
                );
            }
        }
    }
}

fn validate_signature(signature: &SignatureBlock, check: &mut Checker<'_>) {
    let at = |attr: &str| AttributePath::new("signature").attribute(attr.to_owned());
    let Some(scheme) = signature.scheme.as_ref_option() else {
        return;
    };
    let known = [
        "github",
        "stripe",
        "slack",
        "shopify",
        "standard-webhooks",
        "hmac",
        "none",
    ];
    if !known.contains(&scheme.as_str()) {
        check.fail(
            at("scheme"),
            "Unknown signature scheme",
            format!("{scheme:?}: use one of {}", known.join(", ")),
        );
        return;
    }
    let (secret, arn) = (&signature.secret, &signature.secret_arn);
    if scheme == "none" {
        check.that(
            secret.is_null() && arn.is_null(),
            at("secret"),
            "No secret with scheme none",
            "scheme none verifies nothing: remove secret / secret_arn",
        );
    } else if secret.is_null() && arn.is_null() {
        check.fail(
            at("secret"),
            "Secret required",
            format!("scheme {scheme} needs secret or secret_arn"),
        );
    } else if secret.is_value() && arn.is_value() {
        check.fail(
            at("secret_arn"),
            "Conflicting secrets",
            "set only one of secret and secret_arn",
        );
    }
    if let Some(arn) = arn.as_ref_option() {
        check.that(
            nami_handlers::secrets::SecretSource::arn(arn).is_some(),
            at("secret_arn"),
            "Invalid secret ARN",
            format!(
                "{arn:?}: expected arn:aws:secretsmanager:…:secret:… or arn:aws:ssm:…:parameter/…"
            ),
        );
    }
    if scheme == "standard-webhooks" {
        if let Some(secret) = secret.as_ref_option() {
            let parsed = nami_handlers::signature::Verifier::new(
                nami_handlers::signature::Scheme::StandardWebhooks,
                Some(secret),
                defaults::TOLERANCE_SECONDS as u64,
            );
            check.that(
                parsed.is_ok(),
                at("secret"),
                "Invalid Standard Webhooks secret",
                "expected whsec_ followed by base64",
            );
        }
    }
    let hmac_only = [
        ("header", &signature.header),
        ("algorithm", &signature.algorithm),
        ("encoding", &signature.encoding),
        ("prefix", &signature.prefix),
    ];
    if scheme == "hmac" {
        check.that(
            !signature.header.is_null(),
            at("header"),
            "Header required",
            "scheme hmac needs the header that carries the signature",
        );
        if let Some(algorithm) = signature.algorithm.as_ref_option() {
            check.that(
                ["sha256", "sha1"].contains(&algorithm.as_str()),
                at("algorithm"),
                "Invalid algorithm",
                "use sha256 or sha1",
            );
        }
        if let Some(encoding) = signature.encoding.as_ref_option() {
            check.that(
                ["hex", "base64"].contains(&encoding.as_str()),
                at("encoding"),
                "Invalid encoding",
                "use hex or base64",
            );
        }
    } else {
        for (attr, value) in hmac_only {
            check.that(
                value.is_null(),
                at(attr),
                "Setting of scheme hmac",
                format!("{attr} applies only to scheme hmac"),
            );
        }
    }
    check.range(
        &signature.tolerance_seconds,
        1..=86_400,
        at("tolerance_seconds"),
    );
    if let Some(rule) = signature.delivery_id.as_ref_option() {
        check.that(
            nami_handlers::delivery_id::DeliveryIdRule::parse(rule).is_some(),
            at("delivery_id"),
            "Invalid delivery id rule",
            format!("{rule:?}: use header:<name> or json:<pointer> (e.g. json:/id)"),
        );
    }
}

struct Checker<'d> {
    diags: &'d mut Diagnostics,
}

impl Checker<'_> {
    fn fail(&mut self, path: AttributePath, summary: &'static str, detail: impl Into<String>) {
        self.diags.error(summary, detail.into(), path);
    }

    fn that(
        &mut self,
        ok: bool,
        path: AttributePath,
        summary: &'static str,
        detail: impl Into<String>,
    ) {
        if !ok {
            self.fail(path, summary, detail);
        }
    }

    fn range(&mut self, value: &Num, range: std::ops::RangeInclusive<i64>, path: AttributePath) {
        if let Some(&number) = value.as_ref_option() {
            self.that(
                range.contains(&number),
                path,
                "Value out of range",
                format!("{number} is outside {}–{}", range.start(), range.end()),
            );
        }
    }
}

/// Parses `90s`, `30m`, `1h`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let number: u64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => number,
        "m" => number * 60,
        "h" => number * 3600,
        _ => return None,
    };
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

/// Everything the components need, resolved from a planned state (defaults applied, all known).
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub stage: String,
    pub tags: BTreeMap<String, String>,
    pub signature: SignatureBlock,
    pub queue: QueueSettings,
    pub pre_queue: FunctionSettings,
    pub post_queue: FunctionSettings,
    pub mapping: MappingSettings,
    pub store: StoreSettings,
    pub network: NetworkPlan,
    pub timeouts: Timeouts,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    pub visibility_timeout_seconds: i64,
    pub retention_seconds: i64,
    pub max_receive_count: i64,
    pub dlq_retention_seconds: i64,
    pub max_message_bytes: i64,
}

#[derive(Debug, Clone)]
pub struct FunctionSettings {
    pub memory_size: i64,
    pub timeout: i64,
    pub artifact: Artifact,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingSettings {
    pub batch_size: i64,
    pub batching_window_seconds: i64,
    pub max_concurrency: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    pub kind: StoreKind,
    pub database: String,
    pub collection: String,
}

/// Which store, and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// An existing MongoDB.
    External { mongodb_uri: String },
    /// MongoDB on an EC2 instance the pipeline owns.
    Managed(crate::components::store::ManagedSettings),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSettings {
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
}

/// Where the post-queue function (and the managed store) run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkPlan {
    /// Outside any VPC (an existing store reachable from Lambda).
    None,
    /// The user's VPC and subnets.
    Existing(NetworkSettings),
    /// A VPC the pipeline creates (the managed store without a `network` block).
    Managed,
}

impl NetworkPlan {
    /// Whether the post-queue function runs in a VPC.
    pub fn in_vpc(&self) -> bool {
        !matches!(self, NetworkPlan::None)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub create: Duration,
    pub update: Duration,
    pub delete: Duration,
}

impl Timeouts {
    /// The timeouts of a state, defaults for unset ones.
    pub fn of(state: &PipelineState) -> Timeouts {
        let block = state.timeouts.as_ref_option();
        let get = |pick: fn(&TimeoutsBlock) -> &Str, fallback: &str| {
            block
                .and_then(|b| pick(b).as_ref_option())
                .and_then(|text| parse_duration(text))
                .unwrap_or_else(|| parse_duration(fallback).expect("valid default"))
        };
        Timeouts {
            create: get(|b| &b.create, defaults::CREATE_TIMEOUT),
            update: get(|b| &b.update, defaults::UPDATE_TIMEOUT),
            delete: get(|b| &b.delete, defaults::DELETE_TIMEOUT),
        }
    }
}

/// A value that must be known by apply time.
fn known<T: Clone>(value: &Value<T>, what: &str) -> Result<T, String> {
    match value {
        Value::Value(v) => Ok(v.clone()),
        Value::Null => Err(format!("{what} is not set")),
        Value::Unknown => Err(format!("{what} is not known")),
    }
}

impl Spec {
    /// Resolves a planned state (after [`fill_defaults`]).
    pub fn from_state(state: &PipelineState) -> Result<Spec, String> {
        let signature = known(&state.signature, "signature")?;
        let queue = known(&state.queue, "queue")?;
        let pre = known(&state.pre_queue, "pre_queue")?;
        let post = known(&state.post_queue, "post_queue")?;
        let store = known(&state.store, "store")?;
        let network = state
            .network
            .as_ref_option()
            .filter(|n| n.vpc_id.is_value());
        Ok(Spec {
            name: known(&state.name, "name")?,
            stage: known(&state.stage, "stage")?,
            tags: string_map(&state.tags),
            queue: QueueSettings {
                visibility_timeout_seconds: known(
                    &queue.visibility_timeout_seconds,
                    "queue.visibility_timeout_seconds",
                )?,
                retention_seconds: known(&queue.retention_seconds, "queue.retention_seconds")?,
                max_receive_count: known(&queue.max_receive_count, "queue.max_receive_count")?,
                dlq_retention_seconds: known(
                    &queue.dlq_retention_seconds,
                    "queue.dlq_retention_seconds",
                )?,
                max_message_bytes: known(&queue.max_message_bytes, "queue.max_message_bytes")?,
            },
            pre_queue: FunctionSettings {
                memory_size: known(&pre.memory_size, "pre_queue.memory_size")?,
                timeout: known(&pre.timeout, "pre_queue.timeout")?,
                artifact: Artifact::locate(
                    Function::PreQueue,
                    pre.artifact.as_ref_option().map(String::as_str),
                )
                .map_err(|e| e.to_string())?,
            },
            post_queue: FunctionSettings {
                memory_size: known(&post.memory_size, "post_queue.memory_size")?,
                timeout: known(&post.timeout, "post_queue.timeout")?,
                artifact: Artifact::locate(
                    Function::PostQueue,
                    post.artifact.as_ref_option().map(String::as_str),
                )
                .map_err(|e| e.to_string())?,
            },
            mapping: MappingSettings {
                batch_size: known(&post.batch_size, "post_queue.batch_size")?,
                batching_window_seconds: known(
                    &post.batching_window_seconds,
                    "post_queue.batching_window_seconds",
                )?,
                max_concurrency: known(&post.max_concurrency, "post_queue.max_concurrency")?,
            },
            store: StoreSettings {
                kind: if store.is_managed() {
                    StoreKind::Managed(crate::components::store::ManagedSettings {
                        instance_type: known(&store.instance_type, "store.instance_type")?,
                        image: known(&store.image, "store.image")?,
                        volume_size: known(&store.volume_size, "store.volume_size")?,
                        retain_volume: known(&store.retain_volume, "store.retain_volume")?,
                        password: known(&store.password, "store.password")?,
                    })
                } else {
                    StoreKind::External {
                        mongodb_uri: known(&store.mongodb_uri, "store.mongodb_uri")?,
                    }
                },
                database: known(&store.database, "store.database")?,
                collection: known(&store.collection, "store.collection")?,
            },
            network: match network {
                Some(network) => NetworkPlan::Existing(NetworkSettings {
                    vpc_id: known(&network.vpc_id, "network.vpc_id")?,
                    subnet_ids: known(&network.subnet_ids, "network.subnet_ids")?
                        .iter()
                        .map(|id| known(id, "network.subnet_ids[*]"))
                        .collect::<Result<_, _>>()?,
                }),
                None if store.is_managed() => NetworkPlan::Managed,
                None => NetworkPlan::None,
            },
            signature,
            timeouts: Timeouts::of(state),
        })
    }
}

/// A Terraform map of strings as a plain map (unknown or null entries left out).
pub fn string_map(map: &StrMap) -> BTreeMap<String, String> {
    map.as_ref_option()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_ref_option().map(|v| (k.clone(), v.clone())))
                .collect()
        })
        .unwrap_or_default()
}

/// A plain map as a Terraform map of strings.
pub fn to_str_map(map: &BTreeMap<String, String>) -> StrMap {
    Value::Value(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::Value(v.clone())))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(state: &PipelineState) -> Vec<String> {
        let mut diags = Diagnostics::default();
        validate(state, &mut diags);
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
    }

    #[test]
    fn bad_values_are_named() {
        let mut state = valid();
        state.name = Value::Value("Orders_1".into());
        block(&mut state.post_queue).max_concurrency = Value::Value(1);
        block(&mut state.post_queue).batch_size = Value::Value(100);
        block(&mut state.queue).visibility_timeout_seconds = Value::Value(60);
        block(&mut state.signature).scheme = Value::Value("gitlab".into());
        let errors = errors(&state).join("\n");
        for expected in [
            "Invalid pipeline name",
            "1 is outside 2–1000",
            "batch_size 100 is over 10",
            "60 s is less than 6 × post_queue.timeout (30 s = 180 s)",
            "Unknown signature scheme",
        ] {
            assert!(
                errors.contains(expected),
                "missing {expected:?} in:\n{errors}"
            );
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        for bad in ["", "m", "10", "0s", "5d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
