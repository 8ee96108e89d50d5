//! The ack path's floor as a function: it sends the message it is given to the pipeline's queue
//! with `aws-sdk-sqs`, nothing else — no signature, no envelope, no logs. Written as a user would
//! (the SDK's default configuration), on the runtime flavour Nami's functions use, and run by
//! `make bench` under the same Runtime API as the pre-queue function: what it adds to a bare
//! SendMessage is what any function sending one message pays, so the pre-queue function ÷ this is
//! the cost of verifying and enveloping.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use nami_contract::vars;
use serde::Deserialize;
use serde_json::{Value, json};

/// The message to send, as the bench gives it.
#[derive(Deserialize)]
struct Message {
    body: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let queue_url = std::env::var(vars::QUEUE_URL)?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let sqs = &sqs;
    let queue_url = queue_url.as_str();
    run(service_fn(|event: LambdaEvent<Message>| async move {
        let sent = sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(event.payload.body)
            .send()
            .await?;
        Ok::<Value, Error>(json!({ "statusCode": 200, "body": sent.message_id }))
    }))
    .await
}
