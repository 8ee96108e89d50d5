//! The AWS SDK configuration both functions share: the standard credential and region chain,
//! `AWS_ENDPOINT_URL` honoured (that is how the local emulator is reached), and timeouts short
//! enough that a dead dependency answers well inside the function timeout.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};

/// The loader with Nami's timeouts and retries; callers may override endpoint or credentials.
pub fn sdk_config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(12))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3))
}

/// Loads the shared SDK configuration once per process.
pub async fn load_sdk_config() -> SdkConfig {
    sdk_config_loader().load().await
}
