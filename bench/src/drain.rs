//! 2. The drain: documents stored per second of the post-queue function's own time (its REPORT
//!    `Duration`, as Lambda bills it; the wall time through the Runtime API comes along) at batch
//!    sizes 10, 100 and 1,000 (2 KB webhooks, one in twenty a redelivery), beside a bare
//!    unordered `insert_many` of the same documents to the same server (its limit), the
//!    `store-only` function storing the same documents given already in BSON (what any function
//!    storing them through the same Runtime API pays) and one insert per message (how the
//!    original Node implementation wrote). The functions' CPU time, the post-queue function's
//!    thread switches and the server's CPU time per document come from /proc.

use std::time::Instant;

use anyhow::{Context as _, ensure};
use mongodb::bson::Document;
use nami_contract::envelope::Envelope;
use nami_dataplane::{FunctionHost, Lifecycle};
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
    // The store-only function's message bodies: the same documents, base64.
    let mut documents = Vec::new();
    for body in &bodies {
        let envelope = Envelope::from_message_body(body)?;
        stream.extend_from_slice(envelope_document(&envelope).as_bytes());
        documents.push(workload::stored_document_message(&envelope));
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
    let store_only = functions::host(
        &Runtime::STORE_ONLY,
        setup,
        Lifecycle::default(),
        1,
        "drain",
    )?;
    // Warm: connected, as a function in a steady drain is.
    host.invoke(workload::sqs_event(&bodies[..1], 0)).await?;
    store_only
        .invoke(workload::sqs_event(&documents[..1], 0))
        .await?;

    // Every batch built before the clock starts: only the function's work is timed.
    let batches = |messages: &[String]| -> Vec<Vec<bytes::Bytes>> {
        (BATCH_SIZES.iter())
            .map(|&size| {
                (messages.chunks(size).enumerate())
                    .map(|(n, chunk)| workload::sqs_event(chunk, n * size))
                    .collect()
            })
            .collect()
    };
    let events = batches(&bodies);
    let store_only_events = batches(&documents);

    let mut sizes = Vec::new();
    let mut one_rates = Vec::new();
    let mut per_size: Vec<Vec<Rounds>> = BATCH_SIZES.iter().map(|_| Vec::new()).collect();
    for round in 0..plan.rounds {
        for (index, &size) in BATCH_SIZES.iter().enumerate() {
            let (mut function, mut only_storing, mut many_seconds) = (None, None, f64::NAN);
            // Rotate the order, so none always meets the server after the same neighbour.
            for turn in 0..3 {
                collection.drop().await?;
                match (turn + round) % 3 {
                    0 => function = Some(drive(&host, &events[index], mongo_pid).await?),
                    1 => {
                        only_storing =
                            Some(drive(&store_only, &store_only_events[index], mongo_pid).await?)
                    }
                    _ => {
                        let many = floor::run(&[
                            "insert-many",
                            &setup.mongodb_uri,
                            "nami",
                            &setup.collection,
                            &documents_file,
                            &size.to_string(),
                        ])?;
                        many_seconds = many["elapsed_us"].as_f64().unwrap_or(f64::NAN) / 1e6;
                    }
                }
                let stored = collection.count_documents(Document::new()).await?;
                ensure!(
                    stored == unique as u64,
                    "batch {size}, turn {turn}: {stored} documents stored for {unique} deliveries"
                );
            }
            let (function, only_storing) = (
                function.context("no function turn")?,
                only_storing.context("no store-only turn")?,
            );
            let invocations = events[index].len() as f64;
            let messages = bodies.len() as f64;
            per_size[index].push(Rounds {
                function_rate: unique as f64 / function.busy,
                through_runtime_api_rate: unique as f64 / function.elapsed,
                insert_many_rate: unique as f64 / many_seconds,
                store_only_rate: unique as f64 / only_storing.busy,
                cpu_us_per_document: function.cpu.map(|c| c * 1e6 / messages),
                store_only_cpu_us_per_document: only_storing.cpu.map(|c| c * 1e6 / messages),
                server_us_per_document: function.server.map(|s| s * 1e6 / messages),
                switches_per_invocation: function.switches.map(|s| s as f64 / invocations),
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
    store_only.shutdown().await;
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
            "store_only_docs_per_s": spread(&|r| Some(r.store_only_rate)),
            "store_only_over_insert_many": spread(&|r| Some(r.store_only_rate / r.insert_many_rate)),
            "function_over_store_only": spread(&|r| Some(r.function_rate / r.store_only_rate)),
            "function_over_one_per_message": spread(&|r| Some(r.function_rate / one.median)),
            "function_cpu_us_per_document": spread(&|r| r.cpu_us_per_document),
            "store_only_cpu_us_per_document": spread(&|r| r.store_only_cpu_us_per_document),
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

/// What one pass of a function over a batch size's events took.
struct Pass {
    /// Seconds of its REPORT lines (`Duration`, as Lambda bills it).
    busy: f64,
    /// Wall seconds of the invocations, the Runtime API's handoffs included.
    elapsed: f64,
    /// The function's CPU seconds.
    cpu: Option<f64>,
    /// The store's CPU seconds.
    server: Option<f64>,
    /// The function's thread switches.
    switches: Option<u64>,
}

/// Invokes `host` with each of `events` in turn, requiring every record stored.
async fn drive(
    host: &FunctionHost,
    events: &[bytes::Bytes],
    mongo_pid: u32,
) -> anyhow::Result<Pass> {
    let pid = functions::idle_pid(host)
        .await
        .with_context(|| format!("{} has no idle environment", host.spec().name))?;
    let (cpu_before, switches_before) = (cpu_time(pid), context_switches(pid));
    let server_before = cpu_time(mongo_pid);
    let started = Instant::now();
    for event in events {
        let answer = host.invoke(event.clone()).await?;
        ensure!(
            String::from_utf8_lossy(&answer).contains("\"batchItemFailures\":[]"),
            "{} reported failures: {}",
            host.spec().name,
            String::from_utf8_lossy(&answer)
        );
    }
    let elapsed = started.elapsed().as_secs_f64();
    let server = cpu_time(mongo_pid)
        .zip(server_before)
        .map(|(a, b)| (a - b).as_secs_f64());
    let pid = functions::idle_pid(host).await.unwrap_or(pid);
    let busy = (functions::reports(host).iter().rev().take(events.len()))
        .map(|report| report.duration_ms / 1000.0)
        .sum();
    Ok(Pass {
        busy,
        elapsed,
        cpu: cpu_time(pid)
            .zip(cpu_before)
            .map(|(a, b)| (a - b).as_secs_f64()),
        server,
        switches: context_switches(pid)
            .zip(switches_before)
            .map(|(a, b)| a.saturating_sub(b)),
    })
}

/// One round of one batch size.
struct Rounds {
    /// Unique documents over the function's own time (the `Duration` of its REPORT lines).
    function_rate: f64,
    /// Unique documents over the wall time of the invocations, the Runtime API's handoffs included.
    through_runtime_api_rate: f64,
    insert_many_rate: f64,
    /// Unique documents over the store-only function's own time.
    store_only_rate: f64,
    cpu_us_per_document: Option<f64>,
    store_only_cpu_us_per_document: Option<f64>,
    server_us_per_document: Option<f64>,
    switches_per_invocation: Option<f64>,
}
