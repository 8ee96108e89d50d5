//! The references, run as `nami-bench-floor` (an optimised binary: see bench/floor/).

use std::process::Command;

use anyhow::{Context as _, ensure};
use nami_harness::built_binary;
use serde_json::Value;

/// Runs one reference and returns its JSON answer.
pub(crate) fn run(args: &[&str]) -> anyhow::Result<Value> {
    let binary = built_binary("nami-bench-floor")
        .context("nami-bench-floor is not built beside nami-bench (`make bench` builds both)")?;
    let output = Command::new(&binary)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    ensure!(
        output.status.success(),
        "nami-bench-floor {} failed: {}",
        args.first().copied().unwrap_or_default(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// The latencies a SendMessage reference printed, in ms.
pub(crate) fn latencies_ms(answer: &Value) -> Vec<f64> {
    answer["latencies_us"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .map(|us| us / 1000.0)
        .collect()
}
