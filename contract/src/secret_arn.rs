//! Secret ARNs: the signing secret or MongoDB URI given by reference instead of by value.

/// The service a secret ARN points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretStore {
    /// A Secrets Manager secret (`arn:aws:secretsmanager:…:secret:…`).
    SecretsManager,
    /// An SSM Parameter Store parameter (`arn:aws:ssm:…:parameter/…`), read with decryption.
    Parameter,
}

impl SecretStore {
    /// Which service `arn` names; `None` for anything that is neither a secret nor a parameter ARN.
    pub fn of_arn(arn: &str) -> Option<Self> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        match parts.as_slice() {
            ["arn", _, "secretsmanager", _, _, rest] if rest.starts_with("secret:") => {
                Some(SecretStore::SecretsManager)
            }
            ["arn", _, "ssm", _, _, rest] if rest.starts_with("parameter/") => {
                Some(SecretStore::Parameter)
            }
            _ => None,
        }
    }

    /// The service's name in endpoints and in `kms:ViaService` (`<service>.<region>.amazonaws.com`).
    pub fn service(self) -> &'static str {
        match self {
            SecretStore::SecretsManager => "secretsmanager",
            SecretStore::Parameter => "ssm",
        }
    }

    /// The key of the KMS encryption context under which the store encrypts a secret with its
    /// ARN as value: a `kms:Decrypt` grant on this context opens exactly that secret.
    pub fn encryption_context_key(self) -> &'static str {
        match self {
            SecretStore::SecretsManager => "SecretARN",
            SecretStore::Parameter => "PARAMETER_ARN",
        }
    }

    /// The alias of the AWS-managed key the store uses when no customer-managed key is set.
    pub fn default_key_alias(self) -> &'static str {
        match self {
            SecretStore::SecretsManager => "alias/aws/secretsmanager",
            SecretStore::Parameter => "alias/aws/ssm",
        }
    }

    /// The one IAM action that reads a secret of this store.
    pub fn read_action(self) -> &'static str {
        match self {
            SecretStore::SecretsManager => "secretsmanager:GetSecretValue",
            SecretStore::Parameter => "ssm:GetParameter",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_arns() {
        assert_eq!(
            SecretStore::of_arn("arn:aws:secretsmanager:us-east-1:1:secret:nami/github-AbCdEf"),
            Some(SecretStore::SecretsManager)
        );
        assert_eq!(
            SecretStore::of_arn("arn:aws:ssm:eu-west-1:1:parameter/nami/github"),
            Some(SecretStore::Parameter)
        );
        for bad in [
            "",
            "github",
            "arn:aws:s3:::bucket/key",
            "arn:aws:ssm:eu-west-1:1:document/x",
        ] {
            assert_eq!(SecretStore::of_arn(bad), None, "{bad}");
        }
    }
}
