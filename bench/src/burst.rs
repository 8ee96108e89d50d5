//! 3. The burst: 10,000 signed webhooks at 256 concurrent connections through the local data
//!    plane (`nami-local` running a pipeline applied with the real Terraform CLI), to the store:
//!    what was accepted, stored, dead-lettered, lost (must be 0) and stored twice (must be 0), the
//!    acknowledgement latencies, the time to drain, and the CPU each process used (the bottleneck
//!    is the one nearest a whole core).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use mongodb::bson::Document;
use nami_harness::aws::queue_depth;
use nami_harness::local::NamiLocal;
use nami_harness::process::{children, cpu_time};
use nami_harness::terraform::Terraform;
use nami_harness::webhooks::{Burst, send_all};
use nami_harness::{Mongo, Moto, workspace_root};
use serde_json::{Value, json};

use crate::Plan;
use crate::functions::SECRET;
use crate::stats::quantile;

/// The pipeline the burst goes through.
const PIPELINE: &str = "bench-burst";
const DRAIN_TIMEOUT: Duration = Duration::from_secs(600);

/// The pipeline's configuration (external store).
pub(crate) fn configuration(mongodb_uri: &str) -> String {
    format!(
        r#"resource "nami_webhook_pipeline" "bench" {{
  name = "{PIPELINE}"
  signature {{
    scheme = "github"
    secret = "{SECRET}"
  }}
  post_queue {{
    batch_size              = 100
    batching_window_seconds = 1
    max_concurrency         = 2
  }}
  store {{
    mongodb_uri = "{mongodb_uri}"
  }}
}}

output "pipeline_name" {{
  value = nami_webhook_pipeline.bench.name
}}
"#
    )
}

/// CPU seconds of each process taking part, by role (the functions' environments by the function
/// name in their environment).
fn cpu_by_role(
    moto: u32,
    mongo: u32,
    local: u32,
    sender: u32,
    connections: usize,
) -> BTreeMap<String, f64> {
    let seconds = |pid| cpu_time(pid).map_or(0.0, |d| d.as_secs_f64());
    let mut roles = BTreeMap::new();
    roles.insert("moto (SQS)".to_owned(), seconds(moto));
    roles.insert("SecantusDB (store)".to_owned(), seconds(mongo));
    roles.insert(
        "nami-local (ingress, poller, Runtime API)".to_owned(),
        seconds(local),
    );
    roles.insert(
        format!("sender ({connections} connections)"),
        seconds(sender),
    );
    for child in children(local) {
        let environ = std::fs::read(format!("/proc/{child}/environ")).unwrap_or_default();
        let function = (environ.split(|&b| b == 0))
            .find_map(|entry| entry.strip_prefix(b"AWS_LAMBDA_FUNCTION_NAME="))
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let role = if function.ends_with("pre-queue") {
            "pre-queue functions"
        } else if function.ends_with("post-queue") {
            "post-queue functions"
        } else {
            continue;
        };
        *roles.entry(role.to_owned()).or_default() += seconds(child);
    }
    roles
}

/// Runs the burst through the pipeline applied in `terraform` (its outputs name the pipeline).
pub(crate) async fn run(
    plan: &Plan,
    moto: &mut Moto,
    mongo: &mut Mongo,
    terraform: &Terraform,
) -> anyhow::Result<Value> {
    let work: &Path = terraform.dir();
    let outputs = work.join("outputs.json");
    let output = terraform.run(&["output", "-json"]);
    ensure!(output.status.success(), "terraform output failed");
    std::fs::write(&outputs, &output.stdout)?;
    let mut local = NamiLocal::for_terraform_output(
        &outputs,
        &moto.endpoint(),
        &workspace_root().join("target/bench/nami-local"),
        work,
    )?;
    let moto_pid = moto.process().pid().context("moto is not running")?;
    let mongo_pid = mongo.process().pid().context("SecantusDB is not running")?;
    let sender_pid = std::process::id();
    let connections = plan.burst_connections;
    let before = cpu_by_role(moto_pid, mongo_pid, local.pid(), sender_pid, connections);

    let total = plan.burst_webhooks;
    let forged = total / 100;
    let redelivered = total / 20;
    let burst = Burst::github(
        SECRET,
        "burst",
        total - forged - redelivered,
        redelivered,
        forged,
        false,
    );
    let started = Instant::now();
    let answers = send_all(
        &local.ingress_url,
        &burst.webhooks,
        plan.burst_connections,
        |_| {},
    )
    .await;
    let sent_in = started.elapsed();

    let sdk = nami_harness::aws::sdk(moto).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let pipeline = nami_dataplane::discover(&sdk, PIPELINE).await?;
    let client = mongodb::Client::with_uri_str(mongo.uri()).await?;
    let collection = client.database("nami").collection::<Document>(PIPELINE);
    let dlq_url = pipeline.dead_letter_queue.as_ref().map(|q| q.url.clone());
    let (stored, dead) = loop {
        let waiting = queue_depth(&sqs, &pipeline.queue.url).await?;
        if waiting == 0 {
            let stored = collection.count_documents(Document::new()).await?;
            let dead = match &dlq_url {
                Some(url) => queue_depth(&sqs, url).await?,
                None => 0,
            };
            break (stored, dead);
        }
        ensure!(
            started.elapsed() < DRAIN_TIMEOUT,
            "the queue did not drain in {DRAIN_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let drained_in = started.elapsed();
    let after = cpu_by_role(moto_pid, mongo_pid, local.pid(), sender_pid, connections);
    local.stop()?;

    let accepted: Vec<_> = answers
        .iter()
        .filter(|a| (200..300).contains(&a.status))
        .collect();
    let unique: HashSet<&str> = accepted
        .iter()
        .map(|a| burst.webhooks[a.index].delivery_id.as_str())
        .collect();
    let non_2xx = answers.len() - accepted.len();
    let lost = (unique.len() as u64).saturating_sub(stored + dead);
    let stored_twice = (stored + dead).saturating_sub(unique.len() as u64);
    let latencies: Vec<f64> = accepted
        .iter()
        .map(|a| a.latency.as_secs_f64() * 1000.0)
        .collect();
    let wall = drained_in.as_secs_f64();
    let cpu: Vec<Value> = after
        .iter()
        .map(|(role, seconds)| {
            let used = seconds - before.get(role).copied().unwrap_or(0.0);
            json!({ "process": role, "cpu_seconds": used, "cores": used / wall })
        })
        .collect();
    let bottleneck = cpu
        .iter()
        .max_by(|a, b| {
            a["cores"]
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&b["cores"].as_f64().unwrap_or(0.0))
        })
        .map(|row| row["process"].clone())
        .unwrap_or(Value::Null);
    Ok(json!({
        "webhooks": answers.len(),
        "connections": plan.burst_connections,
        "forged": forged,
        "redeliveries": redelivered,
        "accepted": accepted.len(),
        "unique_accepted": unique.len(),
        "non_2xx": non_2xx,
        "stored": stored,
        "dead_lettered": dead,
        "lost": lost,
        "stored_twice": stored_twice,
        "ack_p50_ms": quantile(&latencies, 0.5),
        "ack_p99_ms": quantile(&latencies, 0.99),
        "sent_in_s": sent_in.as_secs_f64(),
        "accepted_per_s": accepted.len() as f64 / sent_in.as_secs_f64(),
        "drained_in_s": wall,
        "stored_per_s": stored as f64 / wall,
        "cpu": cpu,
        "bottleneck": bottleneck,
        "batch_size": 100,
        "max_concurrency": 2,
    }))
}
