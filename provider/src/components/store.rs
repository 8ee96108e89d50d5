//! The store: an existing MongoDB reached by connection string. The post-queue function gets it
//! through its environment; nothing is created in AWS for it.

use std::collections::HashMap;

use nami_handlers::config::vars;
use tf_provider::value::Value;

use crate::pipeline::model::StoreBlock;
use crate::pipeline::spec::StoreSettings;

/// Server-selection timeout given to the function: a third of its timeout, at most 5 s, so a dead
/// store fails a batch well before the function is killed.
pub fn server_selection_timeout_ms(function_timeout_seconds: i64) -> i64 {
    (function_timeout_seconds * 1000 / 3).clamp(100, 5000)
}

/// The post-queue function's store variables.
pub fn environment(
    store: &StoreSettings,
    function_timeout_seconds: i64,
) -> HashMap<String, String> {
    HashMap::from([
        (vars::MONGODB_URI.to_owned(), store.mongodb_uri.clone()),
        (vars::MONGODB_DATABASE.to_owned(), store.database.clone()),
        (
            vars::MONGODB_COLLECTION.to_owned(),
            store.collection.clone(),
        ),
        (
            vars::MONGODB_TIMEOUT_MS.to_owned(),
            server_selection_timeout_ms(function_timeout_seconds).to_string(),
        ),
    ])
}

/// The `store` block a function's environment describes (for import).
pub fn from_environment(env: &HashMap<String, String>) -> StoreBlock {
    let get = |var: &str| {
        env.get(var)
            .cloned()
            .map(Value::Value)
            .unwrap_or(Value::Null)
    };
    StoreBlock {
        mongodb_uri: get(vars::MONGODB_URI),
        database: get(vars::MONGODB_DATABASE),
        collection: get(vars::MONGODB_COLLECTION),
    }
}
