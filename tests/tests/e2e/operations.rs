//! The operator's command line, `nami`, run as a user runs it against a pipeline on the
//! emulators and the local data plane: dead letters made by a store outage are listed, a dry run
//! moves nothing, a redrive killed halfway and run again brings every one back to be stored
//! exactly once.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nami_harness::aws::queue_depth;
use nami_harness::webhooks::{Burst, send_all};
use serde_json::Value;

use crate::support::{SECRET, deploy, drained};

/// The `nami` binary built beside this test.
fn nami_binary() -> PathBuf {
    nami_harness::built_binary("nami").expect("the nami binary is built with the workspace")
}

fn nami(endpoint: &str, args: &[&str]) -> Command {
    let mut command = Command::new(nami_binary());
    command
        .args(["--endpoint", endpoint, "--region", "us-east-1"])
        .args(args)
        .env_remove("AWS_PROFILE")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    command
}

/// Runs `nami` to its end; its JSON output (it must succeed).
fn nami_json(endpoint: &str, args: &[&str]) -> Value {
    let output: Output = nami(endpoint, args).arg("--json").output().unwrap();
    assert!(
        output.status.success(),
        "nami {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_are_redriven_and_stored_exactly_once_even_after_an_interrupted_redrive() {
    let deployed = deploy(
        "e2e-redrive",
        "  post_queue {\n    timeout = 2\n  }\n  queue {\n    visibility_timeout_seconds = 12\n    max_receive_count = 2\n  }\n",
    )
    .await;
    let endpoint = deployed.moto.endpoint();
    let sqs = aws_sdk_sqs::Client::new(&deployed.sdk);

    // The fault: the store is unreachable, so every batch fails and goes to the DLQ.
    let dead_store = "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200".to_owned();
    let data_plane = deployed.start(Some(dead_store)).await;
    let dlq_url = (data_plane.pipeline().dead_letter_queue.clone())
        .expect("a DLQ")
        .url;
    let main_url = data_plane.pipeline().queue.url.clone();
    let burst = Burst::github(SECRET, "r", 200, 0, 0, false);
    let sent = Instant::now();
    let answers = send_all(&data_plane.ingress_url(), &burst.webhooks, 16, |_| {}).await;
    assert!(answers.iter().all(|a| a.status == 200));
    let started = Instant::now();
    while queue_depth(&sqs, &dlq_url).await.unwrap() < 200 {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "dead letters: {}",
            queue_depth(&sqs, &dlq_url).await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drained(&data_plane, &sqs, Duration::from_secs(60)).await;
    data_plane.shutdown(Duration::from_secs(5)).await;

    // The DLQ alarm was made with the pipeline, and the metric it watches (SQS's, published by
    // nami-local as SQS does) shows the dead letters above its threshold.
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&deployed.sdk);
    let alarm = cloudwatch
        .describe_alarms()
        .alarm_names("nami-e2e-redrive-dead-letters")
        .send()
        .await
        .unwrap()
        .metric_alarms
        .unwrap()
        .pop()
        .expect("the DLQ alarm exists");
    let now = std::time::SystemTime::now();
    let watched = cloudwatch
        .get_metric_statistics()
        .set_namespace(alarm.namespace.clone())
        .set_metric_name(alarm.metric_name.clone())
        .set_dimensions(alarm.dimensions.clone())
        .start_time((now - Duration::from_secs(600)).into())
        .end_time((now + Duration::from_secs(60)).into())
        .period(60)
        .statistics(aws_sdk_cloudwatch::types::Statistic::Maximum)
        .send()
        .await
        .unwrap();
    let highest = (watched.datapoints().iter())
        .filter_map(|point| point.maximum)
        .fold(0.0, f64::max);
    assert_eq!(highest, 200.0, "{alarm:?}: {watched:?}");
    assert!(highest > alarm.threshold.unwrap(), "{alarm:?}");

    // What an operator sees.
    let listed = nami_json(&endpoint, &["list"]);
    let row = (listed.as_array().unwrap().iter())
        .find(|row| row["name"] == "e2e-redrive")
        .unwrap_or_else(|| panic!("listed: {listed}"));
    assert_eq!(
        (&row["queue_depth"], &row["dlq_depth"]),
        (&Value::from(0), &Value::from(200))
    );
    assert_eq!(
        row["alarm_states"].as_object().map(|a| a.len()),
        Some(5),
        "{row}"
    );
    let status = nami_json(&endpoint, &["status", "e2e-redrive"]);
    assert_eq!(status["dlq_depth"], 200, "{status}");
    assert!(
        (status["dashboard_url"].as_str()).is_some_and(|url| url.ends_with("nami-e2e-redrive")),
        "{status}"
    );
    // The oldest message's age, from CloudWatch (the minute's maximum): messages waited through
    // their failed receives, and none for longer than the test has run.
    let oldest = status["oldest_message_age_seconds"].as_u64().unwrap_or(0);
    assert!(oldest > 0 && oldest <= sent.elapsed().as_secs(), "{status}");
    assert_eq!(status["mapping"]["enabled"], true, "{status}");
    assert_eq!(status["functions"][0]["log_retention_days"], 30, "{status}");
    // The outage's errors, from the post-queue function's log group.
    let errors = status["functions"][1]["last_errors"].as_array().unwrap();
    assert!(
        !errors.is_empty()
            && errors
                .iter()
                .all(|e| e.as_str().unwrap().contains("store_unavailable")),
        "{status}"
    );

    // A dry run moves nothing.
    let dry = nami_json(&endpoint, &["redrive", "e2e-redrive", "--dry-run"]);
    assert_eq!(
        (&dry["method"], &dry["moved"]),
        (&Value::from("dry-run"), &Value::from(200))
    );
    assert_eq!(queue_depth(&sqs, &dlq_url).await.unwrap(), 200);
    assert_eq!(queue_depth(&sqs, &main_url).await.unwrap(), 0);

    // `--max` moves at most that many.
    let some = nami_json(&endpoint, &["redrive", "e2e-redrive", "--max", "15"]);
    assert_eq!(some["moved"], 15, "{some}");
    assert_eq!(queue_depth(&sqs, &main_url).await.unwrap(), 15);

    // A redrive killed halfway (SIGKILL: no chance to finish a batch)...
    let mut running = nami(&endpoint, &["redrive", "e2e-redrive"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while queue_depth(&sqs, &main_url).await.unwrap() < 60 {
        assert!(started.elapsed() < Duration::from_secs(60), "nothing moved");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    running.kill().unwrap();
    running.wait().unwrap();
    let left = queue_depth(&sqs, &dlq_url).await.unwrap();
    assert!(left > 0, "the redrive finished before it was killed");

    // ...and run again moves the rest, waiting for the messages the killed one held.
    let rest = nami_json(&endpoint, &["redrive", "e2e-redrive"]);
    assert_eq!(rest["remaining"], 0, "{rest}");
    assert_eq!(queue_depth(&sqs, &dlq_url).await.unwrap(), 0);

    // The fault fixed (the real store), every webhook is stored exactly once.
    let data_plane = deployed.start(None).await;
    drained(&data_plane, &sqs, Duration::from_secs(120)).await;
    let expected: std::collections::BTreeSet<String> = burst.valid_ids.iter().cloned().collect();
    assert_eq!(deployed.stored_ids().await, expected);
    let documents = deployed
        .collection()
        .await
        .count_documents(mongodb::bson::Document::new())
        .await
        .unwrap();
    assert_eq!(documents, 200, "each one once");
    assert_eq!(queue_depth(&sqs, &dlq_url).await.unwrap(), 0);
    data_plane.shutdown(Duration::from_secs(5)).await;

    // A pipeline that does not exist: a readable error and exit code 1.
    let missing = nami(&endpoint, &["status", "nope"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("no pipeline named \"nope\""), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_finds_nothing_missing_after_a_clean_burst_and_names_deleted_documents() {
    let deployed = deploy("e2e-reconcile", "").await;
    let endpoint = deployed.moto.endpoint();
    let sqs = aws_sdk_sqs::Client::new(&deployed.sdk);
    let data_plane = deployed.start(None).await;
    let burst = Burst::github(SECRET, "c", 50, 5, 3, false);
    let answers = send_all(&data_plane.ingress_url(), &burst.webhooks, 8, |_| {}).await;
    assert_eq!(answers.iter().filter(|a| a.status == 200).count(), 55);
    drained(&data_plane, &sqs, Duration::from_secs(60)).await;
    data_plane.shutdown(Duration::from_secs(5)).await;

    // The pre-queue function's lines reach its log group after each invocation (nami-local
    // ships them as Lambda does); reconcile reads them there.
    let reconcile = |extra: &[&str]| {
        let mut args = vec!["reconcile", "e2e-reconcile", "--since", "10m", "--json"];
        args.extend_from_slice(extra);
        nami(&endpoint, &args).output().unwrap()
    };
    let started = Instant::now();
    let clean = loop {
        let output = reconcile(&[]);
        let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        if report["accepted"] == 50 || started.elapsed() > Duration::from_secs(30) {
            assert_eq!(
                output.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            break report;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(
        (&clean["accepted"], &clean["stored"], &clean["missing"]),
        (&Value::from(50), &Value::from(50), &serde_json::json!([])),
        "{clean}"
    );

    // Documents deleted behind its back are named, exactly, and the exit code says so.
    let gone: Vec<String> = burst.valid_ids[..3].to_vec();
    deployed
        .collection()
        .await
        .delete_many(mongodb::bson::doc! { "_id": { "$in": gone.clone() } })
        .await
        .unwrap();
    let output = reconcile(&[]);
    assert_eq!(output.status.code(), Some(3));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut missing: Vec<String> = serde_json::from_value(report["missing"].clone()).unwrap();
    missing.sort();
    let mut expected = gone;
    expected.sort();
    assert_eq!(missing, expected, "{report}");
    assert_eq!(report["stored"], 47);

    // `nami tail` follows both functions' groups: the accepted webhooks' lines and the
    // post-queue function's REPORT lines show.
    let mut tail = nami(&endpoint, &["tail", "e2e-reconcile", "--since", "10m"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = tail.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead as _;
        let mut seen = (false, false);
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap_or_default();
            seen.0 |= line.starts_with("pre-queue ") && line.contains(&expected[0]);
            seen.1 |= line.starts_with("post-queue REPORT RequestId:");
            if seen == (true, true) {
                break;
            }
        }
        seen
    });
    let started = Instant::now();
    while !reader.is_finished() && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tail.kill().unwrap();
    tail.wait().unwrap();
    assert_eq!(
        reader.join().unwrap(),
        (true, true),
        "both functions' lines"
    );
}
