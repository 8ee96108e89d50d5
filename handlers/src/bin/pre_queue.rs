//! The pre-queue Lambda function (API Gateway REST proxy event in, proxy response out).

use anyhow::Context as _;
use lambda_runtime::{run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    nami_handlers::init::return_large_allocations();
    nami_handlers::logging::init();
    let function = nami_handlers::init::pre_queue_from_env()
        .await
        .context("pre-queue init failed")?;
    run(service_fn(|event| function.handle_event(event)))
        .await
        .map_err(|error| anyhow::anyhow!(error))
}
