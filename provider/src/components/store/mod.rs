//! The store: an existing MongoDB reached by connection string, or a managed one — MongoDB in
//! Docker on an EC2 instance in the pipeline's VPC, its data on a separate EBS volume
//! ([`instance`]). This module owns the `store` block: its schema, defaults, validation,
//! settings, the post-queue function's store variables, and their read-back on import.

pub mod instance;
pub mod shared;
pub mod snapshots;

use std::collections::{BTreeSet, HashMap};

use nami_contract::limits::{DEFAULT_DATABASE, Limit, MONGODB_TIMEOUT_MS};
use nami_contract::vars;
use tf_provider::schema::{AttributeConstraint, AttributeType, Block};
use tf_provider::value::Value;

use crate::check::{Checker, at};
use crate::model::{PipelineState, SettingsError, StoreBlock, block, default, known, known_i32};
use crate::schema::{attribute, sensitive};

/// The MongoDB image run by default (pinned).
pub const DEFAULT_IMAGE: &str = "mongo:7.0.14";
/// The instance type by default.
pub const DEFAULT_INSTANCE_TYPE: &str = "t3.small";
/// Data volume size in GiB (gp3's range).
pub const VOLUME_SIZE: Limit = Limit::new(8, 16_384, 20);
/// The managed store's root user, for the operator (password: the store's root secret).
pub const ROOT_USER: &str = "nami";
/// The managed store's user the post-queue function connects as: `readWrite` on its database
/// only (password: the store's writer secret).
pub const WRITER_USER: &str = "nami-writer";
/// Longest database or collection name this provider accepts.
const MONGODB_NAME_MAX_LEN: usize = 64;
/// Longest collection name accepted (MongoDB's namespace limit, less the database part).
const COLLECTION_NAME_MAX_LEN: usize = 120;

/// The `store` block's schema.
pub fn schema() -> Block {
    use AttributeConstraint::{Computed, Optional, OptionalComputed};
    use AttributeType::{Bool, Number, String as Text};
    crate::schema::block(
        "Where envelopes are stored: an existing MongoDB when `mongodb_uri` is set, else a managed one — MongoDB in Docker \
         on an EC2 instance (Amazon Linux 2023, IMDSv2 required, no SSH, no key pair) whose security group admits MongoDB's \
         port only from the post-queue function, with its data on a separate encrypted EBS volume. Its passwords are \
         generated into Secrets Manager (`store_root_secret_arn`, `store_writer_secret_arn`) and never held in the state; \
         the function connects as a user that may only read and write its database. Switching between the two replaces \
         the pipeline.",
        vec![
            (
                "mongodb_uri",
                sensitive(attribute(
                    Text,
                    Optional,
                    "Connection string of an existing MongoDB (Atlas, DocumentDB, a replica set): `mongodb://…` or `mongodb+srv://…`. Outside a VPC (no `network` block) it should ask for TLS (`tls=true`, or `mongodb+srv://`): the plan warns otherwise. Unset: the managed store.",
                )),
            ),
            (
                "mongodb_uri_secret_arn",
                attribute(
                    Text,
                    Optional,
                    "ARN of a Secrets Manager secret or SSM parameter holding the connection string of a MongoDB you have, read \
                     by the post-queue function when it starts: the connection string stays out of the Terraform state (which \
                     `mongodb_uri` cannot). At most one of `mongodb_uri` and `mongodb_uri_secret_arn`; neither: the managed \
                     store. In a VPC, the provider reads it at apply to learn the store's ports (for the function's egress).",
                ),
            ),
            (
                "database",
                attribute(
                    Text,
                    OptionalComputed,
                    &format!(
                        "Database name. Default `{DEFAULT_DATABASE}`. For the managed store, a change replaces the instance (the writer's grant follows it); the data volume is re-attached."
                    ),
                ),
            ),
            (
                "collection",
                attribute(
                    Text,
                    OptionalComputed,
                    "Collection name. Default: the pipeline's name.",
                ),
            ),
            (
                "instance_type",
                attribute(
                    Text,
                    OptionalComputed,
                    &format!(
                        "Managed store: EC2 instance type. Default `{DEFAULT_INSTANCE_TYPE}`. A change replaces the instance; the data volume is re-attached."
                    ),
                ),
            ),
            (
                "image",
                attribute(
                    Text,
                    OptionalComputed,
                    &format!(
                        "Managed store: the MongoDB container image, pinned. Default `{DEFAULT_IMAGE}`. A change replaces the instance; the data volume is re-attached."
                    ),
                ),
            ),
            (
                "volume_size",
                attribute(
                    Number,
                    OptionalComputed,
                    &format!(
                        "Managed store: data volume size in GiB, {}",
                        VOLUME_SIZE.describe()
                    ),
                ),
            ),
            (
                "volume_id",
                attribute(
                    Text,
                    Optional,
                    "Managed store: an existing EBS volume to use as the data volume when the store is created — \
                     the volume a destroyed pipeline kept (`retain_volume`), to get back to its data. It must be \
                     available, in the store's availability zone. Not changeable afterwards.",
                ),
            ),
            (
                "snapshot_retention_days",
                attribute(
                    Number,
                    Optional,
                    &format!(
                        "Managed store: take a snapshot of the data volume every day (from {} UTC) and keep each this many \
                         days, {}. Data Lifecycle Manager does it (`snapshot_policy_id`), as a role of the pipeline's that may \
                         snapshot only this volume and delete only its snapshots (`snapshot_role_arn`). Unset: no snapshots. \
                         Snapshots already taken outlive a destroy and a later unset.",
                        snapshots::START_TIME_UTC,
                        snapshots::RETENTION_DAYS,
                    ),
                ),
            ),
            (
                "password",
                sensitive(attribute(
                    Text,
                    Computed,
                    "Deprecated: always null. Provider versions before the store's secrets kept the managed store's \
                     password here; the passwords are now only in Secrets Manager (`store_root_secret_arn`, \
                     `store_writer_secret_arn`), and the first plan clears this from the state.",
                )),
            ),
            (
                "retain_volume",
                attribute(
                    Bool,
                    OptionalComputed,
                    "Managed store: keep the data volume when the pipeline is destroyed. Default `true`.",
                ),
            ),
            (
                "shared",
                attribute(
                    Text,
                    Optional,
                    "A store shared by several pipelines: the `id` of a `nami_mongodb_store` \
                     (`nami_mongodb_store.main.id`). The post-queue function runs in the store's network (or in \
                     `network`, which must be the store's VPC) as a database user of the pipeline's own, \
                     `nami-<name>`, that may read and write `database` only; the store's group admits the \
                     function. The store makes the user within a minute of the apply (until then batches are \
                     retried). Destroying the pipeline leaves the store and the data; a different store \
                     replaces the pipeline.",
                ),
            ),
        ],
    )
}

/// Fills the `store` block's defaults.
pub fn fill_defaults(state: &mut PipelineState) {
    let name = state.name.as_ref_option().cloned();
    let store = block(&mut state.store);
    // A password an older provider version kept in the state leaves it.
    store.password = Value::Null;
    default(&mut store.database, DEFAULT_DATABASE.to_owned());
    if store.is_managed() {
        default(&mut store.instance_type, DEFAULT_INSTANCE_TYPE.to_owned());
        default(&mut store.image, DEFAULT_IMAGE.to_owned());
        default(&mut store.volume_size, VOLUME_SIZE.default);
        default(&mut store.retain_volume, true);
    }
    if store.collection.is_null() {
        store.collection = name.map_or(Value::Unknown, Value::Value);
    }
}

/// Checks the `store` block.
pub fn validate(state: &PipelineState, check: &mut Checker<'_>) {
    let Some(store) = state.store.as_ref_option() else {
        return;
    };
    if let Some(uri) = store.mongodb_uri.as_ref_option() {
        check.that(
            uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://"),
            at("store", "mongodb_uri"),
            "Invalid MongoDB connection string",
            "it must start with mongodb:// or mongodb+srv://",
        );
    }
    check.that(
        !(store.mongodb_uri.is_value() && store.mongodb_uri_secret_arn.is_value()),
        at("store", "mongodb_uri_secret_arn"),
        "Conflicting connection strings",
        "set only one of store.mongodb_uri and store.mongodb_uri_secret_arn",
    );
    check.that(
        !(store.shared.is_value()
            && (store.mongodb_uri.is_value() || store.mongodb_uri_secret_arn.is_value())),
        at("store", "shared"),
        "Conflicting stores",
        "store.shared names a nami_mongodb_store: remove store.mongodb_uri / store.mongodb_uri_secret_arn, or store.shared",
    );
    if let Some(name) = store.shared.as_ref_option() {
        check.that(
            nami_contract::naming::is_valid_store_name(name),
            at("store", "shared"),
            "Invalid shared store",
            format!(
                "{name:?} is not a store's name: use the store's id (nami_mongodb_store.<label>.id)"
            ),
        );
        // The names a shared store makes a tenant's user on (converge-tenants.js).
        if let Some(database) = store.database.as_ref_option() {
            let plain = (1..=MONGODB_NAME_MAX_LEN).contains(&database.len())
                && (database.chars()).all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            check.that(
                plain && !["admin", "local", "config"].contains(&database.as_str()),
                at("store", "database"),
                "Invalid database for a shared store",
                format!(
                    "{database:?}: in a shared store a pipeline's database is 1–{MONGODB_NAME_MAX_LEN} letters, digits, _ or -, and not admin, local or config"
                ),
            );
        }
    }
    if let Some(arn) = store.mongodb_uri_secret_arn.as_ref_option() {
        check.that(
            nami_contract::secret_arn::SecretStore::of_arn(arn).is_some(),
            at("store", "mongodb_uri_secret_arn"),
            "Invalid secret ARN",
            format!(
                "{arn:?}: expected arn:aws:secretsmanager:…:secret:… or arn:aws:ssm:…:parameter/…"
            ),
        );
    }
    if let Some(database) = store.database.as_ref_option() {
        // MongoDB's own limits, and nothing a connection string would need to escape.
        check.that(
            !database.is_empty()
                && !database.contains(['$', '\0', '/', '\\', ' ', '.', '"', '?', '#', '@', ':', '%', '&', '\''])
                && database.len() <= MONGODB_NAME_MAX_LEN,
            at("store", "database"),
            "Invalid MongoDB database name",
            format!("{database:?}: 1–{MONGODB_NAME_MAX_LEN} characters, none of $ / \\ . \" ' ? # @ : % & space"),
        );
    }
    if let Some(collection) = store.collection.as_ref_option() {
        // Dots are legal in collection names (MongoDB's namespaces use them); `system.` is not.
        check.that(
            !collection.is_empty()
                && !collection.contains(['$', '\0'])
                && !collection.starts_with("system.")
                && collection.len() <= COLLECTION_NAME_MAX_LEN,
            at("store", "collection"),
            "Invalid MongoDB collection name",
            format!(
                "{collection:?}: 1–{COLLECTION_NAME_MAX_LEN} characters, no $, not starting with system."
            ),
        );
    }
    check.limit(&store.volume_size, VOLUME_SIZE, at("store", "volume_size"));
    check.limit(
        &store.snapshot_retention_days,
        snapshots::RETENTION_DAYS,
        at("store", "snapshot_retention_days"),
    );
    check.aws_id(
        store.volume_id.as_ref_option(),
        "vol",
        at("store", "volume_id"),
    );
}

/// Checks the configuration (not a plan, which carries the prior store's computed settings):
/// the managed store's settings mean nothing with a store the user has.
pub fn validate_config(config: &PipelineState, check: &mut Checker<'_>) {
    let Some(store) = config.store.as_ref_option() else {
        return;
    };
    let in_vpc = (config.network.as_ref_option()).is_some_and(|n| n.vpc_id.is_value());
    if let Some(uri) = store.mongodb_uri.as_ref_option().filter(|_| !in_vpc) {
        check_tls_outside_a_vpc(uri, check);
    }
    if !store.is_managed() {
        let instead = if store.is_shared() {
            "set it on the nami_mongodb_store, or remove store.shared"
        } else {
            "remove it, or remove store.mongodb_uri / store.mongodb_uri_secret_arn"
        };
        for (attribute, set) in [
            ("instance_type", store.instance_type.is_value()),
            ("image", store.image.is_value()),
            ("volume_size", store.volume_size.is_value()),
            ("retain_volume", store.retain_volume.is_value()),
            ("volume_id", store.volume_id.is_value()),
            (
                "snapshot_retention_days",
                store.snapshot_retention_days.is_value(),
            ),
        ] {
            check.that(
                !set,
                at("store", attribute),
                "Managed-store setting with another store",
                format!(
                    "store.{attribute} applies only to the pipeline's own managed store; {instead}"
                ),
            );
        }
    }
}

/// The hosts (`host[:port]`) of a `mongodb://` connection string; `None` for any other scheme.
fn uri_hosts(uri: &str) -> Option<Vec<&str>> {
    let rest = uri.strip_prefix("mongodb://")?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let hosts = authority
        .rsplit_once('@')
        .map_or(authority, |(_, hosts)| hosts);
    Some(hosts.split(',').collect())
}

/// Warns when a function outside any VPC would reach its store over the internet without TLS: a
/// `mongodb://` URI that does not ask for it (`mongodb+srv://` turns TLS on by default).
fn check_tls_outside_a_vpc(uri: &str, check: &mut Checker<'_>) {
    let options = uri.split_once('?').map_or("", |(_, options)| options);
    let tls = options.split('&').any(|option| {
        let option = option.to_ascii_lowercase();
        option == "tls=true" || option == "ssl=true"
    });
    // A loopback store is reachable only from the local data plane, never over a network.
    let loopback = uri_hosts(uri).is_some_and(|hosts| {
        hosts.iter().all(|host| {
            host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]")
        })
    });
    if uri.starts_with("mongodb://") && !tls && !loopback {
        check.warn(
            at("store", "mongodb_uri"),
            "Store reached without TLS",
            "the post-queue function runs outside any VPC, so it reaches this store over the network its \
             address is on, and the connection string does not ask for TLS: webhook bodies and the store's \
             password would travel in clear text. Add tls=true to the connection string, use mongodb+srv://, \
             or place the function in the store's VPC with a network block.",
        );
    }
}

/// Plans a change of the managed store from `prior` to `state`: a new instance type, image or
/// database replaces the instance (its id becomes unknown; the data volume moves over), and a data volume
/// cannot shrink (EBS volumes only grow).
pub fn plan_change(prior: &PipelineState, state: &mut PipelineState, check: &mut Checker<'_>) {
    let (Some(old), Some(new)) = (prior.store.as_ref_option(), state.store.as_ref_option()) else {
        return;
    };
    if !(old.is_managed() && new.is_managed()) {
        return;
    }
    if let (Some(&old_size), Some(&new_size)) = (
        old.volume_size.as_ref_option(),
        new.volume_size.as_ref_option(),
    ) {
        check.that(
            new_size >= old_size,
            at("store", "volume_size"),
            "The data volume cannot shrink",
            format!(
                "{old_size} GiB → {new_size} GiB: EBS volumes only grow. Keep {old_size} or more, or move the data to a new pipeline"
            ),
        );
    }
    check.that(
        !new.volume_id.is_value() || new.volume_id == old.volume_id,
        at("store", "volume_id"),
        "The data volume is chosen at create",
        "store.volume_id adopts a volume when the store is created; to use another volume, create a new pipeline with it",
    );
    let changed = |old: &crate::model::Str, new: &crate::model::Str| {
        old.is_value() && new.is_value() && old != new
    };
    if changed(&old.instance_type, &new.instance_type)
        || changed(&old.image, &new.image)
        || changed(&old.database, &new.database)
    {
        state.instance_id = Value::Unknown;
    }
}

/// How the managed store is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedSettings {
    /// EC2 instance type.
    pub instance_type: String,
    /// MongoDB container image.
    pub image: String,
    /// Data volume size in GiB.
    pub volume_size: i32,
    /// Whether destroy keeps the data volume.
    pub retain_volume: bool,
    /// An existing volume to adopt as the data volume at create.
    pub volume_id: Option<String>,
    /// Days each daily snapshot of the data volume is kept (`None`: no snapshots).
    pub snapshot_retention_days: Option<i32>,
}

/// Which store, and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// An existing MongoDB.
    External(UriSource),
    /// MongoDB on an EC2 instance the pipeline owns.
    Managed(ManagedSettings),
    /// A `nami_mongodb_store`, by name.
    Shared(String),
}

/// Where a store the user has is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriSource {
    /// Its connection string, given in the configuration (kept in a secret of the pipeline's).
    Value(String),
    /// The user's secret holding it.
    Secret(String),
}

/// The store's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Which store.
    pub kind: StoreKind,
    /// Database name.
    pub database: String,
    /// Collection name.
    pub collection: String,
}

impl Settings {
    /// The store's settings in a planned state.
    pub fn from_state(state: &PipelineState) -> Result<Self, SettingsError> {
        let store = known(&state.store, "store")?;
        let kind = if store.is_managed() {
            StoreKind::Managed(ManagedSettings {
                instance_type: known(&store.instance_type, "store.instance_type")?,
                image: known(&store.image, "store.image")?,
                volume_size: known_i32(&store.volume_size, "store.volume_size")?,
                retain_volume: known(&store.retain_volume, "store.retain_volume")?,
                volume_id: store.volume_id.as_ref_option().cloned(),
                snapshot_retention_days: match store.snapshot_retention_days {
                    Value::Null => None,
                    _ => Some(known_i32(
                        &store.snapshot_retention_days,
                        "store.snapshot_retention_days",
                    )?),
                },
            })
        } else if store.is_shared() {
            StoreKind::Shared(known(&store.shared, "store.shared")?)
        } else if store.mongodb_uri_secret_arn.is_value() {
            StoreKind::External(UriSource::Secret(known(
                &store.mongodb_uri_secret_arn,
                "store.mongodb_uri_secret_arn",
            )?))
        } else {
            StoreKind::External(UriSource::Value(known(
                &store.mongodb_uri,
                "store.mongodb_uri",
            )?))
        };
        Ok(Settings {
            kind,
            database: known(&store.database, "store.database")?,
            collection: known(&store.collection, "store.collection")?,
        })
    }

    /// The TCP ports the post-queue function connects to: those of the connection string's hosts
    /// (27017 when a host names none, and for `mongodb+srv://`, whose ports come from DNS), or
    /// the managed store's. `uri` is the connection string (read from its secret when the user
    /// keeps it in one).
    pub fn ports(&self, uri: Option<&str>) -> BTreeSet<i32> {
        let default = crate::components::security_groups::MONGODB_PORT;
        let Some(hosts) = uri.and_then(uri_hosts) else {
            return BTreeSet::from([default]);
        };
        hosts
            .into_iter()
            .map(|host| {
                // `db:27018`, `[::1]:27018`, `db`, `[::1]`: a port follows the last ':' outside brackets.
                let after_bracket = host.rsplit_once(']').map_or(host, |(_, rest)| rest);
                after_bracket
                    .rsplit_once(':')
                    .and_then(|(_, port)| port.parse().ok())
                    .unwrap_or(default)
            })
            .collect()
    }

    /// The managed store's settings, if it is the managed store.
    pub fn managed(&self) -> Option<&ManagedSettings> {
        match &self.kind {
            StoreKind::Managed(settings) => Some(settings),
            StoreKind::External(_) | StoreKind::Shared(_) => None,
        }
    }

    /// The shared store's name, if it is one.
    pub fn shared(&self) -> Option<&str> {
        match &self.kind {
            StoreKind::Shared(name) => Some(name),
            StoreKind::External(_) | StoreKind::Managed(_) => None,
        }
    }

    /// The post-queue function's store variables: how it connects (never a secret by value),
    /// the database, the collection and the timeout.
    pub fn environment(
        &self,
        connection: &Connection,
        function_timeout_seconds: i32,
    ) -> HashMap<String, String> {
        let mut env = HashMap::from([
            (vars::MONGODB_DATABASE.to_owned(), self.database.clone()),
            (vars::MONGODB_COLLECTION.to_owned(), self.collection.clone()),
            (
                vars::MONGODB_TIMEOUT_MS.to_owned(),
                server_selection_timeout_ms(function_timeout_seconds).to_string(),
            ),
        ]);
        let connection = match connection {
            Connection::UriSecret(arn) => vec![(vars::MONGODB_URI_SECRET_ARN, arn)],
            Connection::Managed {
                uri,
                password_secret_arn,
            } => vec![
                (vars::MONGODB_URI, uri),
                (vars::MONGODB_PASSWORD_SECRET_ARN, password_secret_arn),
            ],
        };
        env.extend((connection.into_iter()).map(|(var, value)| (var.to_owned(), value.clone())));
        env
    }
}

/// How the post-queue function connects to its store, as its environment says it: never with a
/// secret in plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// A connection string kept in a secret (`store.mongodb_uri`, in the pipeline's secret): its
    /// ARN.
    UriSecret(String),
    /// The managed store: its connection string, without a password, and the writer secret.
    Managed {
        /// `mongodb://nami-writer@<ip>:27017/?authSource=<database>…`.
        uri: String,
        /// The secret holding the writer's password.
        password_secret_arn: String,
    },
}

/// Server-selection timeout given to the function: a third of its timeout, from the contract's
/// minimum up to its default, so a dead store fails a batch well before the function is killed.
pub fn server_selection_timeout_ms(function_timeout_seconds: i32) -> i64 {
    (i64::from(function_timeout_seconds) * 1000 / 3)
        .clamp(MONGODB_TIMEOUT_MS.min, MONGODB_TIMEOUT_MS.default)
}

/// The connection string of the managed store, for its writer: no password (the function reads
/// it from the writer secret), authenticated against the database the writer may use.
pub fn managed_uri(private_ip: &str, database: &str) -> String {
    user_uri(WRITER_USER, private_ip, database)
}

/// The connection string of `user` at a managed or shared store's `private_ip`, without a
/// password, authenticated against `database`.
pub fn user_uri(user: &str, private_ip: &str, database: &str) -> String {
    let port = crate::components::security_groups::MONGODB_PORT;
    format!("mongodb://{user}@{private_ip}:{port}/?authSource={database}&directConnection=true")
}

/// The secret a post-queue environment reads its connection string from, if any.
pub fn uri_secret_arn(env: &HashMap<String, String>) -> Option<&str> {
    env.get(vars::MONGODB_URI_SECRET_ARN).map(String::as_str)
}

/// The `store` block a post-queue environment describes (import). A connection string kept in
/// a secret is filled in by the caller, which reads it; for the managed store (found by its
/// instance) the settings are those AWS holds.
pub fn from_environment(
    env: &HashMap<String, String>,
    managed: Option<&instance::ManagedFacts>,
) -> StoreBlock {
    let get = |var: &str| env.get(var).cloned().map_or(Value::Null, Value::Value);
    let mut store = StoreBlock {
        mongodb_uri: get(vars::MONGODB_URI),
        database: get(vars::MONGODB_DATABASE),
        collection: get(vars::MONGODB_COLLECTION),
        ..Default::default()
    };
    if let Some(facts) = managed {
        store.mongodb_uri = Value::Null;
        // What the instance and the volume say; what they cannot say stays null (its default
        // then shows in the first plan).
        store.image = crate::model::value_of(facts.image.clone());
        store.retain_volume = crate::model::value_of(facts.retain_volume);
        store.volume_size = crate::model::value_of(facts.volume_size.map(i64::from));
    }
    store
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_reached_outside_a_vpc_without_tls_is_warned_about() {
        let warnings = |uri: &str| {
            let mut diags = tf_provider::Diagnostics::default();
            check_tls_outside_a_vpc(uri, &mut Checker::new(&mut diags));
            assert!(diags.errors.is_empty(), "a warning, not an error");
            diags.warnings.len()
        };
        assert_eq!(warnings("mongodb://u:p@db.example.com:27017/nami"), 1);
        assert_eq!(
            warnings("mongodb://db.example.com/?authSource=admin&tls=true"),
            0
        );
        assert_eq!(warnings("mongodb://db.example.com/?ssl=true"), 0);
        assert_eq!(warnings("mongodb+srv://u:p@cluster.example.net/nami"), 0);
        assert_eq!(
            warnings("mongodb://127.0.0.1:27017/?directConnection=true"),
            0
        );
    }

    #[test]
    fn the_function_connects_to_the_ports_its_store_uri_names() {
        let ports = |uri: &str| {
            Settings {
                kind: StoreKind::External(UriSource::Value(uri.into())),
                database: "nami".into(),
                collection: "c".into(),
            }
            .ports(Some(uri))
            .into_iter()
            .collect::<Vec<_>>()
        };
        assert_eq!(ports("mongodb://db.internal/?tls=true"), [27017]);
        assert_eq!(
            ports("mongodb://u:p@a:27018,b:27019,[fd00::1]:27020,[fd00::2]/db?replicaSet=rs"),
            [27017, 27018, 27019, 27020]
        );
        assert_eq!(ports("mongodb+srv://u:p@cluster.example.net/db"), [27017]);
    }

    #[test]
    fn the_managed_connection_string_holds_no_password() {
        let uri = managed_uri("10.42.1.7", "events");
        assert_eq!(
            uri,
            "mongodb://nami-writer@10.42.1.7:27017/?authSource=events&directConnection=true"
        );
    }

    #[test]
    fn import_reads_the_managed_store_back_from_the_environment() {
        let uri = managed_uri("10.42.1.7", "events");
        let settings = Settings {
            kind: StoreKind::External(UriSource::Value(uri.clone())),
            database: "events".into(),
            collection: "inbound".into(),
        };
        let by_arn = settings.environment(
            &Connection::UriSecret("arn:aws:secretsmanager:r:1:secret:u".into()),
            30,
        );
        assert!(!by_arn.contains_key(vars::MONGODB_URI), "never by value");
        assert_eq!(
            by_arn[vars::MONGODB_URI_SECRET_ARN],
            "arn:aws:secretsmanager:r:1:secret:u"
        );
        let external = from_environment(&by_arn, None);
        assert_eq!(external.collection, Value::Value("inbound".into()));
        let env = settings.environment(
            &Connection::Managed {
                uri: uri.clone(),
                password_secret_arn: "arn:aws:secretsmanager:r:1:secret:w".into(),
            },
            30,
        );
        assert_eq!(
            env[vars::MONGODB_PASSWORD_SECRET_ARN],
            "arn:aws:secretsmanager:r:1:secret:w"
        );
        let facts = instance::ManagedFacts {
            image: Some("mongo:8.0.4".into()),
            retain_volume: Some(false),
            volume_size: Some(30),
        };
        let managed = from_environment(&env, Some(&facts));
        assert!(
            managed.is_managed(),
            "no connection string: the managed store"
        );
        assert_eq!(managed.mongodb_uri, Value::Null);
        assert_eq!(managed.volume_size, Value::Value(30));
        assert_eq!(managed.image, Value::Value("mongo:8.0.4".into()));
        assert_eq!(managed.retain_volume, Value::Value(false));
        assert_eq!(managed.database, Value::Value("events".into()));
    }

    #[test]
    fn a_third_of_the_function_timeout_bounded_by_the_contract() {
        assert_eq!(server_selection_timeout_ms(3), 1000);
        assert_eq!(server_selection_timeout_ms(900), MONGODB_TIMEOUT_MS.default);
    }
}
