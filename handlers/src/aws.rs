//! The AWS SDK configuration both functions share: the credentials Lambda puts in the
//! environment (the standard chain where there are none), the standard region chain,
//! `AWS_ENDPOINT_URL` honoured (that is how the local emulator is reached), timeouts short
//! enough that a dead dependency answers well inside the function timeout, and an HTTPS client
//! that trusts the roots AWS's endpoints chain to, compiled in.

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::ConnectorBuilder;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

use crate::config::{self, Settings};

/// Amazon Trust Services' five root certificates (PEM): every AWS service endpoint's certificate
/// chains to one of them, and amazontrust.com recommends all five for a custom trust store.
pub const AMAZON_TRUST_SERVICES_ROOTS: &str = include_str!("../certs/amazon-trust-services.pem");

/// The loader with Nami's timeouts, retries and HTTPS client; callers may override endpoint or
/// credentials.
///
/// Where the environment holds credentials (Lambda always puts the execution role's there) they
/// are read from it directly: the standard chain would take them from the same place first, but
/// building it builds its fallbacks too — the web-identity provider's STS client among them,
/// 0.3–0.4 ms of a 2.3 ms init. Without them the standard chain is used.
pub fn sdk_config_loader() -> ConfigLoader {
    let loader = aws_config::defaults(BehaviorVersion::latest());
    let loader = if has_environment_credentials(&config::from_process_env()) {
        loader.credentials_provider(EnvironmentVariableCredentialsProvider::new())
    } else {
        loader
    };
    loader
        .http_client(https_client(trust_store()))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(12))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3))
}

/// Whether `env` sets the two variables the SDK's environment credentials need (the session
/// token is optional).
fn has_environment_credentials<F: Fn(&str) -> Option<String>>(env: &Settings<F>) -> bool {
    ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        .iter()
        .all(|name| env.optional(name).is_some())
}

/// Loads the shared SDK configuration once per process.
pub async fn load_sdk_config() -> SdkConfig {
    sdk_config_loader().load().await
}

/// The roots the functions' AWS calls trust: Amazon Trust Services', parsed from the binary —
/// the system's store (~150 files on a Debian host, a 200 KB bundle on Lambda) took 3 ms of a
/// 6 ms init to read and parse, and every AWS endpoint chains to one of these five.
pub fn trust_store() -> TrustStore {
    TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS)
}

/// The SDK's default HTTPS client (rustls with aws-lc, a proxy from `HTTPS_PROXY` and its kin)
/// trusting `roots`.
pub fn https_client(roots: TrustStore) -> SharedHttpClient {
    let context = TlsContext::builder()
        .with_trust_store(roots)
        .build()
        .expect("a TLS context of a trust store alone always builds");
    aws_smithy_http_client::Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &'static [(&str, &str)]) -> Settings<impl Fn(&str) -> Option<String>> {
        Settings(|name: &str| (vars.iter().find(|(n, _)| *n == name)).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn lambda_environment_credentials_are_read_directly() {
        let lambda = lookup(&[
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ]);
        assert!(has_environment_credentials(&lambda));
        let long_lived = lookup(&[
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ]);
        assert!(has_environment_credentials(&long_lived));
    }

    #[test]
    fn without_both_keys_the_standard_chain_is_used() {
        assert!(!has_environment_credentials(&lookup(&[])));
        assert!(!has_environment_credentials(&lookup(&[(
            "AWS_ACCESS_KEY_ID",
            "AKIA"
        )])));
        let blank = lookup(&[
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", " "),
        ]);
        assert!(!has_environment_credentials(&blank));
        let profile = lookup(&[("AWS_PROFILE", "dev")]);
        assert!(!has_environment_credentials(&profile));
    }
}
