//! Nami's post-queue function with this pipeline's rule before storing.

use anyhow::Context as _;
use lambda_runtime::{run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    nami_handlers::init::return_large_allocations();
    nami_handlers::logging::init();
    let function = nami_handlers::init::post_queue_from_env()
        .await
        .context("post-queue init failed")?
        .with_hook(nami_custom_handlers::before_store);
    run(service_fn(|event| function.handle_event(event)))
        .await
        .map_err(|error| anyhow::anyhow!(error))
}
