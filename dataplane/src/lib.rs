//! Nami's local data plane: what AWS runs between the API Gateway URL and the store, played on
//! this machine for a pipeline deployed to an emulator (moto) that runs no code.
//!
//! [`DataPlane::start`] reads the pipeline back by name ([`discovery`]), finds the very
//! `bootstrap` packages the functions were deployed with ([`artifact`]), and runs them like Lambda
//! ([`function`], [`runtime_api`]) behind an API Gateway-style [`ingress`] and an SQS event source
//! mapping ([`poller`]), shipping each function's log lines to its CloudWatch Logs group as
//! Lambda does ([`log_shipping`]).

pub mod artifact;
pub mod discovery;
pub mod function;
mod http;
pub mod ingress;
pub mod log_shipping;
pub mod poller;
pub mod queue_metrics;
pub mod runtime_api;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::config::Credentials;
use nami_contract::naming::lambda_log_group;
use nami_contract::vars;
use tokio::net::TcpListener;

pub use discovery::{DiscoveryError, PipelineSpec, discover};
pub use function::{FunctionHost, FunctionStats, InvokeError, Lifecycle};
pub use ingress::{Ingress, IngressStats};
pub use log_shipping::LogShipper;
pub use poller::{Poller, PollerStats};
pub use queue_metrics::QueueMetrics;

/// How to run a pipeline locally.
#[derive(Debug, Clone)]
pub struct Options {
    /// The pipeline's name.
    pub pipeline: String,
    /// The AWS endpoint the functions call (the emulator); becomes their `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    /// Where the ingress listens (port 0: any free port).
    pub listen: SocketAddr,
    /// Replaces the post-queue function's store URI (e.g. a managed store's private address is
    /// not reachable from here).
    pub mongodb_uri: Option<String>,
    /// Folders searched for the functions' `bootstrap.zip` packages.
    pub artifact_folders: Vec<PathBuf>,
    /// Where logs and unpacked packages go.
    pub work_dir: PathBuf,
    /// Pre-queue execution environments at most (Lambda scales to the account limit).
    pub pre_queue_concurrency: usize,
    /// Post-queue invocations at once when the mapping sets no maximum concurrency.
    pub default_post_queue_concurrency: usize,
    /// How the functions' execution environments live between invocations (frozen, reclaimed).
    pub lifecycle: Lifecycle,
    /// How often the queues' metrics go to the emulator's CloudWatch, as SQS publishes them
    /// (`None`: not at all).
    pub queue_metrics_period: Option<Duration>,
}

/// A data plane that could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The pipeline could not be read back.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// A function's package is missing or broken.
    #[error(transparent)]
    Artifact(#[from] artifact::ArtifactError),
    /// The mapping is disabled in the emulator.
    #[error("the event source mapping {0} is disabled; enable it to have the queue drained")]
    MappingDisabled(String),
    /// No credentials for the functions.
    #[error("no AWS credentials to give the functions: {0}")]
    Credentials(String),
    /// Files or sockets.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    move |source| StartError::Io {
        what: what.into(),
        source,
    }
}

/// A running local data plane. [`DataPlane::shutdown`] stops it; dropping it stops the
/// listeners and kills every function process too.
#[derive(Debug)]
pub struct DataPlane {
    pipeline: PipelineSpec,
    ingress: Ingress,
    poller: Poller,
    queue_metrics: Option<QueueMetrics>,
    pre_queue: FunctionHost,
    post_queue: FunctionHost,
    logs: PathBuf,
    poller_concurrency: usize,
}

impl DataPlane {
    /// Discovers `options.pipeline` through `sdk` and starts its ingress and poller.
    pub async fn start(sdk: &SdkConfig, options: &Options) -> Result<Self, StartError> {
        let pipeline = discover(sdk, &options.pipeline).await?;
        if !pipeline.mapping.enabled {
            return Err(StartError::MappingDisabled(pipeline.mapping.uuid.clone()));
        }
        let packages = artifact::packages(&options.artifact_folders);
        let cache = options.work_dir.join("bootstrap");
        let bootstrap = |function: &discovery::FunctionSpec| {
            artifact::bootstrap_for(
                &function.name,
                &function.code_sha256,
                &packages,
                &options.artifact_folders,
                &cache,
            )
        };
        let pre_bootstrap = bootstrap(&pipeline.pre_queue)?;
        let post_bootstrap = bootstrap(&pipeline.post_queue)?;

        let region = sdk
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into());
        let base = base_environment(options, &region);
        // Each function acts with its execution role's credentials, as on Lambda; so does the
        // event source mapping, with the post-queue function's.
        let sts = aws_sdk_sts::Client::new(sdk);
        let (pre_credentials, post_credentials) = tokio::try_join!(
            role_credentials(&sts, &pipeline.pre_queue),
            role_credentials(&sts, &pipeline.post_queue),
        )?;
        let logs = options.work_dir.join("logs").join(format!(
            "{}-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S"),
            std::process::id()
        ));
        let host = |function: &discovery::FunctionSpec,
                    credentials: &Credentials,
                    bootstrap,
                    overrides: &[(&str, Option<&str>)],
                    concurrency| {
            let mut environment = function_environment(function, &base, overrides);
            environment.extend(credential_variables(credentials));
            // Lambda writes the function's logs with its execution role's credentials.
            let as_role = aws_sdk_cloudwatchlogs::config::Builder::from(sdk)
                .credentials_provider(credentials.clone())
                .build();
            let shipper = LogShipper::start(
                aws_sdk_cloudwatchlogs::Client::from_conf(as_role),
                lambda_log_group(&function.name),
            );
            FunctionHost::new(
                function.clone(),
                bootstrap,
                environment,
                concurrency,
                options.lifecycle,
                logs.join(&function.name),
            )
            .map(|host| host.ship_logs(shipper))
            .map_err(io_error(format!(
                "creating the log folder under {}",
                logs.display()
            )))
        };
        let pre_queue = host(
            &pipeline.pre_queue,
            &pre_credentials,
            pre_bootstrap,
            &[],
            options.pre_queue_concurrency,
        )?;
        let poller_concurrency = pipeline
            .mapping
            .max_concurrency
            .unwrap_or(options.default_post_queue_concurrency);
        let store_override = options.mongodb_uri.as_deref().map(|uri| {
            [
                (vars::MONGODB_URI, Some(uri)),
                (vars::MONGODB_URI_SECRET_ARN, None),
                (vars::MONGODB_PASSWORD_SECRET_ARN, None),
            ]
        });
        let post_queue = host(
            &pipeline.post_queue,
            &post_credentials,
            post_bootstrap,
            store_override.as_ref().map_or(&[][..], |o| &o[..]),
            poller_concurrency,
        )?;

        let listener = TcpListener::bind(options.listen)
            .await
            .map_err(io_error(format!("listening on {}", options.listen)))?;
        let ingress = Ingress::start(listener, &pipeline, pre_queue.clone())
            .map_err(io_error("starting the ingress"))?;
        let as_post_queue_role = aws_sdk_sqs::config::Builder::from(sdk)
            .credentials_provider(post_credentials.clone())
            .build();
        let poller = Poller::start(
            aws_sdk_sqs::Client::from_conf(as_post_queue_role),
            &pipeline.queue,
            &pipeline.mapping,
            &region,
            post_queue.clone(),
            poller_concurrency,
        );
        // SQS publishes its queues' metrics itself, with no role of the pipeline's.
        let queue_metrics = options.queue_metrics_period.map(|period| {
            QueueMetrics::start(
                aws_sdk_sqs::Client::new(sdk),
                aws_sdk_cloudwatch::Client::new(sdk),
                &pipeline.queue.url,
                poller.oldest_received(),
                pipeline
                    .dead_letter_queue
                    .as_ref()
                    .map(|dlq| dlq.url.as_str()),
                period,
            )
        });
        Ok(DataPlane {
            pipeline,
            ingress,
            poller,
            queue_metrics,
            pre_queue,
            post_queue,
            logs,
            poller_concurrency,
        })
    }

    /// What was discovered.
    pub fn pipeline(&self) -> &PipelineSpec {
        &self.pipeline
    }

    /// The webhook URL of the ingress.
    pub fn ingress_url(&self) -> String {
        self.ingress.url()
    }

    /// The folder of the log streams (one sub-folder per function).
    pub fn logs(&self) -> &Path {
        &self.logs
    }

    /// How many pollers (and so post-queue invocations at once) run.
    pub fn poller_concurrency(&self) -> usize {
        self.poller_concurrency
    }

    /// The ingress's counters.
    pub fn ingress_stats(&self) -> IngressStats {
        self.ingress.stats()
    }

    /// The poller's counters.
    pub fn poller_stats(&self) -> PollerStats {
        self.poller.stats()
    }

    /// The pre-queue function's host.
    pub fn pre_queue(&self) -> &FunctionHost {
        &self.pre_queue
    }

    /// The post-queue function's host.
    pub fn post_queue(&self) -> &FunctionHost {
        &self.post_queue
    }

    /// Stops receiving webhooks and messages, lets batches in flight settle for up to `grace`,
    /// and stops every function process.
    pub async fn shutdown(self, grace: Duration) {
        let DataPlane {
            ingress,
            poller,
            queue_metrics,
            pre_queue,
            post_queue,
            ..
        } = self;
        drop(ingress);
        poller.stop(grace).await;
        if let Some(queue_metrics) = queue_metrics {
            queue_metrics.stop().await;
        }
        pre_queue.shutdown().await;
        post_queue.shutdown().await;
    }
}

/// What every function process gets besides its own variables and its role's credentials —
/// what Lambda sets for a `provided.al2023` function, and the emulator's endpoint.
fn base_environment(options: &Options, region: &str) -> Vec<(String, String)> {
    let mut environment = vec![
        ("PATH", "/usr/local/bin:/usr/bin:/bin".to_owned()),
        ("TZ", ":UTC".to_owned()),
        ("LANG", "en_US.UTF-8".to_owned()),
        ("AWS_REGION", region.to_owned()),
        ("AWS_DEFAULT_REGION", region.to_owned()),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
    ];
    if let Some(endpoint) = &options.endpoint {
        environment.push(("AWS_ENDPOINT_URL", endpoint.clone()));
    }
    environment
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// Temporary credentials of `function`'s execution role (STS `AssumeRole`, an hour), as Lambda
/// gives a function: so a permission its role lacks is missing here too, wherever the emulator
/// enforces IAM.
async fn role_credentials(
    sts: &aws_sdk_sts::Client,
    function: &discovery::FunctionSpec,
) -> Result<Credentials, StartError> {
    let refused = |why: String| {
        StartError::Credentials(format!(
            "assuming {}'s execution role {}: {why}",
            function.name, function.role_arn
        ))
    };
    let session = format!("nami-local-{}", function.name);
    let assumed = sts
        .assume_role()
        .role_arn(&function.role_arn)
        .role_session_name(session.chars().take(64).collect::<String>())
        .duration_seconds(3600)
        .send()
        .await
        .map_err(|error| refused(aws_sdk_sts::error::DisplayErrorContext(error).to_string()))?;
    let credentials = assumed
        .credentials
        .ok_or_else(|| refused("STS returned no credentials".into()))?;
    Ok(Credentials::new(
        credentials.access_key_id,
        credentials.secret_access_key,
        Some(credentials.session_token),
        None,
        "nami-local-execution-role",
    ))
}

/// The variables that carry `credentials` into a function process.
fn credential_variables(credentials: &Credentials) -> Vec<(String, String)> {
    let mut variables = vec![
        (
            "AWS_ACCESS_KEY_ID".to_owned(),
            credentials.access_key_id().to_owned(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".to_owned(),
            credentials.secret_access_key().to_owned(),
        ),
    ];
    if let Some(token) = credentials.session_token() {
        variables.push(("AWS_SESSION_TOKEN".to_owned(), token.to_owned()));
    }
    variables
}

/// A function's full environment: the base, Lambda's per-function variables, its configured
/// variables, then `overrides` (`None` removes a variable).
pub fn function_environment(
    function: &discovery::FunctionSpec,
    base: &[(String, String)],
    overrides: &[(&str, Option<&str>)],
) -> Vec<(String, String)> {
    let mut environment: std::collections::BTreeMap<String, String> =
        base.iter().cloned().collect();
    environment.insert("AWS_LAMBDA_FUNCTION_NAME".into(), function.name.clone());
    environment.insert(
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
        function.memory_mb.to_string(),
    );
    environment.insert(
        "AWS_LAMBDA_LOG_GROUP_NAME".into(),
        format!("/aws/lambda/{}", function.name),
    );
    environment.insert("_HANDLER".into(), "bootstrap".into());
    for (key, value) in &function.environment {
        environment.insert(key.clone(), value.clone());
    }
    for (key, value) in overrides {
        match value {
            Some(value) => environment.insert((*key).to_owned(), (*value).to_owned()),
            None => environment.remove(*key),
        };
    }
    environment.into_iter().collect()
}
