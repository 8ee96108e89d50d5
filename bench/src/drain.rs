//! 2. The drain: documents stored per second of the post-queue function's own time (its REPORT
//!    `Duration`, as Lambda bills it; the wall time through the Runtime API comes along) at batch
//!    sizes 10, 100 and 1,000 (2 KB webhooks, one in twenty a redelivery), beside a bare unordered `insert_many`
//!    of the same documents to the same server (its limit) and one insert per message (how the
//!    original Node implementation wrote). The function's CPU time and thread switches per
//!    document and the server's CPU time per document come from /proc.

use std::time::Instant;

use anyhow::{Context as _, ensure};
use mongodb::bson::Document;
use nami_contract::envelope::Envelope;
use nami_dataplane::Lifecycle;
use nami_handlers::mongo::envelope_document;
use nami_harness::process::{context_switches, cpu_time};
use serde_json::{Value, json};

use crate::functions::{self, Runtime, Setup};
use crate::stats::Spread;
use crate::{Plan, floor, workload};

/// The batch sizes measured.
pub(crate) const BATCH_SIZES: [usize; 3] = [10, 100, 1000];

/// Measures the section against the store at `setup.mongodb_uri` (pid `mongo_pid`).
pub(crate) async fn run(plan: &Plan, setup: &Setup, mongo_pid: u32) -> anyhow::Result<Value> {
    let (bodies, unique) = workload::messages("drain", plan.drain_documents);
    let documents_file = crate::work_dir().join("drain-documents.bson");
    let mut stream = Vec::new();
    for body in &bodies {
        let envelope = Envelope::from_message_body(body)?;
        stream.extend_from_slice(envelope_document(&envelope).as_bytes());
    }
    std::fs::write(&documents_file, stream)?;
    let documents_file = documents_file.to_string_lossy().into_owned();
    let client = mongodb::Client::with_uri_str(&setup.mongodb_uri).await?;
    let collection = client
        .database("nami")
        .collection::<Document>(&setup.collection);
    let host = functions::host(
        &Runtime::POST_QUEUE,
        setup,
        Lifecycle::default(),
        1,
        "drain",
    )?;
    // Warm: connected, as a function in a steady drain is.
    host.invoke(workload::sqs_event(&bodies[..1], 0)).await?;

    // Every batch built before the clock starts: only the function's work is timed.
    let events: Vec<Vec<bytes::Bytes>> = BATCH_SIZES
        .iter()
        .map(|&size| {
            (bodies.chunks(size).enumerate())
                .map(|(n, chunk)| workload::sqs_event(chunk, n * size))
                .collect()
        })
        .collect();

    let mut sizes = Vec::new();
    let mut one_rates = Vec::new();
    let mut per_size: Vec<Vec<Rounds>> = BATCH_SIZES.iter().map(|_| Vec::new()).collect();
    for _ in 0..plan.rounds {
        for (index, &size) in BATCH_SIZES.iter().enumerate() {
            collection.drop().await?;
            let pid = functions::idle_pid(&host)
                .await
                .context("the post-queue function has no idle environment")?;
            let (cpu_before, switches_before) = (cpu_time(pid), context_switches(pid));
            let server_before = cpu_time(mongo_pid);
            let started = Instant::now();
            for event in &events[index] {
                let answer = host.invoke(event.clone()).await?;
                ensure!(
                    String::from_utf8_lossy(&answer).contains("\"batchItemFailures\":[]"),
                    "the post-queue function reported failures: {}",
                    String::from_utf8_lossy(&answer)
                );
            }
            let elapsed = started.elapsed().as_secs_f64();
            let invocations = events[index].len();
            let reports = functions::reports(&host);
            let busy: f64 = (reports.iter().rev().take(invocations))
                .map(|report| report.duration_ms / 1000.0)
                .sum();
            let server = cpu_time(mongo_pid)
                .zip(server_before)
                .map(|(a, b)| (a - b).as_secs_f64());
            let pid = functions::idle_pid(&host).await.unwrap_or(pid);
            let cpu = cpu_time(pid)
                .zip(cpu_before)
                .map(|(a, b)| (a - b).as_secs_f64());
            let switches = context_switches(pid)
                .zip(switches_before)
                .map(|(a, b)| a.saturating_sub(b));
            let stored = collection.count_documents(Document::new()).await?;
            ensure!(
                stored == unique as u64,
                "batch {size}: {stored} documents stored for {unique} deliveries"
            );
            collection.drop().await?;
            let many = floor::run(&[
                "insert-many",
                &setup.mongodb_uri,
                "nami",
                &setup.collection,
                &documents_file,
                &size.to_string(),
            ])?;
            let many_seconds = many["elapsed_us"].as_f64().unwrap_or(f64::NAN) / 1e6;
            let stored_many = collection.count_documents(Document::new()).await?;
            ensure!(
                stored_many == unique as u64,
                "the bare insert_many stored {stored_many} of {unique}"
            );
            per_size[index].push(Rounds {
                function_rate: unique as f64 / busy,
                through_runtime_api_rate: unique as f64 / elapsed,
                insert_many_rate: unique as f64 / many_seconds,
                cpu_us_per_document: cpu.map(|c| c * 1e6 / bodies.len() as f64),
                server_us_per_document: server.map(|s| s * 1e6 / bodies.len() as f64),
                switches_per_invocation: switches.map(|s| s as f64 / invocations as f64),
            });
        }
        collection.drop().await?;
        let one = floor::run(&[
            "insert-one",
            &setup.mongodb_uri,
            "nami",
            &setup.collection,
            &documents_file,
        ])?;
        one_rates.push(unique as f64 / (one["elapsed_us"].as_f64().unwrap_or(f64::NAN) / 1e6));
    }
    host.shutdown().await;
    let one = Spread::of(&one_rates);
    for (size, rounds) in BATCH_SIZES.iter().zip(&per_size) {
        let spread = |f: &dyn Fn(&Rounds) -> Option<f64>| {
            let values: Vec<f64> = rounds.iter().filter_map(f).collect();
            Spread::of(&values).json()
        };
        sizes.push(json!({
            "batch_size": size,
            "function_docs_per_s": spread(&|r| Some(r.function_rate)),
            "through_runtime_api_docs_per_s": spread(&|r| Some(r.through_runtime_api_rate)),
            "insert_many_docs_per_s": spread(&|r| Some(r.insert_many_rate)),
            "function_over_insert_many": spread(&|r| Some(r.function_rate / r.insert_many_rate)),
            "function_over_one_per_message": spread(&|r| Some(r.function_rate / one.median)),
            "function_cpu_us_per_document": spread(&|r| r.cpu_us_per_document),
            "server_cpu_us_per_document": spread(&|r| r.server_us_per_document),
            "thread_switches_per_invocation": spread(&|r| r.switches_per_invocation),
        }));
    }
    Ok(json!({
        "messages": bodies.len(),
        "unique": unique,
        "rounds": plan.rounds,
        "one_per_message_docs_per_s": one.json(),
        "sizes": sizes,
    }))
}

/// One round of one batch size.
struct Rounds {
    /// Unique documents over the function's own time (the `Duration` of its REPORT lines).
    function_rate: f64,
    /// Unique documents over the wall time of the invocations, the Runtime API's handoffs included.
    through_runtime_api_rate: f64,
    insert_many_rate: f64,
    cpu_us_per_document: Option<f64>,
    server_us_per_document: Option<f64>,
    switches_per_invocation: Option<f64>,
}
