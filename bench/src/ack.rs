//! 1. The ack path: the pre-queue function's latency per webhook beside a bare SDK SendMessage and
//!    a raw HTTP SendMessage of the same message, to the same queue, and beside a function that
//!    only sends that message (the floor of any function doing the job under this Runtime API),
//!    one call at a time, in interleaved rounds.

use std::time::Instant;

use anyhow::{Context as _, ensure};
use bytes::Bytes;
use nami_dataplane::{FunctionHost, Lifecycle};
use serde_json::{Value, json};

use crate::functions::{self, Runtime, Setup};
use crate::stats::{Spread, quantile};
use crate::{Plan, floor, workload};

/// Measures the section; `setup.queue_url` is the queue every sender uses.
pub(crate) async fn run(
    plan: &Plan,
    setup: &Setup,
    sqs: &aws_sdk_sqs::Client,
) -> anyhow::Result<Value> {
    let host = functions::host(&Runtime::PRE_QUEUE, setup, Lifecycle::default(), 1, "ack")?;
    // The message the function queues for a webhook: the references send the same bytes.
    let first = workload::webhook("ack-warm");
    let answer = host.invoke(workload::proxy_event(&first, "warm")).await?;
    ensure!(
        String::from_utf8_lossy(&answer).contains("\"statusCode\":200"),
        "the pre-queue function did not accept a signed webhook: {}",
        String::from_utf8_lossy(&answer)
    );
    let message = sqs
        .receive_message()
        .queue_url(&setup.queue_url)
        .send()
        .await?
        .messages
        .and_then(|m| m.into_iter().next())
        .and_then(|m| m.body)
        .context("the function's message is not in the queue")?;
    let send_only = functions::host(&Runtime::SEND_ONLY, setup, Lifecycle::default(), 1, "ack")?;
    let send_only_event = Bytes::from(json!({ "body": message }).to_string());
    send(&send_only, send_only_event.clone()).await?;
    let body_file = crate::work_dir().join("ack-message.json");
    std::fs::write(&body_file, &message)?;
    let body_file = body_file.to_string_lossy().into_owned();
    let count = plan.ack_requests.to_string();

    let mut function_p50 = Vec::new();
    let mut function_p99 = Vec::new();
    let mut sdk_p50 = Vec::new();
    let mut sdk_p99 = Vec::new();
    let mut raw_p50 = Vec::new();
    let mut raw_p99 = Vec::new();
    let mut ratio_raw = Vec::new();
    let mut ratio_sdk = Vec::new();
    let mut handler_p50 = Vec::new();
    let mut send_only_p50 = Vec::new();
    let mut send_only_p99 = Vec::new();
    let mut send_only_handler_p50 = Vec::new();
    let mut ratio_send_only = Vec::new();
    let mut send_only_over_raw = Vec::new();
    let mut sent = 0;
    for round in 0..plan.rounds {
        let mut raw = Vec::new();
        let mut sdk = Vec::new();
        let mut function = Vec::new();
        let mut only_sending = Vec::new();
        // Rotate the order, so no kind always meets the fuller queue.
        for turn in 0..4 {
            match (turn + round) % 4 {
                0 => {
                    raw = floor::latencies_ms(&floor::run(&[
                        "sqs-raw",
                        &setup.endpoint,
                        &setup.queue_url,
                        &body_file,
                        &count,
                    ])?)
                }
                1 => {
                    sdk = floor::latencies_ms(&floor::run(&[
                        "sqs-sdk",
                        &setup.endpoint,
                        &setup.queue_url,
                        &body_file,
                        &count,
                    ])?)
                }
                2 => {
                    for _ in 0..plan.ack_requests {
                        let started = Instant::now();
                        send(&send_only, send_only_event.clone()).await?;
                        only_sending.push(started.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                _ => {
                    for n in 0..plan.ack_requests {
                        let webhook = workload::webhook(&format!("ack-{round}-{n}"));
                        let event = workload::proxy_event(&webhook, &format!("r{round}-{n}"));
                        let started = Instant::now();
                        let answer = host.invoke(event).await?;
                        function.push(started.elapsed().as_secs_f64() * 1000.0);
                        ensure!(
                            String::from_utf8_lossy(&answer).contains("\"statusCode\":200"),
                            "a signed webhook was not accepted: {}",
                            String::from_utf8_lossy(&answer)
                        );
                        sent += 1;
                    }
                }
            }
        }
        let last_durations = |host: &FunctionHost| -> Vec<f64> {
            (functions::reports(host).iter().rev())
                .take(plan.ack_requests)
                .map(|r| r.duration_ms)
                .collect()
        };
        handler_p50.push(quantile(&last_durations(&host), 0.5));
        send_only_handler_p50.push(quantile(&last_durations(&send_only), 0.5));
        send_only_p50.push(quantile(&only_sending, 0.5));
        send_only_p99.push(quantile(&only_sending, 0.99));
        ratio_send_only.push(quantile(&function, 0.5) / quantile(&only_sending, 0.5));
        send_only_over_raw.push(quantile(&only_sending, 0.5) / quantile(&raw, 0.5));
        function_p50.push(quantile(&function, 0.5));
        function_p99.push(quantile(&function, 0.99));
        sdk_p50.push(quantile(&sdk, 0.5));
        sdk_p99.push(quantile(&sdk, 0.99));
        raw_p50.push(quantile(&raw, 0.5));
        raw_p99.push(quantile(&raw, 0.99));
        ratio_raw.push(quantile(&function, 0.5) / quantile(&raw, 0.5));
        ratio_sdk.push(quantile(&function, 0.5) / quantile(&sdk, 0.5));
    }
    host.shutdown().await;
    send_only.shutdown().await;
    let log_bytes: u64 = std::fs::read_dir(host.logs())?
        .flatten()
        .filter_map(|entry| entry.metadata().ok())
        .map(|metadata| metadata.len())
        .sum();
    let invocations = host.stats().invocations.max(1);
    Ok(json!({
        "log_bytes_per_invocation": log_bytes as f64 / invocations as f64,
        "requests_per_round": plan.ack_requests,
        "rounds": plan.rounds,
        "webhooks": sent,
        "message_bytes": message.len(),
        "function_p50_ms": Spread::of(&function_p50).json(),
        "function_p99_ms": Spread::of(&function_p99).json(),
        "handler_p50_ms": Spread::of(&handler_p50).json(),
        "sdk_p50_ms": Spread::of(&sdk_p50).json(),
        "sdk_p99_ms": Spread::of(&sdk_p99).json(),
        "raw_p50_ms": Spread::of(&raw_p50).json(),
        "raw_p99_ms": Spread::of(&raw_p99).json(),
        "function_over_raw": Spread::of(&ratio_raw).json(),
        "function_over_sdk": Spread::of(&ratio_sdk).json(),
        "send_only_p50_ms": Spread::of(&send_only_p50).json(),
        "send_only_p99_ms": Spread::of(&send_only_p99).json(),
        "send_only_handler_p50_ms": Spread::of(&send_only_handler_p50).json(),
        "function_over_send_only": Spread::of(&ratio_send_only).json(),
        "send_only_over_raw": Spread::of(&send_only_over_raw).json(),
    }))
}

/// Invokes the send-only function and requires its answer to be a success.
async fn send(host: &FunctionHost, event: Bytes) -> anyhow::Result<()> {
    let answer = host.invoke(event).await?;
    ensure!(
        String::from_utf8_lossy(&answer).contains("\"statusCode\":200"),
        "the send-only function did not send: {}",
        String::from_utf8_lossy(&answer)
    );
    Ok(())
}
