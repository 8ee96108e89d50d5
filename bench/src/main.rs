//! `nami-bench` (`make bench`): Nami's speed, memory and cost, each figure beside its limit or a
//! peer measured in the same run on the same machine — these machines are shared and noisy, so
//! absolute times drift while ratios hold. Every figure is the median of repeated rounds with
//! their range. It starts its own emulators on free loopback ports, stops them by PID, and writes
//! docs/benchmarks.md (tables and SVG charts under docs/benchmarks/) and docs/cost.md.
//!
//! `nami-bench [--quick] [--only SECTION[,SECTION…]]`; sections: artifacts, ack, drain,
//! cold_start, memory, burst, provider, moto_sqs. With `--only`, the other sections keep their
//! figures from the last run (target/bench/results.json).

mod ack;
mod burst;
mod cost;
mod drain;
mod floor;
mod functions;
mod plot;
mod provider;
mod report;
mod startup;
mod stats;
mod workload;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use nami_harness::faults::FaultProxy;
use nami_harness::terraform::Terraform;
use nami_harness::{Mongo, Moto, workspace_root};
use serde_json::{Value, json};

/// How much of each measurement a run makes.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// `--quick`: fewer rounds and samples (under 3 minutes).
    pub(crate) quick: bool,
    /// Rounds of each repeated measurement.
    pub(crate) rounds: usize,
    /// Webhooks per round and kind in the ack path.
    pub(crate) ack_requests: usize,
    /// Unique deliveries per drain measurement.
    pub(crate) drain_documents: usize,
    /// Fresh environments per runtime.
    pub(crate) cold_starts: usize,
    /// Warm invocations per runtime, for their durations.
    pub(crate) warm_invocations: usize,
    /// Invocations of the memory series.
    pub(crate) memory_invocations: usize,
    /// Invocations with 1,000-record batches.
    pub(crate) memory_big_batches: usize,
    /// Webhooks in the burst.
    pub(crate) burst_webhooks: usize,
    /// Connections the burst is sent over.
    pub(crate) burst_connections: usize,
    /// Apply/destroy rounds of each provider configuration and mode.
    pub(crate) provider_rounds: usize,
}

impl Plan {
    fn new(quick: bool) -> Self {
        if quick {
            Plan {
                quick,
                rounds: 2,
                ack_requests: 100,
                drain_documents: 600,
                cold_starts: 5,
                warm_invocations: 10,
                memory_invocations: 100,
                memory_big_batches: 2,
                burst_webhooks: 1000,
                burst_connections: 64,
                provider_rounds: 1,
            }
        } else {
            Plan {
                quick,
                rounds: 7,
                ack_requests: 400,
                drain_documents: 3000,
                cold_starts: 40,
                warm_invocations: 50,
                memory_invocations: 1000,
                memory_big_batches: 10,
                burst_webhooks: 10_000,
                burst_connections: 256,
                provider_rounds: 2,
            }
        }
    }
}

/// Every section, in the order of docs/benchmarks.md.
const SECTIONS: [&str; 8] = [
    "artifacts",
    "ack",
    "drain",
    "burst",
    "cold_start",
    "memory",
    "provider",
    "moto_sqs",
];

/// The provider section's managed-store pipeline (its volume not retained, so rounds start alike).
const MANAGED_STORE: &str = r#"resource "nami_webhook_pipeline" "bench" {
  name = "bench-managed"
  signature {
    scheme = "github"
    secret = "bench-secret"
  }
  store {
    retain_volume = false
  }
}
"#;

/// Where the bench keeps its working files.
pub(crate) fn work_dir() -> PathBuf {
    workspace_root().join("target/bench")
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("make bench FAILED: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick =
        args.iter().any(|a| a == "--quick") || std::env::var("QUICK").is_ok_and(|v| v == "1");
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|list| list.split(',').map(str::to_owned).collect());
    if let Some(unknown) = only
        .iter()
        .flatten()
        .find(|s| !SECTIONS.contains(&s.as_str()))
    {
        anyhow::bail!(
            "unknown section {unknown:?}; the sections are {}",
            SECTIONS.join(", ")
        );
    }
    let wanted = |section: &str| only.as_ref().is_none_or(|o| o.iter().any(|s| s == section));
    let plan = Plan::new(quick);
    std::fs::create_dir_all(work_dir())?;
    let results_path = work_dir().join("results.json");
    let mut results: Value = match &only {
        Some(_) => std::fs::read_to_string(&results_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(|| json!({})),
        None => json!({}),
    };
    let started = Instant::now();
    let step = |name: &str| println!("==> {name} ({:.0} s in)", started.elapsed().as_secs_f64());

    if wanted("artifacts") {
        step("artifact sizes");
        results["artifacts"] = report::artifacts()?;
    }
    let mut moto = Moto::start().context("starting moto")?;
    let mut mongo = Mongo::start().context("starting SecantusDB")?;
    let sdk = nami_harness::aws::sdk(&moto).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = sqs
        .create_queue()
        .queue_name("nami-bench")
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::MaximumMessageSize,
            "1048576",
        )
        .send()
        .await?
        .queue_url
        .context("no queue URL")?;
    // The connection string as the provider gives it to the post-queue function of an external
    // store: in Secrets Manager, by ARN.
    let mongodb_uri_secret_arn = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name("nami/bench/mongodb-uri")
        .secret_string(mongo.uri())
        .send()
        .await?
        .arn
        .context("no secret ARN")?;
    let setup = functions::Setup {
        endpoint: moto.endpoint(),
        queue_url,
        mongodb_uri: mongo.uri(),
        mongodb_uri_secret_arn,
        collection: "bench".into(),
    };
    if wanted("ack") {
        step("the ack path: pre-queue function vs bare SDK and raw HTTP SendMessage");
        results["ack"] = ack::run(&plan, &setup, &sqs).await?;
    }
    if wanted("drain") {
        step("the drain: post-queue function vs bare insert_many and one insert per message");
        let mongo_pid = mongo.process().pid().context("SecantusDB is not running")?;
        results["drain"] = drain::run(&plan, &setup, mongo_pid).await?;
    }
    if wanted("cold_start") {
        step("cold starts: Rust, Node.js, the hello-world floor and the jobs' floors");
        results["cold_start"] = startup::cold_starts(&plan, &setup).await?;
    }
    if wanted("memory") {
        step("memory over warm invocations");
        results["memory"] = startup::memory(&plan, &setup).await?;
    }
    if wanted("burst") || wanted("provider") {
        let proxy = FaultProxy::start(&moto.endpoint(), 0, 1).await?;
        if wanted("burst") {
            step(&format!(
                "the burst: {} webhooks through the local data plane",
                plan.burst_webhooks
            ));
            let terraform = Terraform::with_endpoint("bench-burst", &proxy.endpoint());
            terraform.write(&burst::configuration(&mongo.uri()));
            let (apply_s, apply_calls) = provider::apply(&terraform, &proxy)?;
            let outcome = burst::run(&plan, &mut moto, &mut mongo, &terraform).await;
            let (destroy_s, destroy_calls) = provider::destroy(&terraform, &proxy)?;
            let mut outcome = outcome?;
            outcome["terraform"] = json!({
                "apply_s": apply_s, "apply_calls": apply_calls,
                "destroy_s": destroy_s, "destroy_calls": destroy_calls,
            });
            results["burst"] = outcome;
        }
        if wanted("provider") {
            step("the provider: apply and destroy, concurrent and one call at a time");
            let external =
                burst::configuration(&mongo.uri()).replace("bench-burst", "bench-external");
            let pipelines = [
                provider::measure("external store", &external, &proxy, plan.provider_rounds)?,
                provider::measure(
                    "managed store (VPC, instance, volume, secrets, endpoint)",
                    MANAGED_STORE,
                    &proxy,
                    plan.provider_rounds,
                )?,
            ];
            results["provider"] = json!({ "pipelines": pipelines });
        }
    }
    drop(mongo);
    drop(moto);
    if wanted("moto_sqs") {
        step("moto's SQS as shipped vs through tools/moto_server.py");
        results["moto_sqs"] = report::moto_sqs(plan.quick)?;
    }
    results["plan"] = json!({ "quick": plan.quick, "seconds": started.elapsed().as_secs_f64() });
    std::fs::write(&results_path, serde_json::to_string_pretty(&results)?)?;
    let provenance = report::provenance(&plan);
    report::write(&results, &provenance)?;
    std::fs::write(
        workspace_root().join("docs/cost.md"),
        cost::render(&results, &provenance),
    )?;
    println!(
        "make bench: wrote docs/benchmarks.md and docs/cost.md in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
