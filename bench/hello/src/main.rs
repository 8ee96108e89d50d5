//! A hello-world Lambda function: the smallest `lambda_runtime` program, built with cargo-lambda
//! exactly as Nami's functions are. `make bench` starts it beside them as the cold-start floor,
//! and gives it the post-queue function's 1,000-record batches as the memory floor: its event
//! type reads nothing, so what it holds is what the runtime holds to receive an event.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde::de::IgnoredAny;
use serde_json::{Value, json};

async fn hello(event: LambdaEvent<IgnoredAny>) -> Result<Value, Error> {
    Ok(json!({ "hello": "world", "request_id": event.context.request_id }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(hello)).await
}
