//! 7. The provider: wall time and AWS API calls of `terraform apply` and `terraform destroy`, for
//!    a pipeline with an external store and one with the managed store, with the provider's
//!    concurrent creation as built and with every AWS call made one after another (a proxy in
//!    front of the emulator that forwards one call at a time: the same steps, in sequence).

use std::time::Instant;

use anyhow::ensure;
use nami_harness::faults::FaultProxy;
use nami_harness::terraform::Terraform;
use serde_json::{Value, json};

use crate::stats::Spread;

/// One configuration applied and destroyed: how long each took and how many calls it made.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Run {
    /// `terraform apply` wall time, s.
    pub(crate) apply_s: f64,
    /// AWS calls the apply made (retries included).
    pub(crate) apply_calls: u64,
    /// `terraform destroy` wall time, s.
    pub(crate) destroy_s: f64,
    /// AWS calls the destroy made.
    pub(crate) destroy_calls: u64,
}

/// `terraform apply` in `terraform` (whose provider calls `proxy`), timed and counted.
pub(crate) fn apply(terraform: &Terraform, proxy: &FaultProxy) -> anyhow::Result<(f64, u64)> {
    if !terraform.dir().join(".terraform").exists() {
        let init = terraform.run(&["init", "-no-color"]);
        ensure!(
            init.status.success(),
            "terraform init failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
    }
    timed(proxy, || {
        terraform.run(&["apply", "-auto-approve", "-no-color"])
    })
}

/// `terraform destroy`, timed and counted.
pub(crate) fn destroy(terraform: &Terraform, proxy: &FaultProxy) -> anyhow::Result<(f64, u64)> {
    timed(proxy, || {
        terraform.run(&["destroy", "-auto-approve", "-no-color"])
    })
}

fn timed(
    proxy: &FaultProxy,
    command: impl FnOnce() -> std::process::Output,
) -> anyhow::Result<(f64, u64)> {
    let calls = proxy.counts().requests;
    let started = Instant::now();
    let output = command();
    let seconds = started.elapsed().as_secs_f64();
    ensure!(
        output.status.success(),
        "terraform failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((seconds, proxy.counts().requests - calls))
}

/// Applies and destroys `body` `rounds` times, concurrent and one call at a time.
pub(crate) fn measure(
    label: &str,
    body: &str,
    proxy: &FaultProxy,
    rounds: usize,
) -> anyhow::Result<Value> {
    let mut modes = Vec::new();
    for (mode, serial) in [
        ("concurrent (as built)", false),
        ("one call at a time", true),
    ] {
        proxy.one_at_a_time(serial);
        let mut runs = Vec::new();
        for _ in 0..rounds {
            let terraform = Terraform::with_endpoint("bench-provider", &proxy.endpoint());
            terraform.write(body);
            let (apply_s, apply_calls) = apply(&terraform, proxy)?;
            let (destroy_s, destroy_calls) = destroy(&terraform, proxy)?;
            runs.push(Run {
                apply_s,
                apply_calls,
                destroy_s,
                destroy_calls,
            });
        }
        modes.push(summary(mode, &runs));
    }
    proxy.one_at_a_time(false);
    Ok(json!({ "pipeline": label, "modes": modes }))
}

/// The median and range of `runs`.
pub(crate) fn summary(mode: &str, runs: &[Run]) -> Value {
    let of = |f: fn(&Run) -> f64| Spread::of(&runs.iter().map(f).collect::<Vec<_>>()).json();
    json!({
        "mode": mode,
        "rounds": runs.len(),
        "apply_s": of(|r| r.apply_s),
        "apply_calls": of(|r| r.apply_calls as f64),
        "destroy_s": of(|r| r.destroy_s),
        "destroy_calls": of(|r| r.destroy_calls as f64),
    })
}
