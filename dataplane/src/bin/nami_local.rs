//! `nami-local`: runs a deployed Nami pipeline's data plane on this machine (see `--help`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use aws_config::{BehaviorVersion, Region};
use aws_sdk_sqs::config::Credentials;
use nami_contract::service_metrics;
use nami_dataplane::{DataPlane, Lifecycle, Options};
use tokio::signal::unix::{SignalKind, signal};

const HELP: &str = "\
nami-local — run a Nami pipeline's data plane on this machine

The AWS emulator (moto) holds a deployed pipeline but runs no code. nami-local reads the
pipeline back by name and plays the rest of AWS: an API Gateway-style ingress on 127.0.0.1 in
front of the pre-queue function, Lambda execution environments running the functions' real
`bootstrap` binaries behind a Lambda Runtime API, and the SQS event source mapping that feeds
the post-queue function (batch size, batching window, maximum concurrency, partial batch
responses; failures return after the visibility timeout and reach the DLQ through the queue's
redrive policy). Ctrl-C stops it and every function process.

USAGE:
    nami-local --pipeline <NAME> [OPTIONS]
    terraform output -json | nami-local --terraform-output - [OPTIONS]

OPTIONS:
    --pipeline <NAME>              The pipeline (the resource's `name`)
    --terraform-output <FILE|->    Take the name from `terraform output -json`: an output named
                                   `pipeline_name`, or one holding the whole resource
    --endpoint <URL>               The AWS emulator [env: AWS_ENDPOINT_URL]
    --region <REGION>              [env: AWS_REGION; default: us-east-1]
    --listen <ADDR>                Where the ingress listens [default: 127.0.0.1:8787; port 0: any]
    --mongodb-uri <URI>            The store the post-queue function writes to, instead of the
                                   one it is configured with
    --artifacts <DIR>              Where to look for the bootstrap.zip packages the functions
                                   were deployed with (repeatable)
                                   [default: target/lambda and target/terraform-mirror]
    --work-dir <DIR>               Logs and unpacked packages [default: target/nami-local]
    --pre-queue-concurrency <N>    Pre-queue environments at most [default: 16]
    --post-queue-concurrency <N>   Post-queue invocations at once when the mapping sets no
                                   maximum concurrency [default: 5]
    --no-freeze                    Let execution environments run between invocations (Lambda
                                   freezes them; so does nami-local by default)
    --reclaim-idle-after <SECONDS> Stop an execution environment idle this long, as Lambda
                                   reclaims idle ones (the next invocation is a cold start)
                                   [default: never]
    --queue-metrics-every <SECONDS>
                                   Publish the queues' SQS metrics (depths, oldest message's
                                   age) to the emulator's CloudWatch this often, as SQS does
                                   [default: 60]
    --no-queue-metrics             Publish none
    --ready-file <FILE>            Once ready, write {\"ingress_url\", \"logs\", \"pid\"} there as JSON
    -h, --help                     Print this help

Credentials come from the usual AWS environment; with an --endpoint and none set, the
emulator's dummy keys are used. Function output lands in per-environment log streams (Lambda's
START / END / REPORT lines included) under the printed logs folder.

EXAMPLE (after `make emulators` and `tools/terraform -chdir=examples/basic apply`):
    nami-local --pipeline github-events --endpoint \"$AWS_ENDPOINT_URL\"
";

#[derive(Debug)]
struct Cli {
    options: Options,
    terraform_output: Option<String>,
    region: String,
    ready_file: Option<PathBuf>,
}

fn parse(args: impl Iterator<Item = String>) -> anyhow::Result<Option<Cli>> {
    let mut options = Options {
        pipeline: String::new(),
        endpoint: std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|v| !v.is_empty()),
        listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
        mongodb_uri: None,
        artifact_folders: Vec::new(),
        work_dir: PathBuf::from("target/nami-local"),
        pre_queue_concurrency: 16,
        default_post_queue_concurrency: 5,
        lifecycle: Lifecycle::default(),
        queue_metrics_period: Some(Duration::from_secs(service_metrics::SQS_PERIOD_SECONDS)),
    };
    let mut terraform_output = None;
    let mut region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let mut ready_file = None;
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (flag.clone(), None),
        };
        let mut value = || -> anyhow::Result<String> {
            inline
                .clone()
                .or_else(|| args.next())
                .with_context(|| format!("{name} needs a value (see --help)"))
        };
        let number = |text: String| -> anyhow::Result<usize> {
            text.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .with_context(|| format!("{name} must be a positive number, not `{text}`"))
        };
        match name.as_str() {
            "--pipeline" => options.pipeline = value()?,
            "--terraform-output" => terraform_output = Some(value()?),
            "--endpoint" => options.endpoint = Some(value()?),
            "--region" => region = value()?,
            "--listen" => {
                let text = value()?;
                options.listen = text.parse().with_context(|| {
                    format!("--listen must be an address like 127.0.0.1:8787, not `{text}`")
                })?;
            }
            "--mongodb-uri" => options.mongodb_uri = Some(value()?),
            "--artifacts" => options.artifact_folders.push(value()?.into()),
            "--work-dir" => options.work_dir = value()?.into(),
            "--pre-queue-concurrency" => options.pre_queue_concurrency = number(value()?)?,
            "--post-queue-concurrency" => {
                options.default_post_queue_concurrency = number(value()?)?
            }
            "--no-freeze" => options.lifecycle.freeze = false,
            "--reclaim-idle-after" => {
                let seconds = number(value()?)?;
                options.lifecycle.reclaim_after = Some(Duration::from_secs(seconds as u64));
            }
            "--queue-metrics-every" => {
                let seconds = number(value()?)?;
                options.queue_metrics_period = Some(Duration::from_secs(seconds as u64));
            }
            "--no-queue-metrics" => options.queue_metrics_period = None,
            "--ready-file" => ready_file = Some(value()?.into()),
            other => bail!("unknown argument `{other}` (see --help)"),
        }
    }
    if options.artifact_folders.is_empty() {
        options.artifact_folders = vec!["target/lambda".into(), "target/terraform-mirror".into()];
    }
    if options.pipeline.is_empty() && terraform_output.is_none() {
        bail!("which pipeline? pass --pipeline <NAME> or --terraform-output <FILE|-> (see --help)");
    }
    Ok(Some(Cli {
        options,
        terraform_output,
        region,
        ready_file,
    }))
}

/// The pipeline name in `terraform output -json`.
fn name_from_terraform_output(text: &str) -> anyhow::Result<String> {
    let outputs: serde_json::Value = serde_json::from_str(text)
        .context("the Terraform output is not JSON (use `terraform output -json`)")?;
    let outputs = outputs
        .as_object()
        .context("the Terraform output is not a JSON object")?;
    if let Some(name) = outputs
        .get("pipeline_name")
        .and_then(|o| o["value"].as_str())
    {
        return Ok(name.to_owned());
    }
    outputs
        .values()
        .find_map(|output| {
            let value = &output["value"];
            value.get("endpoint_url")?;
            value["name"].as_str().map(str::to_owned)
        })
        .context("no output named `pipeline_name` and none holding a nami_webhook_pipeline")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NAMI_LOCAL_LOG")
                .unwrap_or_else(|_| "nami_dataplane=info,nami_local=info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let Some(mut cli) = parse(std::env::args().skip(1))? else {
        print!("{HELP}");
        return Ok(());
    };
    if let Some(source) = &cli.terraform_output {
        let text = if source == "-" {
            std::io::read_to_string(std::io::stdin()).context("reading the Terraform output")?
        } else {
            std::fs::read_to_string(source).with_context(|| format!("reading {source}"))?
        };
        cli.options.pipeline = name_from_terraform_output(&text)?;
    }
    let options = &cli.options;
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).region(Region::new(cli.region.clone()));
    if let Some(endpoint) = &options.endpoint {
        loader = loader.endpoint_url(endpoint);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
            && std::env::var_os("AWS_PROFILE").is_none()
        {
            loader = loader.credentials_provider(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "nami-local",
            ));
        }
    }
    let sdk = loader.load().await;
    let data_plane = DataPlane::start(&sdk, options)
        .await
        .with_context(|| format!("starting the data plane of pipeline `{}`", options.pipeline))?;
    let pipeline = data_plane.pipeline();
    let mapping = &pipeline.mapping;
    println!(
        "nami-local: pipeline `{}` (stage {})",
        pipeline.name, pipeline.stage
    );
    println!(
        "  ingress  {}  → {} (up to {} at once)",
        data_plane.ingress_url(),
        pipeline.pre_queue.name,
        options.pre_queue_concurrency
    );
    println!(
        "  poller   {}  → {} (batch {}, window {} s, {} at once{})",
        pipeline.queue.url,
        pipeline.post_queue.name,
        mapping.batch_size,
        mapping.batching_window.as_secs(),
        data_plane.poller_concurrency(),
        if mapping.report_batch_item_failures {
            ", partial batch responses"
        } else {
            ""
        }
    );
    println!("  logs     {}", data_plane.logs().display());
    println!("Ctrl-C stops everything.");
    if let Some(path) = &cli.ready_file {
        let ready = serde_json::json!({
            "ingress_url": data_plane.ingress_url(),
            "logs": data_plane.logs(),
            "pid": std::process::id(),
        });
        std::fs::write(path, ready.to_string())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    let ingress = data_plane.ingress_stats();
    let poller = data_plane.poller_stats();
    let pre = data_plane.pre_queue().stats();
    let post = data_plane.post_queue().stats();
    data_plane.shutdown(Duration::from_secs(5)).await;
    println!(
        "nami-local: stopped. webhooks: {} accepted, {} rejected, {} failed, {} finished after their sender gave up; queue: {} received, {} deleted, {} left for retry; invocations: pre-queue {} ({} errors), post-queue {} ({} errors, {} timeouts)",
        ingress.accepted,
        ingress.rejected,
        ingress.failed,
        ingress.abandoned,
        poller.received,
        poller.deleted,
        poller.retried,
        pre.invocations,
        pre.errors,
        post.invocations,
        post.errors,
        post.timeouts
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn flags_are_parsed_and_bad_ones_named() {
        let cli = parse(args(&[
            "--pipeline",
            "p",
            "--listen=127.0.0.1:0",
            "--artifacts",
            "a",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(cli.options.pipeline, "p");
        assert_eq!(cli.options.listen.port(), 0);
        assert_eq!(cli.options.artifact_folders, [PathBuf::from("a")]);
        assert!(parse(args(&["--help"])).unwrap().is_none());
        let error = parse(args(&["--pipeline", "p", "--pre-queue-concurrency", "0"])).unwrap_err();
        assert!(
            error.to_string().contains("--pre-queue-concurrency"),
            "{error}"
        );
        let error = parse(args(&["--bogus"])).unwrap_err();
        assert!(error.to_string().contains("--bogus"), "{error}");
        assert!(
            parse(args(&[]))
                .unwrap_err()
                .to_string()
                .contains("--pipeline")
        );
    }

    #[test]
    fn the_name_comes_from_terraform_output() {
        let named = r#"{"pipeline_name":{"sensitive":false,"type":"string","value":"orders"}}"#;
        assert_eq!(name_from_terraform_output(named).unwrap(), "orders");
        let whole = r#"{"p":{"value":{"name":"github-events","endpoint_url":"https://x"}}}"#;
        assert_eq!(name_from_terraform_output(whole).unwrap(), "github-events");
        assert!(name_from_terraform_output(r#"{"x":{"value":1}}"#).is_err());
    }
}
