//! AWS-call boilerplate, once: the clients, one error type with one NotFound, deletes where
//! "not found" means done, tag changes, and bounded, jittered retries on named propagation errors.

use std::collections::BTreeMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use tokio::time::Instant;

use crate::artifacts::ArtifactError;

/// Every AWS client the provider uses, built once by `configure`.
#[derive(Debug, Clone)]
pub struct Clients {
    /// API Gateway (REST APIs).
    pub apigateway: aws_sdk_apigateway::Client,
    /// EC2 (network, security groups, the store's instance and volume).
    pub ec2: aws_sdk_ec2::Client,
    /// IAM (the functions' roles).
    pub iam: aws_sdk_iam::Client,
    /// Lambda (functions, permissions, the mapping).
    pub lambda: aws_sdk_lambda::Client,
    /// SQS (the queues).
    pub sqs: aws_sdk_sqs::Client,
    /// STS (the credentials check at configure).
    pub sts: aws_sdk_sts::Client,
    /// SSM (the store's AMI parameter).
    pub ssm: aws_sdk_ssm::Client,
    /// Secrets Manager.
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    /// DynamoDB (the replay table).
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Data Lifecycle Manager (the managed store's snapshots).
    pub dlm: aws_sdk_dlm::Client,
    /// CloudWatch Logs (the functions' log groups).
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// CloudWatch (the alarms).
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// The region every object is created in.
    pub region: String,
    /// The endpoint overrides they were built with.
    pub endpoints: Endpoints,
    /// Tags added to every object (the provider's `default_tags`).
    pub default_tags: BTreeMap<String, String>,
}

/// `tags_all`: the provider's `default_tags` with the resource's `tags` over them.
pub fn tags_all(
    default_tags: &BTreeMap<String, String>,
    tags: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut all = default_tags.clone();
    all.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    all
}

/// The resource's own tags among an object's tags `all`: without the provider's default tags and
/// Nami's own (the inverse of [`tags_all`], for import).
pub fn own_tags(
    default_tags: &BTreeMap<String, String>,
    all: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    all.iter()
        .filter(|(key, value)| {
            !nami_contract::naming::is_nami_tag(key) && default_tags.get(*key) != Some(*value)
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
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
    /// API Gateway's endpoint.
    pub apigateway: Option<String>,
    /// EC2's endpoint.
    pub ec2: Option<String>,
    /// IAM's endpoint.
    pub iam: Option<String>,
    /// Lambda's endpoint.
    pub lambda: Option<String>,
    /// SQS's endpoint.
    pub sqs: Option<String>,
    /// STS's endpoint.
    pub sts: Option<String>,
    /// SSM's endpoint.
    pub ssm: Option<String>,
    /// Secrets Manager's endpoint.
    pub secretsmanager: Option<String>,
    /// DynamoDB's endpoint.
    pub dynamodb: Option<String>,
    /// Data Lifecycle Manager's endpoint.
    pub dlm: Option<String>,
    /// CloudWatch Logs' endpoint.
    pub logs: Option<String>,
    /// CloudWatch's endpoint.
    pub cloudwatch: Option<String>,
}

impl Endpoints {
    /// The services whose endpoint is overridden.
    pub fn overridden(&self) -> Vec<&'static str> {
        [
            ("apigateway", &self.apigateway),
            ("ec2", &self.ec2),
            ("iam", &self.iam),
            ("lambda", &self.lambda),
            ("sqs", &self.sqs),
            ("sts", &self.sts),
            ("ssm", &self.ssm),
            ("secretsmanager", &self.secretsmanager),
            ("dynamodb", &self.dynamodb),
            ("dlm", &self.dlm),
            ("logs", &self.logs),
            ("cloudwatch", &self.cloudwatch),
        ]
        .into_iter()
        .filter(|(_, url)| url.is_some())
        .map(|(service, _)| service)
        .collect()
    }

    /// Of `needed`, the services that would go to AWS itself while others are overridden (a
    /// partial `endpoints {}` block): empty when none is overridden or all needed ones are.
    pub fn missing(&self, needed: &[&'static str]) -> Vec<&'static str> {
        let overridden = self.overridden();
        if overridden.is_empty() {
            return Vec::new();
        }
        (needed.iter().copied())
            .filter(|service| !overridden.contains(service))
            .collect()
    }
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
            dynamodb: client!(sdk, endpoints.dynamodb.clone(), aws_sdk_dynamodb),
            dlm: client!(sdk, endpoints.dlm.clone(), aws_sdk_dlm),
            logs: client!(sdk, endpoints.logs.clone(), aws_sdk_cloudwatchlogs),
            cloudwatch: client!(sdk, endpoints.cloudwatch.clone(), aws_sdk_cloudwatch),
            endpoints: endpoints.clone(),
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
    NotFound {
        /// The call, as `service:Operation`.
        operation: &'static str,
    },
    /// Any other failure, with the service's code when it sent one.
    #[error("{operation} failed{}: {message}{}", code_part(code), hint(code.as_deref()))]
    Api {
        /// The call, as `service:Operation`.
        operation: &'static str,
        /// The service's error code, when it sent one.
        code: Option<String>,
        /// The service's message.
        message: String,
    },
    /// The service's endpoint could not be reached (refused, unresolvable, timed out): nothing
    /// answered, so no AWS error code exists.
    #[error(
        "{operation} could not reach the {} endpoint: {cause}. Check the provider's region and \
         `endpoints {{}}` block (an endpoint left out goes to AWS itself) and the network",
        service_of(operation)
    )]
    Unreachable {
        /// The call, as `service:Operation`.
        operation: &'static str,
        /// What failed, from the connection's errors.
        cause: String,
    },
    /// A wait for a state ran out of time.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
    /// A create answered with an object this pipeline did not create (SQS answers `CreateQueue`
    /// with an existing queue of the same name and attributes): it is not recorded.
    #[error(
        "{operation} answered with {object}, which this pipeline did not create: the name is in use"
    )]
    NotOwned {
        /// The call, as `service:Operation`.
        operation: &'static str,
        /// The object, as kind and id.
        object: String,
    },
    /// An object the configuration names (a VPC, subnet or volume) is missing or unusable; found
    /// before anything else is created.
    #[error("{0}")]
    Unusable(String),
    /// A local file (a function's artifact) could not be used; no AWS call was made.
    #[error(transparent)]
    LocalFile(#[from] ArtifactError),
}

fn code_part(code: &Option<String>) -> String {
    code.as_ref()
        .map(|code| format!(" ({code})"))
        .unwrap_or_default()
}

fn service_of(operation: &str) -> &str {
    operation.split(':').next().unwrap_or(operation)
}

/// What to check for the error codes whose cause is the caller's, not the call's.
fn hint(code: Option<&str>) -> &'static str {
    match code {
        Some(
            "AccessDenied"
            | "AccessDeniedException"
            | "UnauthorizedOperation"
            | "AuthorizationError",
        ) => ". Check the IAM permissions of the provider's credentials",
        Some(
            "InvalidClientTokenId"
            | "UnrecognizedClientException"
            | "AuthFailure"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "SignatureDoesNotMatch",
        ) => ". Check the provider's credentials (access_key/secret_key, profile or environment)",
        Some(
            "Throttling"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "TooManyRequestsException",
        ) => ". AWS kept throttling after the retries; apply again later",
        _ => "",
    }
}

/// Error codes by which AWS services say "does not exist".
const NOT_FOUND_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "NoSuchEntity",
    "NotFoundException",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "ParameterNotFound",
    // CloudWatch's, for a dashboard.
    "ResourceNotFound",
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
        if let Some(cause) = unreachable(&error) {
            return AwsError::Unreachable { operation, cause };
        }
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
                .unwrap_or_else(|| causes(&error));
            AwsError::Api {
                operation,
                code,
                message,
            }
        }
    }
}

/// Why the endpoint could not be reached, when that is what failed: the connector's error
/// (refused, DNS, timeout) somewhere in the chain.
fn unreachable(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    use aws_smithy_runtime_api::client::result::ConnectorError;
    let mut source = Some(error);
    while let Some(current) = source {
        if let Some(connector) = current.downcast_ref::<ConnectorError>() {
            let kind = if connector.is_timeout() {
                "timed out"
            } else {
                "connection failed"
            };
            return Some(match std::error::Error::source(connector) {
                Some(inner) => format!("{kind} ({})", innermost(inner)),
                None => kind.to_owned(),
            });
        }
        source = current.source();
    }
    None
}

/// The last error of a chain: the one that says what happened (`Connection refused (os error
/// 111)`), without the layers' own words.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// An error and its sources, each once, joined by ": " — their `Display`, never `Debug`.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = Some(error);
    while let Some(current) = source {
        let text = current.to_string();
        if !text.is_empty() && !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        source = current.source();
    }
    parts.join(": ")
}

/// The id a create call returned; a response without one is an error naming the call.
pub fn returned<T>(operation: &'static str, id: Option<T>) -> Result<T, AwsError> {
    id.ok_or_else(|| AwsError::Api {
        operation,
        code: None,
        message: "the response carried no id".to_owned(),
    })
}

/// `Ok(None)` for NotFound, so finders read naturally.
pub trait OptionalNotFound<T> {
    /// The value, `None` for NotFound, any other error as it is.
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

/// Retries `call` while `retryable` says its error is a named propagation error, with jittered
/// exponential backoff, until `deadline`. Any other error, or the deadline, ends the retries.
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
                tokio::time::sleep(jittered(delay)).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            result => return result,
        }
    }
}

/// How long EC2 may answer `*.NotFound` for an object it has just created (its API is
/// eventually consistent): calls made right after a create retry that long, not until the deadline.
pub const PROPAGATION: Duration = Duration::from_secs(30);

/// Runs `call` on an object created moments ago, retrying its NotFound for [`PROPAGATION`]
/// (bounded by `deadline`): EC2's answer while a new id propagates.
pub async fn after_create<T, F, Fut>(deadline: Instant, call: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let bound = deadline.min(Instant::now() + PROPAGATION);
    retry_while(AwsError::is_not_found, bound, call).await
}

/// `delay` scaled by a random factor from 0.5 to 1.0 ("equal jitter"), so concurrent retries of
/// several objects do not hit the API in step.
fn jittered(delay: Duration) -> Duration {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let fraction = 0.5 + (random % 1_000) as f64 / 2_000.0;
    delay.mul_f64(fraction)
}

/// An error whose code is one of `codes`.
pub fn has_code(codes: &'static [&'static str]) -> impl Fn(&AwsError) -> bool {
    move |error| error.code().is_some_and(|code| codes.contains(&code))
}

/// An error with `code` whose message contains `fragment`: a code alone is too broad when the
/// service uses it for real mistakes too (Lambda's `InvalidParameterValueException`).
pub fn has_code_and_message(
    code: &'static str,
    fragment: &'static str,
) -> impl Fn(&AwsError) -> bool {
    move |error| error.code() == Some(code) && error.message().contains(fragment)
}

/// Deletes an object: `call` is the SDK delete; an object that is already gone counts as deleted.
pub async fn delete<T, E>(
    operation: &'static str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<(), AwsError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    call.await.map_err(aws_error(operation)).found().map(drop)
}

/// A change of an object's tags: every tag it must carry, and the keys to take off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagChange {
    /// The full set of tags (default tags, the resource's, Nami's own).
    pub tags: BTreeMap<String, String>,
    /// Keys the object carried before that are no longer wanted.
    pub removed: Vec<String>,
}

impl TagChange {
    /// The change from tags `before` to `after`.
    pub fn new(before: &BTreeMap<String, String>, after: BTreeMap<String, String>) -> Self {
        let removed = before
            .keys()
            .filter(|key| !after.contains_key(*key))
            .cloned()
            .collect();
        TagChange {
            tags: after,
            removed,
        }
    }

    /// Applies the change with one service's calls: `tag` puts every tag (idempotent), then
    /// `untag` removes the dropped keys, when there are any.
    pub async fn apply<T, U>(
        &self,
        tag: impl AsyncFnOnce(&BTreeMap<String, String>) -> Result<T, AwsError>,
        untag: impl AsyncFnOnce(&[String]) -> Result<U, AwsError>,
    ) -> Result<(), AwsError> {
        tag(&self.tags).await?;
        if !self.removed.is_empty() {
            untag(&self.removed).await?;
        }
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_file_error_is_not_reported_as_an_aws_call() {
        let error = AwsError::from(ArtifactError::NotZip("custom.zip".into()));
        assert!(matches!(error, AwsError::LocalFile(_)));
        assert_eq!(error.code(), None);
        assert_eq!(
            error.to_string(),
            "custom.zip is not a zip archive (expected a bootstrap.zip built with cargo-lambda)"
        );
    }

    #[test]
    fn tag_changes_remove_only_dropped_keys() {
        let before = BTreeMap::from([
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned()),
        ]);
        let after = BTreeMap::from([
            ("b".to_owned(), "3".to_owned()),
            ("c".to_owned(), "4".to_owned()),
        ]);
        let change = TagChange::new(&before, after.clone());
        assert_eq!(change.removed, ["a"]);
        assert_eq!(change.tags, after);
    }

    #[tokio::test]
    async fn a_new_object_is_waited_for_but_a_missing_one_is_not_waited_for_long() {
        let not_found = || AwsError::NotFound {
            operation: "ec2:DescribeSubnets",
        };
        // Found on the third call: the propagation window covers it.
        let mut calls = 0;
        let found = after_create(Instant::now() + Duration::from_secs(60), || {
            calls += 1;
            let answer = if calls < 3 {
                Err(not_found())
            } else {
                Ok(calls)
            };
            async move { answer }
        })
        .await;
        assert_eq!(found.unwrap(), 3);
        // Never found: given up at the deadline, NotFound kept.
        let started = Instant::now();
        let missing: Result<(), _> =
            after_create(Instant::now() + Duration::from_millis(600), || async {
                Err(not_found())
            })
            .await;
        assert!(missing.unwrap_err().is_not_found());
        assert!(started.elapsed() < Duration::from_secs(2));
        // Any other error is not retried.
        let mut tries = 0;
        let other: Result<(), _> = after_create(Instant::now() + Duration::from_secs(60), || {
            tries += 1;
            async { Err(AwsError::Unusable("no".into())) }
        })
        .await;
        assert!(other.is_err() && tries == 1);
    }

    #[test]
    fn jitter_stays_between_half_and_the_whole_delay() {
        for _ in 0..100 {
            let delay = jittered(Duration::from_secs(2));
            assert!(delay >= Duration::from_secs(1) && delay <= Duration::from_secs(2));
        }
    }
}

#[cfg(test)]
mod errors {
    use super::*;

    async fn clients(endpoints: Endpoints) -> Clients {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::for_tests())
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        Clients::new(&sdk, &endpoints, BTreeMap::new())
    }

    /// The defect: an unreachable endpoint showed as a Rust `Debug` dump
    /// (`DispatchFailure(DispatchFailure { source: ConnectorError { … hyper_util … } })`).
    #[tokio::test]
    async fn an_unreachable_endpoint_is_one_readable_sentence() {
        // A loopback port nothing listens on (bound, then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let endpoints = Endpoints {
            ssm: Some(format!("http://127.0.0.1:{port}")),
            ..Default::default()
        };
        let error = clients(endpoints)
            .await
            .ssm
            .get_parameter()
            .name("x")
            .send()
            .await
            .map_err(aws_error("ssm:GetParameter"))
            .unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, AwsError::Unreachable { .. }), "{error:?}");
        assert!(
            message.starts_with(
                "ssm:GetParameter could not reach the ssm endpoint: connection failed"
            ),
            "{message}"
        );
        assert!(message.contains("Connection refused"), "{message}");
        assert!(message.contains("`endpoints {}` block"), "{message}");
        for debug in ["DispatchFailure", "ConnectorError", "hyper_util", " { "] {
            assert!(!message.contains(debug), "{debug} in {message}");
        }
    }

    #[test]
    fn a_service_error_names_its_code_and_what_to_check() {
        let error = AwsError::Api {
            operation: "iam:CreateRole",
            code: Some("AccessDenied".into()),
            message: "not allowed".into(),
        };
        assert_eq!(
            error.to_string(),
            "iam:CreateRole failed (AccessDenied): not allowed. Check the IAM permissions of the provider's credentials"
        );
    }

    #[test]
    fn a_partial_endpoints_block_names_the_services_left_out() {
        let partial = Endpoints {
            sqs: Some("http://127.0.0.1:1".into()),
            lambda: Some("http://127.0.0.1:1".into()),
            ..Default::default()
        };
        assert_eq!(partial.missing(&["sqs", "ec2", "ssm"]), ["ec2", "ssm"]);
        assert!(
            Endpoints::default().missing(&["ec2"]).is_empty(),
            "AWS itself"
        );
    }
}
