//! AWS-call boilerplate, once: the clients, one error type with one NotFound, and bounded retries
//! on named eventual-consistency codes.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata};
use tokio::time::Instant;

/// Every AWS client the provider uses, built once by `configure`.
#[derive(Debug, Clone)]
pub struct Clients {
    pub apigateway: aws_sdk_apigateway::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sts: aws_sdk_sts::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    /// The region every object is created in.
    pub region: String,
    /// Tags added to every object (the provider's `default_tags`).
    pub default_tags: BTreeMap<String, String>,
}

/// The clients once `configure` has run; otherwise an error saying so.
pub fn configured<'c>(
    clients: &'c std::sync::OnceLock<Clients>,
    diags: &mut tf_provider::Diagnostics,
) -> Option<&'c Clients> {
    let found = clients.get();
    if found.is_none() {
        diags.root_error(
            "Provider not configured",
            "the nami provider block was not configured before use",
        );
    }
    found
}

/// Per-service endpoint overrides (the provider's `endpoints {}` block).
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    pub apigateway: Option<String>,
    pub ec2: Option<String>,
    pub iam: Option<String>,
    pub lambda: Option<String>,
    pub sqs: Option<String>,
    pub sts: Option<String>,
    pub ssm: Option<String>,
    pub secretsmanager: Option<String>,
}

macro_rules! client {
    ($sdk:expr, $endpoint:expr, $service:ident) => {{
        let mut config = $service::config::Builder::from($sdk);
        if let Some(url) = $endpoint {
            config = config.endpoint_url(url);
        }
        $service::Client::from_conf(config.build())
    }};
}

impl Clients {
    /// Builds every client from one SDK configuration and the endpoint overrides.
    pub fn new(
        sdk: &SdkConfig,
        endpoints: &Endpoints,
        default_tags: BTreeMap<String, String>,
    ) -> Self {
        Clients {
            apigateway: client!(sdk, endpoints.apigateway.clone(), aws_sdk_apigateway),
            ec2: client!(sdk, endpoints.ec2.clone(), aws_sdk_ec2),
            iam: client!(sdk, endpoints.iam.clone(), aws_sdk_iam),
            lambda: client!(sdk, endpoints.lambda.clone(), aws_sdk_lambda),
            sqs: client!(sdk, endpoints.sqs.clone(), aws_sdk_sqs),
            sts: client!(sdk, endpoints.sts.clone(), aws_sdk_sts),
            ssm: client!(sdk, endpoints.ssm.clone(), aws_sdk_ssm),
            secretsmanager: client!(
                sdk,
                endpoints.secretsmanager.clone(),
                aws_sdk_secretsmanager
            ),
            region: sdk
                .region()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "us-east-1".into()),
            default_tags,
        }
    }
}

/// A failed AWS call.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// The object does not exist (any service's "not found" code).
    #[error("{operation}: not found")]
    NotFound { operation: &'static str },
    /// Any other failure, with the service's code when it sent one.
    #[error("{operation} failed: {message}")]
    Api {
        operation: &'static str,
        code: Option<String>,
        message: String,
    },
    /// A wait for a state ran out of time.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
}

/// Error codes by which AWS services say "does not exist".
const NOT_FOUND_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "NoSuchEntity",
    "NotFoundException",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "ParameterNotFound",
];

impl AwsError {
    /// The service's error code, if any.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The service's message, if any.
    pub fn message(&self) -> &str {
        match self {
            AwsError::Api { message, .. } => message,
            _ => "",
        }
    }

    /// Whether the object is gone.
    pub fn is_not_found(&self) -> bool {
        matches!(self, AwsError::NotFound { .. })
    }
}

/// Classifies an SDK error of `operation`.
pub fn aws_error<E>(operation: &'static str) -> impl FnOnce(E) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    move |error| {
        let code = error.code().map(str::to_owned);
        let not_found = code
            .as_deref()
            .is_some_and(|code| NOT_FOUND_CODES.contains(&code) || code.ends_with(".NotFound"));
        if not_found {
            AwsError::NotFound { operation }
        } else {
            let message = error
                .message()
                .map(str::to_owned)
                .unwrap_or_else(|| DisplayErrorContext(&error).to_string());
            AwsError::Api {
                operation,
                code,
                message,
            }
        }
    }
}

/// `Ok(None)` for NotFound, so finders read naturally.
pub trait OptionalNotFound<T> {
    fn found(self) -> Result<Option<T>, AwsError>;
}

impl<T> OptionalNotFound<T> for Result<T, AwsError> {
    fn found(self) -> Result<Option<T>, AwsError> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// Retries `call` while `retryable` says its error is a named propagation error, with
/// exponential backoff, until `deadline`.
pub async fn retry_while<T, F, Fut>(
    retryable: impl Fn(&AwsError) -> bool,
    deadline: Instant,
    mut call: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let mut delay = Duration::from_millis(250);
    loop {
        match call().await {
            Err(error) if retryable(&error) && Instant::now() + delay < deadline => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            result => return result,
        }
    }
}

/// An error whose code is one of `codes`.
pub fn has_code(codes: &'static [&'static str]) -> impl Fn(&AwsError) -> bool {
    move |error| error.code().is_some_and(|code| codes.contains(&code))
}

/// Polls `check` until it returns `Some`, bounded by `deadline`.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Instant, mut check: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, AwsError>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(200);
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if Instant::now() + delay >= deadline {
            return Err(AwsError::Timeout(started.elapsed(), what.to_owned()));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Tags of an object of the pipeline: default tags, then the resource's tags, then Nami's own.
pub fn object_tags(
    clients: &Clients,
    tags: &BTreeMap<String, String>,
    pipeline: &str,
) -> BTreeMap<String, String> {
    let mut all = clients.default_tags.clone();
    all.extend(tags.clone());
    all.insert(PIPELINE_TAG.to_owned(), pipeline.to_owned());
    all
}

/// The tag that marks every object of a pipeline with its name.
pub const PIPELINE_TAG: &str = "nami:pipeline";
