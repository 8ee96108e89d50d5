//! Configuration of both functions, read from their environment.
//!
//! Every variable name lives here, once: the provider sets exactly these on the functions.

use std::str::FromStr;

use crate::secrets::SecretSource;
use crate::signature::SchemeConfigError;

/// Names of the environment variables the functions read.
pub mod vars {
    /// The pipeline's name (both functions).
    pub const PIPELINE: &str = "NAMI_PIPELINE";
    /// URL of the SQS queue the pre-queue function sends to.
    pub const QUEUE_URL: &str = "NAMI_QUEUE_URL";
    /// The queue's MaximumMessageSize in bytes; larger envelopes get a 413.
    pub const MAX_MESSAGE_BYTES: &str = "NAMI_MAX_MESSAGE_BYTES";
    /// Signature scheme: github, stripe, slack, shopify, standard-webhooks, hmac or none.
    pub const SIGNATURE_SCHEME: &str = "NAMI_SIGNATURE_SCHEME";
    /// The signing secret itself.
    pub const SIGNATURE_SECRET: &str = "NAMI_SIGNATURE_SECRET";
    /// ARN of a Secrets Manager secret or SSM parameter holding the signing secret.
    pub const SIGNATURE_SECRET_ARN: &str = "NAMI_SIGNATURE_SECRET_ARN";
    /// Allowed distance between a signed timestamp and now, in seconds.
    pub const SIGNATURE_TOLERANCE_SECONDS: &str = "NAMI_SIGNATURE_TOLERANCE_SECONDS";
    /// `hmac` scheme: the header carrying the signature.
    pub const SIGNATURE_HEADER: &str = "NAMI_SIGNATURE_HEADER";
    /// `hmac` scheme: sha256 (default) or sha1.
    pub const SIGNATURE_ALGORITHM: &str = "NAMI_SIGNATURE_ALGORITHM";
    /// `hmac` scheme: hex (default) or base64.
    pub const SIGNATURE_ENCODING: &str = "NAMI_SIGNATURE_ENCODING";
    /// `hmac` scheme: text before the signature, such as `sha256=`.
    pub const SIGNATURE_PREFIX: &str = "NAMI_SIGNATURE_PREFIX";
    /// Where the delivery id comes from: `header:<name>` or `json:<pointer>`.
    pub const DELIVERY_ID: &str = "NAMI_DELIVERY_ID";
    /// MongoDB connection string (post-queue).
    pub const MONGODB_URI: &str = "NAMI_MONGODB_URI";
    /// ARN of a Secrets Manager secret or SSM parameter holding the MongoDB URI.
    pub const MONGODB_URI_SECRET_ARN: &str = "NAMI_MONGODB_URI_SECRET_ARN";
    /// Database name (default `nami`).
    pub const MONGODB_DATABASE: &str = "NAMI_MONGODB_DATABASE";
    /// Collection name (default: the pipeline's name).
    pub const MONGODB_COLLECTION: &str = "NAMI_MONGODB_COLLECTION";
    /// Server selection timeout in milliseconds; keep it well below the function timeout.
    pub const MONGODB_TIMEOUT_MS: &str = "NAMI_MONGODB_TIMEOUT_MS";
}

/// A configuration the function cannot start with. The function then fails its init.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A variable holds a value that is not allowed.
    #[error("{var}={value:?} is invalid: expected {expected}")]
    Invalid {
        var: &'static str,
        value: String,
        expected: String,
    },
    /// Both a value and an ARN were given for the same secret.
    #[error("set only one of {0} and {1}")]
    Ambiguous(&'static str, &'static str),
    /// The signature configuration is unusable.
    #[error(transparent)]
    Scheme(#[from] SchemeConfigError),
    /// The MongoDB connection string cannot be used.
    #[error("invalid MongoDB connection string: {0}")]
    MongoUri(String),
    /// A secret could not be fetched by its ARN.
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
}

/// Reads variables through a lookup function, so tests need no process environment.
pub struct Settings<F>(pub F);

impl<F: Fn(&str) -> Option<String>> Settings<F> {
    /// A set, non-blank value.
    pub fn optional(&self, var: &str) -> Option<String> {
        (self.0)(var).filter(|value| !value.trim().is_empty())
    }

    /// A value that must be set.
    pub fn required(&self, var: &'static str) -> Result<String, ConfigError> {
        self.optional(var).ok_or(ConfigError::Missing(var))
    }

    /// A number within `range`, or `default` when unset.
    pub fn number<T>(
        &self,
        var: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(text) = self.optional(var) else {
            return Ok(default);
        };
        match text.trim().parse::<T>() {
            Ok(value) if range.contains(&value) => Ok(value),
            _ => Err(ConfigError::Invalid {
                var,
                value: text,
                expected: format!("a whole number from {} to {}", range.start(), range.end()),
            }),
        }
    }

    /// A secret given either by value or by ARN (at most one of them).
    pub fn secret(
        &self,
        value_var: &'static str,
        arn_var: &'static str,
    ) -> Result<Option<SecretSource>, ConfigError> {
        match (self.optional(value_var), self.optional(arn_var)) {
            (Some(_), Some(_)) => Err(ConfigError::Ambiguous(value_var, arn_var)),
            (Some(value), None) => Ok(Some(SecretSource::Value(value))),
            (None, Some(arn)) => {
                SecretSource::arn(&arn)
                    .map(Some)
                    .ok_or_else(|| ConfigError::Invalid {
                        var: arn_var,
                        value: arn,
                        expected: "an arn:aws:secretsmanager:… or arn:aws:ssm:…:parameter/… ARN"
                            .into(),
                    })
            }
            (None, None) => Ok(None),
        }
    }
}

/// Settings read from the process environment.
pub fn from_process_env() -> Settings<fn(&str) -> Option<String>> {
    Settings(|var| std::env::var(var).ok())
}
