//! Structured JSON logs, one object a line, as CloudWatch and the local data plane collect them.
//!
//! Fields are the delivery id, pipeline and outcome; secrets and bodies are never logged. Metrics
//! are log lines too, in CloudWatch's Embedded Metric Format ([`record_metrics`]).

use std::io::Write as _;

use nami_contract::metrics::{self, Metric};
use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber; the level comes from `NAMI_LOG` (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_env("NAMI_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_target(false)
        .with_current_span(false)
        .with_ansi(false)
        .init();
}

/// Writes one Embedded Metric Format line for `pipeline` to stdout, where Lambda's log stream (and
/// the local data plane's) collects it and CloudWatch turns it into metrics: no API call.
pub fn record_metrics(pipeline: &str, values: &[(Metric, f64)]) {
    let line = metrics::emf_line(pipeline, chrono::Utc::now().timestamp_millis(), values);
    let mut stdout = std::io::stdout().lock();
    // A log line that cannot be written is not worth failing a webhook for.
    let _ = writeln!(stdout, "{line}");
}
