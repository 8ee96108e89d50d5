//! Secrets given by value or fetched once, at init, by ARN from Secrets Manager or SSM.

use std::fmt;

use aws_config::SdkConfig;
use nami_contract::secret_arn::SecretStore;

/// Where a secret comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The secret itself (from the function's environment).
    Value(String),
    /// A Secrets Manager secret ARN.
    SecretsManager(String),
    /// An SSM Parameter Store parameter ARN (read with decryption).
    Parameter(String),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Value(_) => f.write_str("Value(<redacted>)"),
            SecretSource::SecretsManager(arn) => write!(f, "SecretsManager({arn})"),
            SecretSource::Parameter(arn) => write!(f, "Parameter({arn})"),
        }
    }
}

/// A secret could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The service call failed.
    #[error("could not read secret {arn}: {message}")]
    Fetch {
        /// The secret's ARN.
        arn: String,
        /// The service's error.
        message: String,
    },
    /// The secret exists but holds no text.
    #[error("secret {0} has no string value")]
    Empty(String),
}

impl SecretSource {
    /// Classifies an ARN; `None` for anything that is neither a secret nor a parameter ARN.
    pub fn arn(arn: &str) -> Option<Self> {
        Some(match SecretStore::of_arn(arn)? {
            SecretStore::SecretsManager => SecretSource::SecretsManager(arn.to_owned()),
            SecretStore::Parameter => SecretSource::Parameter(arn.to_owned()),
        })
    }

    /// The secret's value; fetched from AWS when given by ARN.
    pub async fn resolve(&self, sdk: &SdkConfig) -> Result<String, SecretError> {
        let fetch_error = |arn: &str, error: &dyn std::error::Error| SecretError::Fetch {
            arn: arn.to_owned(),
            message: aws_sdk_ssm::error::DisplayErrorContext(error).to_string(),
        };
        let (arn, value) = match self {
            SecretSource::Value(value) => return Ok(value.clone()),
            SecretSource::SecretsManager(arn) => (
                arn,
                aws_sdk_secretsmanager::Client::new(sdk)
                    .get_secret_value()
                    .secret_id(arn)
                    .send()
                    .await
                    .map_err(|error| fetch_error(arn, &error))?
                    .secret_string,
            ),
            SecretSource::Parameter(arn) => (
                arn,
                aws_sdk_ssm::Client::new(sdk)
                    .get_parameter()
                    .name(arn)
                    .with_decryption(true)
                    .send()
                    .await
                    .map_err(|error| fetch_error(arn, &error))?
                    .parameter
                    .and_then(|parameter| parameter.value),
            ),
        };
        value
            .filter(|v| !v.is_empty())
            .ok_or_else(|| SecretError::Empty(arn.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_arns() {
        let secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nami/github-AbCdEf";
        assert_eq!(
            SecretSource::arn(secret),
            Some(SecretSource::SecretsManager(secret.into()))
        );
        let parameter = "arn:aws:ssm:eu-west-1:123456789012:parameter/nami/github";
        assert_eq!(
            SecretSource::arn(parameter),
            Some(SecretSource::Parameter(parameter.into()))
        );
        for bad in [
            "",
            "github",
            "arn:aws:s3:::bucket/key",
            "arn:aws:ssm:eu-west-1:1:document/x",
        ] {
            assert_eq!(SecretSource::arn(bad), None, "{bad}");
        }
        assert!(!format!("{:?}", SecretSource::Value("hunter2".into())).contains("hunter2"));
    }
}
