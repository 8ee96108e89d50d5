//! Configuration of both functions, read from their environment.
//!
//! Every variable name lives in [`nami_contract::vars`], once: the provider sets exactly these.

use std::str::FromStr;

use crate::secrets::SecretSource;
use crate::signature::SchemeConfigError;

/// Names of the environment variables the functions read (the contract's, re-exported).
pub use nami_contract::vars;

/// A configuration the function cannot start with. The function then fails its init.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A variable holds a value that is not allowed.
    #[error("{var}={value:?} is invalid: expected {expected}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is allowed.
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
            (None, _) => self.secret_arn(arn_var),
        }
    }

    /// A secret that can only be given by ARN (`arn_var`), if set.
    pub fn secret_arn(&self, arn_var: &'static str) -> Result<Option<SecretSource>, ConfigError> {
        let Some(arn) = self.optional(arn_var) else {
            return Ok(None);
        };
        SecretSource::arn(&arn)
            .map(Some)
            .ok_or_else(|| ConfigError::Invalid {
                var: arn_var,
                value: arn,
                expected: "an arn:aws:secretsmanager:… or arn:aws:ssm:…:parameter/… ARN".into(),
            })
    }
}

/// Settings read from the process environment.
pub fn from_process_env() -> Settings<fn(&str) -> Option<String>> {
    Settings(|var| std::env::var(var).ok())
}
