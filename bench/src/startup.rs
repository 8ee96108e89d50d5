//! 4. Cold start: each function's init (process start to its first `/next`) over repeated fresh
//!    environments, beside the Node.js versions of the same jobs, a hello-world floor and the
//!    jobs' floors (functions doing only each job's I/O), all under the same Runtime API; the
//!    post-queue functions also with their first batch (Nami's and the store-only floor connect to
//!    the store lazily, Node.js's at init). Warm durations and the peak RSS of a
//!    fresh environment come along.
//! 5. Memory: each function's peak RSS over 1,000 warm invocations (and 1,000-record batches),
//!    sampled as it goes, to show whether it grows.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use bytes::Bytes;
use nami_dataplane::{FunctionHost, Lifecycle};
use nami_harness::process::status_kb;
use serde_json::{Value, json};

use crate::functions::{self, Runtime, Setup};
use crate::stats::quantile;
use crate::{Plan, workload};

/// The payload `runtime` gets for invocation `n` of a series named `series`.
fn payload(runtime: &Runtime, series: &str, n: usize, records: usize) -> Bytes {
    match runtime {
        Runtime::Rust("pre-queue") | Runtime::Node("pre-queue.mjs") => {
            let webhook = workload::webhook(&format!("{series}-{n}"));
            workload::proxy_event(&webhook, &format!("{series}-{n}"))
        }
        Runtime::Rust("post-queue")
        | Runtime::Node("post-queue.mjs")
        | Runtime::Deployed("post-queue") => sqs_batch(series, n, records),
        Runtime::Rust("store-only") => {
            let documents: Vec<String> = (0..records)
                .map(|r| {
                    let webhook = workload::webhook(&format!("{series}-{n}-{r}"));
                    workload::stored_document_message(&workload::envelope(&webhook))
                })
                .collect();
            workload::sqs_event(&documents, n * records)
        }
        Runtime::Rust("send-only") => {
            let webhook = workload::webhook(&format!("{series}-{n}"));
            let message = workload::envelope(&webhook).to_message_body();
            Bytes::from(json!({ "body": message }).to_string())
        }
        // The floor is given the post-queue function's large batches in the memory series.
        Runtime::Rust("hello-world") if records > 1 => sqs_batch(series, n, records),
        _ => Bytes::from_static(b"{}"),
    }
}

/// An SQS event of `records` envelopes of 2 KB webhooks, as the post-queue function gets it.
fn sqs_batch(series: &str, n: usize, records: usize) -> Bytes {
    let bodies: Vec<String> = (0..records)
        .map(|r| {
            let webhook = workload::webhook(&format!("{series}-{n}-{r}"));
            workload::envelope(&webhook).to_message_body()
        })
        .collect();
    workload::sqs_event(&bodies, n * records)
}

/// Invokes and requires an answer that is not an error or a refusal.
async fn invoke(host: &FunctionHost, payload: Bytes) -> anyhow::Result<()> {
    let answer = host.invoke(payload).await?;
    let text = String::from_utf8_lossy(&answer);
    ensure!(
        !text.contains("\"statusCode\":4")
            && !text.contains("\"statusCode\":5")
            && !text.contains("itemIdentifier"),
        "{} answered {text}",
        host.spec().name
    );
    Ok(())
}

/// Cold starts of every runtime, and their warm durations.
pub(crate) async fn cold_starts(plan: &Plan, setup: &Setup) -> anyhow::Result<Value> {
    let runtimes = [
        Runtime::HELLO,
        Runtime::SEND_ONLY,
        Runtime::STORE_ONLY,
        Runtime::PRE_QUEUE,
        Runtime::POST_QUEUE,
        Runtime::POST_QUEUE_DEPLOYED,
        Runtime::NODE_PRE_QUEUE,
        Runtime::NODE_POST_QUEUE,
    ];
    let mut rows = Vec::new();
    for runtime in &runtimes {
        let cold = Lifecycle {
            reclaim_after: Some(Duration::ZERO),
            ..Lifecycle::default()
        };
        let host = functions::host(runtime, setup, cold, 1, "cold")?;
        let mut peaks = Vec::new();
        for n in 0..plan.cold_starts {
            invoke(&host, payload(runtime, "cold", n, 1)).await?;
            let pid = functions::idle_pid(&host)
                .await
                .context("no idle environment after a cold start")?;
            peaks.push(status_kb(pid, "VmHWM").unwrap_or(0) as f64 / 1024.0);
        }
        host.shutdown().await;
        let reports = functions::reports(&host);
        let init: Vec<f64> = reports.iter().filter_map(|r| r.init_ms).collect();
        let first: Vec<f64> = reports
            .iter()
            .filter_map(|r| Some(r.init_ms? + r.duration_ms))
            .collect();
        ensure!(
            init.len() == plan.cold_starts,
            "{}: {} cold starts reported of {}",
            runtime.label(),
            init.len(),
            plan.cold_starts
        );

        let warm = functions::host(runtime, setup, Lifecycle::default(), 1, "warm")?;
        for n in 0..plan.warm_invocations + 1 {
            invoke(&warm, payload(runtime, "warm", n, 1)).await?;
        }
        warm.shutdown().await;
        let durations: Vec<f64> = functions::reports(&warm)
            .iter()
            .skip(1)
            .map(|r| r.duration_ms)
            .collect();
        rows.push(json!({
            "runtime": runtime.label(),
            "init_p50_ms": quantile(&init, 0.5),
            "init_p90_ms": quantile(&init, 0.9),
            "first_invocation_p50_ms": quantile(&first, 0.5),
            "first_invocation_p90_ms": quantile(&first, 0.9),
            "warm_p50_ms": quantile(&durations, 0.5),
            "fresh_peak_rss_mb": quantile(&peaks, 0.5),
            "starts": init.len(),
        }));
    }
    Ok(json!({ "runtimes": rows, "node": node_version() }))
}

fn node_version() -> String {
    std::process::Command::new("node")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The memory series of the hello-world floor given the same 1,000-record events as the
/// post-queue function: what `lambda_runtime` itself holds to receive such an event (its event
/// type reads nothing).
pub(crate) const FLOOR_SERIES: &str = "hello-world floor, 1,000-record batches";

/// Peak and current RSS of Nami's functions as warm invocations accumulate.
pub(crate) async fn memory(plan: &Plan, setup: &Setup) -> anyhow::Result<Value> {
    let mut functions_json = Vec::new();
    let series: [(&Runtime, usize, usize, &str); 4] = [
        (
            &Runtime::PRE_QUEUE,
            plan.memory_invocations,
            1,
            "pre-queue, one webhook an invocation",
        ),
        (
            &Runtime::POST_QUEUE,
            plan.memory_invocations,
            10,
            "post-queue, 10-record batches",
        ),
        (
            &Runtime::POST_QUEUE,
            plan.memory_big_batches,
            1000,
            "post-queue, 1,000-record batches",
        ),
        (&Runtime::HELLO, plan.memory_big_batches, 1000, FLOOR_SERIES),
    ];
    for (runtime, invocations, records, label) in series {
        let host = functions::host(runtime, setup, Lifecycle::default(), 1, "memory")?;
        let every = (invocations / 10).max(1);
        let mut samples = Vec::new();
        let mut event_bytes = 0;
        for n in 0..invocations {
            let event = payload(runtime, &format!("memory-{records}"), n, records);
            event_bytes = event.len();
            invoke(&host, event).await?;
            if (n + 1) % every == 0 || n == 0 {
                let pid = functions::idle_pid(&host)
                    .await
                    .context("no idle environment")?;
                samples.push(json!({
                    "invocations": n + 1,
                    "peak_rss_mb": status_kb(pid, "VmHWM").unwrap_or(0) as f64 / 1024.0,
                    "rss_mb": status_kb(pid, "VmRSS").unwrap_or(0) as f64 / 1024.0,
                }));
            }
        }
        host.shutdown().await;
        let cold_starts = host.stats().cold_starts;
        let peak = |i: usize| {
            samples
                .get(i)
                .and_then(|s| s["peak_rss_mb"].as_f64())
                .unwrap_or(f64::NAN)
        };
        // Growth: the peak after the last invocation against the peak after the first tenth.
        let growth = peak(samples.len() - 1) - peak(1.min(samples.len() - 1));
        functions_json.push(json!({
            "series": label,
            "floor": label == FLOOR_SERIES,
            "event_bytes": event_bytes,
            "invocations": invocations,
            "records_per_invocation": records,
            "environments": cold_starts,
            "samples": samples,
            "peak_rss_mb": peak(samples.len() - 1),
            "growth_after_first_tenth_mb": growth,
        }));
    }
    Ok(json!({ "series": functions_json }))
}
