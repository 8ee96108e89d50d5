//! The functions' environments: built from the settings on create and update, and read back
//! into the `signature` block on import. Variable names are the contract's.

use std::collections::HashMap;

use nami_contract::vars;
use tf_provider::value::Value;

use crate::model::SignatureBlock;

/// The `signature` settings and the variables that carry them, in one table.
fn signature_vars(signature: &SignatureBlock) -> [(&'static str, &crate::model::Str); 8] {
    [
        (vars::SIGNATURE_SCHEME, &signature.scheme),
        (vars::SIGNATURE_SECRET, &signature.secret),
        (vars::SIGNATURE_SECRET_ARN, &signature.secret_arn),
        (vars::DELIVERY_ID, &signature.delivery_id),
        (vars::SIGNATURE_HEADER, &signature.header),
        (vars::SIGNATURE_ALGORITHM, &signature.algorithm),
        (vars::SIGNATURE_ENCODING, &signature.encoding),
        (vars::SIGNATURE_PREFIX, &signature.prefix),
    ]
}

/// The pre-queue function's environment. `replay_table` is the replay window's table, when the
/// signature block sets one.
pub fn pre_queue(
    pipeline: &str,
    queue_url: &str,
    max_message_bytes: i32,
    signature: &SignatureBlock,
    replay_table: Option<&str>,
) -> HashMap<String, String> {
    let mut env = HashMap::from([
        (vars::PIPELINE.to_owned(), pipeline.to_owned()),
        (vars::QUEUE_URL.to_owned(), queue_url.to_owned()),
        (
            vars::MAX_MESSAGE_BYTES.to_owned(),
            max_message_bytes.to_string(),
        ),
    ]);
    for (var, value) in signature_vars(signature) {
        if let Some(value) = value.as_ref_option() {
            env.insert(var.to_owned(), value.clone());
        }
    }
    if let Some(tolerance) = signature.tolerance_seconds.as_ref_option() {
        env.insert(
            vars::SIGNATURE_TOLERANCE_SECONDS.to_owned(),
            tolerance.to_string(),
        );
    }
    if let (Some(window), Some(table)) = (
        signature.replay_window_seconds.as_ref_option(),
        replay_table,
    ) {
        env.insert(vars::REPLAY_WINDOW_SECONDS.to_owned(), window.to_string());
        env.insert(vars::REPLAY_TABLE.to_owned(), table.to_owned());
    }
    env
}

/// The post-queue function's environment: the pipeline's name and the store's variables.
pub fn post_queue(pipeline: &str, store: HashMap<String, String>) -> HashMap<String, String> {
    let mut env = store;
    env.insert(vars::PIPELINE.to_owned(), pipeline.to_owned());
    env
}

/// The `signature` block a pre-queue environment describes (import).
pub fn signature_from(env: &HashMap<String, String>) -> SignatureBlock {
    let get = |var: &str| env.get(var).cloned().map_or(Value::Null, Value::Value);
    SignatureBlock {
        scheme: get(vars::SIGNATURE_SCHEME),
        secret: get(vars::SIGNATURE_SECRET),
        secret_arn: get(vars::SIGNATURE_SECRET_ARN),
        tolerance_seconds: env
            .get(vars::SIGNATURE_TOLERANCE_SECONDS)
            .and_then(|v| v.parse().ok())
            .map_or(Value::Null, Value::Value),
        replay_window_seconds: env
            .get(vars::REPLAY_WINDOW_SECONDS)
            .and_then(|v| v.parse().ok())
            .map_or(Value::Null, Value::Value),
        delivery_id: get(vars::DELIVERY_ID),
        header: get(vars::SIGNATURE_HEADER),
        algorithm: get(vars::SIGNATURE_ALGORITHM),
        encoding: get(vars::SIGNATURE_ENCODING),
        prefix: get(vars::SIGNATURE_PREFIX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signature_setting_survives_the_environment_round_trip() {
        let signature = SignatureBlock {
            scheme: Value::Value("hmac".into()),
            secret: Value::Null,
            secret_arn: Value::Value("arn:aws:ssm:us-east-1:1:parameter/nami/s".into()),
            tolerance_seconds: Value::Value(120),
            replay_window_seconds: Value::Value(3600),
            delivery_id: Value::Value("json:/event/id".into()),
            header: Value::Value("x-signature".into()),
            algorithm: Value::Value("sha1".into()),
            encoding: Value::Value("base64".into()),
            prefix: Value::Value("sha1=".into()),
        };
        let env = pre_queue(
            "orders",
            "https://q",
            4096,
            &signature,
            Some("nami-orders-replay"),
        );
        assert_eq!(env[vars::REPLAY_TABLE], "nami-orders-replay");
        assert_eq!(env[vars::QUEUE_URL], "https://q");
        assert_eq!(env[vars::MAX_MESSAGE_BYTES], "4096");
        assert!(!env.contains_key(vars::SIGNATURE_SECRET));
        assert_eq!(signature_from(&env), signature);
    }

    #[test]
    fn the_post_queue_environment_names_the_pipeline() {
        let store = HashMap::from([(vars::MONGODB_URI.to_owned(), "mongodb://db".to_owned())]);
        let env = post_queue("orders", store);
        assert_eq!(env[vars::PIPELINE], "orders");
        assert_eq!(env[vars::MONGODB_URI], "mongodb://db");
    }
}
