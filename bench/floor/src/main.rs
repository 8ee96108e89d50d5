//! `nami-bench-floor`: the references `make bench` sets beside Nami's functions, as a plain
//! release binary with the same SDK and driver the functions use. Each run prints one JSON object.
//!
//! - `sqs-raw URL QUEUE_URL BODY_FILE COUNT`: SendMessage as a bare HTTP POST in SQS's JSON
//!   protocol over one keep-alive connection, no SDK (unsigned: the emulator does not check
//!   signatures) — the floor of the ack path. Prints each call's latency in µs.
//! - `sqs-sdk URL QUEUE_URL BODY_FILE COUNT`: the same SendMessage through `aws-sdk-sqs`.
//! - `insert-many URI DATABASE COLLECTION DOCUMENTS_FILE BATCH`: the documents (a BSON stream,
//!   already serialized) in unordered `insert_many` calls of BATCH, with the durable write concern
//!   the post-queue function uses — the store's limit. Prints the elapsed µs.
//! - `insert-one URI DATABASE COLLECTION DOCUMENTS_FILE`: one `insert_one` per document, as the
//!   original Node implementation wrote them.

use std::time::Instant;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use mongodb::bson::RawDocumentBuf;
use mongodb::options::{Acknowledgment, WriteConcern};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |n: usize| -> anyhow::Result<&str> {
        args.get(n).map(String::as_str).with_context(|| {
            format!(
                "argument {} is missing; see the doc comment of bench/floor/src/main.rs",
                n + 1
            )
        })
    };
    let output = match arg(0)? {
        "sqs-raw" => {
            let body = std::fs::read_to_string(arg(3)?)?;
            json!({ "latencies_us": sqs_raw(arg(1)?, arg(2)?, &body, arg(4)?.parse()?).await? })
        }
        "sqs-sdk" => {
            let body = std::fs::read_to_string(arg(3)?)?;
            json!({ "latencies_us": sqs_sdk(arg(1)?, arg(2)?, &body, arg(4)?.parse()?).await? })
        }
        "insert-many" => {
            let documents = read_documents(arg(4)?)?;
            let batch: usize = arg(5)?.parse()?;
            json!({ "elapsed_us": insert(arg(1)?, arg(2)?, arg(3)?, documents, Some(batch)).await? })
        }
        "insert-one" => {
            let documents = read_documents(arg(4)?)?;
            json!({ "elapsed_us": insert(arg(1)?, arg(2)?, arg(3)?, documents, None).await? })
        }
        other => bail!("unknown reference {other:?}: sqs-raw, sqs-sdk, insert-many or insert-one"),
    };
    println!("{output}");
    Ok(())
}

fn micros(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

async fn sqs_raw(
    endpoint: &str,
    queue_url: &str,
    body: &str,
    count: usize,
) -> anyhow::Result<Vec<u64>> {
    let uri: http::Uri = endpoint.parse()?;
    let authority = uri
        .authority()
        .context("the endpoint has no host:port")?
        .to_string();
    let payload = Bytes::from(json!({ "QueueUrl": queue_url, "MessageBody": body }).to_string());
    let mut latencies = Vec::with_capacity(count);
    let mut connection: Option<SendRequest<Full<Bytes>>> = None;
    for _ in 0..count {
        let started = Instant::now();
        // Kept alive while the server keeps it, as the SDK's pool does; else a new one, timed.
        let sender = match connection.take().filter(|sender| !sender.is_closed()) {
            Some(sender) => connection.insert(sender),
            None => connection.insert(connect(&authority).await?),
        };
        sender.ready().await?;
        let request = http::Request::post("/")
            .header(http::header::HOST, &authority)
            .header(http::header::CONTENT_TYPE, "application/x-amz-json-1.0")
            .header("x-amz-target", "AmazonSQS.SendMessage")
            .body(Full::new(payload.clone()))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let answer = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            bail!(
                "SendMessage answered {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        latencies.push(micros(started));
    }
    Ok(latencies)
}

/// An HTTP/1.1 connection to `authority`.
async fn connect(authority: &str) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(authority).await?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn sqs_sdk(
    endpoint: &str,
    queue_url: &str,
    body: &str,
    count: usize,
) -> anyhow::Result<Vec<u64>> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .load()
        .await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        sqs.send_message()
            .queue_url(queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(aws_sdk_sqs::Error::from)?;
        latencies.push(micros(started));
    }
    Ok(latencies)
}

/// A file of concatenated BSON documents, each as it will go on the wire.
fn read_documents(path: &str) -> anyhow::Result<Vec<RawDocumentBuf>> {
    let bytes = std::fs::read(path)?;
    let mut documents = Vec::new();
    let mut rest = &bytes[..];
    while rest.len() >= 4 {
        let length = usize::try_from(u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]))?;
        let (document, tail) = rest.split_at(length);
        documents.push(RawDocumentBuf::from_bytes(document.to_vec())?);
        rest = tail;
    }
    Ok(documents)
}

async fn insert(
    uri: &str,
    database: &str,
    collection: &str,
    documents: Vec<RawDocumentBuf>,
    batch: Option<usize>,
) -> anyhow::Result<u64> {
    let client = mongodb::Client::with_uri_str(uri).await?;
    let collection = client
        .database(database)
        .collection::<RawDocumentBuf>(collection);
    let durable = WriteConcern::builder()
        .w(Acknowledgment::Majority)
        .journal(true)
        .build();
    // Connected before the clock starts, as a warm function is.
    client
        .database(database)
        .run_command(mongodb::bson::doc! { "ping": 1 })
        .await?;
    let started = Instant::now();
    match batch {
        Some(size) => {
            for chunk in documents.chunks(size.max(1)) {
                // Duplicates are expected (redeliveries): an unordered insert stores the rest.
                let result = collection
                    .insert_many(chunk)
                    .ordered(false)
                    .write_concern(durable.clone())
                    .await;
                only_duplicates(result.map(drop))?;
            }
        }
        None => {
            for document in &documents {
                let result = collection
                    .insert_one(document)
                    .write_concern(durable.clone())
                    .await;
                only_duplicates(result.map(drop))?;
            }
        }
    }
    Ok(micros(started))
}

/// Success, or a failure whose every write error is a duplicate key (a redelivery).
fn only_duplicates(result: mongodb::error::Result<()>) -> anyhow::Result<()> {
    use mongodb::error::{ErrorKind, WriteFailure};
    let Err(error) = result else { return Ok(()) };
    let duplicate = |code: i32| code == 11000;
    let only = match error.kind.as_ref() {
        ErrorKind::InsertMany(e) => {
            e.write_concern_error.is_none()
                && e.write_errors.iter().flatten().all(|w| duplicate(w.code))
        }
        ErrorKind::Write(WriteFailure::WriteError(w)) => duplicate(w.code),
        _ => false,
    };
    if only { Ok(()) } else { Err(error.into()) }
}
