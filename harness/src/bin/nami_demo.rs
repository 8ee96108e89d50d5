//! `nami-demo` (`make demo`): the whole product on this machine, with no AWS account and no
//! Docker. Starts the emulators, deploys `examples/basic` with the real Terraform CLI, runs the
//! pipeline's real Lambda artifacts with `nami-local`, sends a burst of signed webhooks, waits
//! for the queue to drain, reports what happened, shows one stored document, destroys the
//! pipeline, proves nothing is left, and stops the emulators.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use mongodb::bson::{Bson, Document};
use nami_harness::aws::queue_depth;
use nami_harness::local::NamiLocal;
use nami_harness::terraform::Terraform;
use nami_harness::webhooks::{Burst, quantile, send_all};
use nami_harness::{Mongo, Moto, workspace_root};

/// The example's pipeline name and signing secret (examples/basic/main.tf).
const PIPELINE: &str = "github-events";
const SECRET: &str = "local-demo-secret";
/// The burst: unique deliveries, redeliveries, forged ones (plus one form post, one binary).
const UNIQUE: usize = 3000;
const DUPLICATES: usize = 300;
const BAD_SIGNATURES: usize = 60;
const CONNECTIONS: usize = 32;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

fn step(text: &str) {
    println!("\n==> {text}");
}

/// A status line: redrawn in place on a terminal, otherwise printed every few seconds.
struct Status {
    terminal: bool,
    last: Instant,
}

impl Status {
    fn new() -> Self {
        Status {
            terminal: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            last: Instant::now() - Duration::from_secs(60),
        }
    }

    fn show(&mut self, line: &str, last: bool) {
        let every = if self.terminal { 100 } else { 3000 };
        if !last && self.last.elapsed() < Duration::from_millis(every) {
            return;
        }
        self.last = Instant::now();
        match (self.terminal, last) {
            (true, false) => eprint!("\r  {line}   "),
            (true, true) => eprintln!("\r  {line}   "),
            (false, _) => eprintln!("  {line}"),
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let started = Instant::now();
    match run().await {
        Ok(()) => {
            println!(
                "\nmake demo: done in {:.0} s.",
                started.elapsed().as_secs_f64()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("\nmake demo FAILED: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    step("Starting the emulators (moto for AWS, SecantusDB for MongoDB)");
    let moto = Moto::start().context("starting moto")?;
    let mongo = Mongo::start().context("starting SecantusDB")?;
    println!("moto      {}", moto.endpoint());
    println!("MongoDB   {}", mongo.uri());

    step("terraform apply of examples/basic (the provider from the project's mirror)");
    let work = workspace_root().join("target/demo");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    std::fs::copy(
        workspace_root().join("examples/basic/main.tf"),
        work.join("main.tf"),
    )
    .context("copying examples/basic/main.tf")?;
    let terraform = Terraform::at(work.clone(), &moto.endpoint());
    let variables = [
        format!("-var=endpoint={}", moto.endpoint()),
        format!("-var=mongodb_uri={}", mongo.uri()),
    ];
    let terraform_run = |args: &[&str]| -> anyhow::Result<String> {
        let mut all: Vec<&str> = args.to_vec();
        if matches!(args[0], "apply" | "destroy") {
            all.extend(variables.iter().map(String::as_str));
        }
        let output = terraform.run(&all);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        ensure!(
            output.status.success(),
            "terraform {} failed:\n{stdout}{}",
            args[0],
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(stdout)
    };
    terraform_run(&["init", "-no-color"])?;
    let applied = Instant::now();
    let apply = terraform_run(&["apply", "-auto-approve", "-no-color"])?;
    for line in apply.lines().filter(|l| {
        l.contains("Apply complete") || l.contains(" = ") && !l.trim_start().starts_with('+')
    }) {
        println!("{line}");
    }
    println!("(applied in {:.1} s)", applied.elapsed().as_secs_f64());

    let result = exercise(&moto, &mongo, &terraform_run, &work).await;

    step("terraform destroy");
    let destroyed = terraform_run(&["destroy", "-auto-approve", "-no-color"]);
    if let Ok(out) = &destroyed {
        if let Some(line) = out.lines().find(|l| l.contains("Destroy complete")) {
            println!("{line}");
        }
    }
    let leftovers = nami_harness::aws::leftovers(&nami_harness::aws::sdk(&moto).await).await;
    result?;
    destroyed?;
    step("What is left in the emulator");
    let volumes: Vec<&String> = leftovers
        .iter()
        .filter(|l| l.starts_with("volume "))
        .collect();
    ensure!(
        leftovers.len() == volumes.len(),
        "objects left behind after destroy: {leftovers:?}"
    );
    if volumes.is_empty() {
        println!(
            "nothing named nami-*: no queue, function, mapping, role, REST API, secret, instance, VPC or security group (this example's store is external, so there is no retained data volume)"
        );
    } else {
        println!("only the retained data volume(s): {volumes:?}");
    }

    step("Stopping the emulators");
    drop(mongo);
    drop(moto);
    println!("stopped");
    Ok(())
}

/// Runs the data plane, the burst, the drain and the report.
async fn exercise(
    moto: &Moto,
    mongo: &Mongo,
    terraform_run: &dyn Fn(&[&str]) -> anyhow::Result<String>,
    work: &Path,
) -> anyhow::Result<()> {
    step("nami-local: the pipeline's real bootstrap binaries behind a local Lambda runtime");
    let outputs = work.join("outputs.json");
    std::fs::write(&outputs, terraform_run(&["output", "-json"])?)?;
    let mut data_plane = NamiLocal::for_terraform_output(
        &outputs,
        &moto.endpoint(),
        &workspace_root().join("target/nami-local"),
        work,
    )?;
    print!("{}", data_plane.output());
    let url = data_plane.ingress_url.clone();

    let burst = Burst::github(SECRET, "delivery", UNIQUE, DUPLICATES, BAD_SIGNATURES, true);
    step(&format!(
        "A burst of {} webhooks over {CONNECTIONS} connections ({} unique incl. one form post and one binary, {} redeliveries, {} with bad signatures)",
        burst.webhooks.len(),
        burst.valid_ids.len(),
        burst.duplicates,
        burst.bad_signatures
    ));
    let total = burst.webhooks.len();
    let status = Arc::new(Mutex::new(Status::new()));
    let progress = move |done: usize| {
        let filled = done * 40 / total.max(1);
        let line = format!(
            "[{}{}] {done}/{total}",
            "#".repeat(filled),
            ".".repeat(40 - filled)
        );
        status.lock().expect("status").show(&line, done == total);
    };
    let burst_started = Instant::now();
    let answers = send_all(&url, &burst.webhooks, CONNECTIONS, progress).await;
    let burst_time = burst_started.elapsed();
    let accepted: Vec<_> = answers.iter().filter(|a| a.status == 200).collect();
    let unauthorized = answers.iter().filter(|a| a.status == 401).count();
    let other: Vec<u16> = answers
        .iter()
        .filter(|a| a.status != 200 && a.status != 401)
        .map(|a| a.status)
        .collect();
    let latencies: Vec<Duration> = accepted.iter().map(|a| a.latency).collect();
    println!(
        "sent in {:.1} s ({:.0} requests/s)",
        burst_time.as_secs_f64(),
        total as f64 / burst_time.as_secs_f64()
    );

    step("Waiting for the queue to drain into MongoDB");
    let sdk = nami_harness::aws::sdk(moto).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let pipeline = nami_dataplane::discover(&sdk, PIPELINE).await?;
    let client = mongodb::Client::with_uri_str(mongo.uri()).await?;
    let collection = client.database("nami").collection::<Document>(PIPELINE);
    let drain_started = Instant::now();
    let mut status = Status::new();
    let (stored, in_dlq) = loop {
        let waiting = queue_depth(&sqs, &pipeline.queue.url).await?;
        let in_dlq = match &pipeline.dead_letter_queue {
            Some(dlq) => queue_depth(&sqs, &dlq.url).await?,
            None => 0,
        };
        let stored = collection.count_documents(Document::new()).await?;
        let line = format!("queued {waiting:>5}   stored {stored:>5}   in the DLQ {in_dlq:>3}");
        let drained = waiting == 0;
        status.show(&line, drained || drain_started.elapsed() > DRAIN_TIMEOUT);
        if drained {
            break (stored, in_dlq);
        }
        if drain_started.elapsed() > DRAIN_TIMEOUT {
            bail!(
                "the queue did not drain within {DRAIN_TIMEOUT:?} ({waiting} messages left); see the logs under {}",
                data_plane.logs
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let drained = burst_started.elapsed();
    let local_summary = data_plane
        .stop()?
        .lines()
        .find(|l| l.starts_with("nami-local: stopped"))
        .map(str::to_owned);

    step("Summary");
    let unique_accepted: std::collections::HashSet<&str> = accepted
        .iter()
        .map(|a| burst.webhooks[a.index].delivery_id.as_str())
        .collect();
    println!("webhooks sent           {total}");
    println!(
        "accepted (200)          {}  ({} unique deliveries)",
        accepted.len(),
        unique_accepted.len()
    );
    println!("rejected (401)          {unauthorized}");
    if !other.is_empty() {
        println!("other answers           {other:?}");
    }
    println!("stored in MongoDB       {stored}");
    println!(
        "duplicates squashed     {}",
        (accepted.len() as u64).saturating_sub(stored + in_dlq)
    );
    println!("in the DLQ              {in_dlq}");
    println!(
        "ack latency             p50 {:.1} ms   p99 {:.1} ms",
        ms(quantile(&latencies, 0.5)),
        ms(quantile(&latencies, 0.99))
    );
    println!(
        "drain                   {:.0} documents/s ({stored} stored {:.1} s after the first request)",
        stored as f64 / drained.as_secs_f64(),
        drained.as_secs_f64()
    );
    if let Some(line) = local_summary {
        println!("{line}");
    }

    let expected: std::collections::HashSet<&str> =
        burst.valid_ids.iter().map(String::as_str).collect();
    ensure!(
        unique_accepted == expected,
        "not every validly signed delivery was accepted"
    );
    ensure!(
        unauthorized == burst.bad_signatures,
        "{unauthorized} rejections for {} forged requests",
        burst.bad_signatures
    );
    ensure!(
        stored + in_dlq == unique_accepted.len() as u64,
        "{stored} stored + {in_dlq} in the DLQ ≠ {} accepted deliveries: something was lost or stored twice",
        unique_accepted.len()
    );
    println!("every accepted delivery is stored or in the DLQ, once: nothing lost");

    let binary = collection
        .find_one(mongodb::bson::doc! {"_id": "delivery-binary"})
        .await?
        .context("the binary delivery is not in the store")?;
    let body = binary.get_document("body")?;
    let sent = burst
        .webhooks
        .iter()
        .find(|w| w.delivery_id == "delivery-binary")
        .map(|w| w.body.clone())
        .unwrap_or_default();
    use base64::Engine as _;
    let stored_bytes = base64::engine::general_purpose::STANDARD.decode(body.get_str("raw")?)?;
    ensure!(
        body.get_str("encoding")? == "base64" && stored_bytes == sent,
        "the binary delivery was not stored byte-exact"
    );
    println!(
        "the binary delivery ({} bytes, not UTF-8) is stored byte-exact",
        sent.len()
    );

    step("One stored document (the form post)");
    let document = collection
        .find_one(mongodb::bson::doc! {"_id": "delivery-form"})
        .await?
        .context("the form post is not in the store")?;
    let shown = Bson::Document(document).into_relaxed_extjson();
    println!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
