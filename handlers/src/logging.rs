//! Structured JSON logs, one object a line, as CloudWatch and the local data plane collect them.
//!
//! Fields are the delivery id, pipeline and outcome; secrets and bodies are never logged.

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
