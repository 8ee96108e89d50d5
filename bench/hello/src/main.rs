//! A hello-world Lambda function: the smallest `lambda_runtime` program, built with cargo-lambda
//! exactly as Nami's functions are. `make bench` starts it beside them as the cold-start floor.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};

async fn hello(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({ "hello": "world", "request_id": event.context.request_id }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(hello)).await
}
