//! Faults: the provider's applies through a proxy that answers a share of AWS calls with
//! throttling, HTTP 500 or a dropped connection (`nami_harness::faults`). The slow runs write
//! their figures beside a clean run's to `target/reliability/`, which `make testfault` renders
//! into docs/reliability.md.

use std::time::{Duration, Instant};

use nami_harness::Moto;
use nami_harness::faults::{Counts, FaultProxy};

use crate::support::{Terraform, leftovers, managed_pipeline, pipeline, record_figures, sdk};

/// The percentage of AWS calls the proxy faults.
const FAULT_PERCENT: u32 = 20;

/// One step's figures: what the proxy saw during it, and how long it took.
fn figures(step: &str, before: Counts, after: Counts, took: Duration) -> serde_json::Value {
    serde_json::json!({
        "step": step,
        "requests": after.requests - before.requests,
        "retries": after.retries - before.retries,
        "throttled": after.throttled - before.throttled,
        "server_errors": after.server_errors - before.server_errors,
        "dropped": after.dropped - before.dropped,
        "faults": after.faults() - before.faults(),
        "seconds": took.as_secs_f64(),
    })
}

/// Creates, re-plans and destroys `config` with `percent` of the calls faulted: the apply converges,
/// the next plan is empty, and destroy leaves nothing but `kept`. Returns the figures.
async fn faulted_lifecycle(
    test: &str,
    config: &str,
    kept: &[&str],
    percent: u32,
) -> serde_json::Value {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let proxy = FaultProxy::start(&moto.endpoint(), percent, 0x5eed_0000 + test.len() as u64)
        .await
        .unwrap();
    let tf = Terraform::with_endpoint(test, &proxy.endpoint());
    tf.write(config);
    tf.ok(&["init", "-no-color"]);
    let mut steps = Vec::new();
    let mut step = |name: &str, run: &mut dyn FnMut()| {
        let (before, started) = (proxy.counts(), Instant::now());
        run();
        steps.push(figures(name, before, proxy.counts(), started.elapsed()));
    };
    step("apply", &mut || {
        tf.ok(&["apply", "-auto-approve", "-no-color"]);
    });
    step("plan", &mut || {
        let (code, plan) = tf.plan();
        assert_eq!(code, 0, "the plan after a faulted apply is empty:\n{plan}");
    });
    step("destroy", &mut || {
        tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    });
    assert_eq!(leftovers(&sdk).await, kept, "destroy leaves nothing else");
    let total = proxy.counts();
    if percent > 0 {
        assert!(total.faults() > 0, "faults were injected: {total:?}");
        assert!(
            total.retries >= total.faults(),
            "every fault was retried: {total:?}"
        );
    }
    serde_json::json!({ "percent": percent, "steps": steps })
}

/// The same lifecycle without faults, then with them: the figures side by side.
async fn compared(test: &str, config: &str, kept: &[&str]) {
    let clean = faulted_lifecycle(&format!("{test}-clean"), config, kept, 0).await;
    let faulted = faulted_lifecycle(test, config, kept, FAULT_PERCENT).await;
    record_figures(test, &serde_json::json!({ "runs": [clean, faulted] }));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pipeline_converges_with_a_fifth_of_its_aws_calls_faulted() {
    let figures =
        faulted_lifecycle("faults-quick", &pipeline("shaky", ""), &[], FAULT_PERCENT).await;
    eprintln!("{figures}");
}

/// With figures beside a clean run (`make testfault`).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow: two lifecycles; run by `make testfault`"]
async fn a_pipeline_converges_with_faults_figures_beside_a_clean_run() {
    compared("faults-pipeline", &pipeline("shaky", ""), &[]).await;
}

/// The managed store's create has the most steps: network, groups, volume, instance.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow: a managed-store lifecycle with backoffs; run by `make testfault`"]
async fn a_managed_store_pipeline_converges_with_a_fifth_of_its_aws_calls_faulted() {
    let config = managed_pipeline("shaky", "    retain_volume = false");
    compared("faults-managed-store", &config, &[]).await;
}
