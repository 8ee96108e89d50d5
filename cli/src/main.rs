//! `nami`: an operator's command line for Nami pipelines (see `nami --help`).

mod reconcile;
mod redrive;

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context as _;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::Credentials;
use clap::{Parser, Subcommand};
use nami_contract::limits::DEFAULT_DATABASE;
use nami_contract::naming::{Function, Part, log_group_name, object_name};
use nami_contract::vars;
use serde::Serialize;
use terraform_provider_nami::aws::{Clients, Endpoints};
use terraform_provider_nami::components::{alarms, dashboard, logs, queue};
use terraform_provider_nami::lookup::{FoundPipeline, find_pipeline, pipeline_queues};

/// Exit code of a command that failed (an AWS error, a pipeline not found).
const FAILED: u8 = 1;
// clap exits with 2 on bad usage.
/// Exit code of a reconcile that found accepted webhooks missing.
const MISSING: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "nami",
    version,
    about = "Operate Nami webhook pipelines: list them, look at one, follow its logs, move its dead \
             letters back, check that nothing accepted was lost.",
    after_help = "Credentials and region come from the usual AWS chain (environment, shared files, \
                  instance or container role). With --endpoint and no credentials set, an \
                  emulator's dummy keys are used.\n\nExit codes: 0 done, 1 failed (the error is \
                  printed), 2 bad usage, 3 reconcile found accepted webhooks missing."
)]
struct Cli {
    /// AWS region [env: AWS_REGION; default: us-east-1]
    #[arg(long, global = true)]
    region: Option<String>,
    /// One endpoint for every AWS service, e.g. an emulator [env: AWS_ENDPOINT_URL]
    #[arg(long, global = true)]
    endpoint: Option<String>,
    /// Print JSON instead of text
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every pipeline in the account and region: endpoint, queue and dead-letter queue depth
    List,
    /// One pipeline in detail: endpoint, queues, mapping, functions with their log groups and
    /// last errors
    Status {
        /// The pipeline's name
        name: String,
    },
    /// Move the dead-letter queue's messages back to the main queue
    Redrive {
        /// The pipeline's name
        name: String,
        /// Say how many would move; move nothing
        #[arg(long)]
        dry_run: bool,
        /// Move at most this many
        #[arg(long, value_name = "N")]
        max: Option<usize>,
    },
    /// Follow both functions' logs (their CloudWatch Logs groups) until interrupted
    Tail {
        /// The pipeline's name
        name: String,
        /// Start this far back: an RFC 3339 time or an age (90s, 30m, 6h, 2d) [default: now]
        #[arg(long)]
        since: Option<String>,
    },
    /// Accepted delivery ids (the pre-queue function's logs) against stored, waiting and
    /// dead-lettered ones; names the missing ones and exits 3 if any is certainly lost
    Reconcile {
        /// The pipeline's name
        name: String,
        /// From when: an RFC 3339 time (2026-12-03T10:00:00Z) or an age (90s, 30m, 6h, 2d)
        #[arg(long)]
        since: String,
        /// The store to read, instead of the connection string the post-queue function reads
        /// (needed for the managed store, which is in a private subnet)
        #[arg(long, value_name = "URI")]
        mongodb_uri: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli).await {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Missing) => ExitCode::from(MISSING),
        Err(error) => {
            eprintln!("nami: {error:#}");
            ExitCode::from(FAILED)
        }
    }
}

async fn sdk_config(cli: &Cli) -> SdkConfig {
    let region = (cli.region.clone())
        .or_else(|| std::env::var("AWS_REGION").ok())
        .unwrap_or_else(|| "us-east-1".into());
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region));
    let endpoint = (cli.endpoint.clone()).or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
            && std::env::var_os("AWS_PROFILE").is_none()
        {
            let dummy = Credentials::new("testing", "testing", None, None, "nami-cli");
            loader = loader.credentials_provider(dummy);
        }
    }
    loader.load().await
}

/// How a command that ran to its end came out.
enum Outcome {
    Done,
    /// Reconcile found accepted webhooks missing.
    Missing,
}

async fn run(cli: &Cli) -> anyhow::Result<Outcome> {
    let sdk = sdk_config(cli).await;
    let clients = Clients::new(&sdk, &Endpoints::default(), BTreeMap::new());
    match &cli.command {
        Command::List => list(&clients, cli.json).await?,
        Command::Status { name } => status(&clients, name, cli.json).await?,
        Command::Redrive { name, dry_run, max } => {
            let request = redrive::Request {
                max: *max,
                dry_run: *dry_run,
            };
            redrive(&clients, name, request, cli.json).await?;
        }
        Command::Tail { name, since } => {
            let now = chrono::Utc::now();
            let since = since
                .as_deref()
                .map_or(Ok(now), |text| parse_since(text, now))?;
            found(&clients, name).await?;
            tail(&clients, name, since).await?;
        }
        Command::Reconcile {
            name,
            since,
            mongodb_uri,
        } => {
            let since = parse_since(since, chrono::Utc::now())?;
            return reconcile(&clients, name, since, mongodb_uri.as_deref(), cli.json).await;
        }
    }
    Ok(Outcome::Done)
}

/// Prints both functions' log events from `since` on, as they arrive (polling every second).
async fn tail(
    clients: &Clients,
    name: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let mut from = Function::ALL.map(|_| since.timestamp_millis());
    // Events of the last millisecond already printed, per group (the next poll starts there).
    let mut printed: [std::collections::HashSet<String>; 2] = Default::default();
    loop {
        for (index, function) in Function::ALL.into_iter().enumerate() {
            let group = log_group_name(name, function);
            let mut next = None;
            loop {
                let page = clients
                    .logs
                    .filter_log_events()
                    .log_group_name(&group)
                    .start_time(from[index])
                    .set_next_token(next)
                    .send()
                    .await
                    .map_err(aws(format!("logs:FilterLogEvents on {group}")))?;
                for event in page.events.unwrap_or_default() {
                    let key = event.event_id.clone().unwrap_or_default();
                    let at = event.timestamp.unwrap_or(from[index]);
                    if at > from[index] {
                        from[index] = at;
                        printed[index].clear();
                    }
                    if printed[index].insert(key) {
                        let message = event.message.unwrap_or_default();
                        println!("{} {}", function.slug(), message.trim_end());
                    }
                }
                next = page.next_token;
                if next.is_none() {
                    break;
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// `--since`: an RFC 3339 time, or an age counted back from `now`.
fn parse_since(
    text: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&chrono::Utc));
    }
    let bad = || {
        anyhow::anyhow!(
            "--since {text:?} is neither an RFC 3339 time (2026-12-03T10:00:00Z) nor an age (90s, 30m, 6h, 2d)"
        )
    };
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (count, unit) = text.split_at(split);
    let count: i64 = count.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => count,
        "m" => count * 60,
        "h" => count * 3_600,
        "d" => count * 86_400,
        _ => return Err(bad()),
    };
    Ok(now - chrono::Duration::seconds(seconds))
}

/// The store's connection string, database and collection, as the post-queue function has them.
async fn store_of(
    clients: &Clients,
    found: &FoundPipeline,
    uri: Option<&str>,
) -> anyhow::Result<mongodb::Collection<mongodb::bson::Document>> {
    let post = (found.post_queue.as_ref()).context("the pipeline has no post-queue function")?;
    let var = |name: &str| post.environment.get(name).cloned();
    let uri = match (
        uri,
        var(vars::MONGODB_URI_SECRET_ARN),
        var(vars::MONGODB_PASSWORD_SECRET_ARN),
    ) {
        (Some(uri), _, _) => uri.to_owned(),
        (None, _, Some(_)) => anyhow::bail!(
            "the managed store is in a private subnet: pass --mongodb-uri (e.g. through an SSM port forward)"
        ),
        (None, Some(arn), None) => {
            terraform_provider_nami::components::secret::user_value(clients, &arn)
                .await
                .context("reading the store's connection string")?
        }
        (None, None, None) => {
            var(vars::MONGODB_URI).context("the post-queue function names no store")?
        }
    };
    let client = mongodb::Client::with_uri_str(&uri)
        .await
        .context("the store's connection string")?;
    let database = var(vars::MONGODB_DATABASE).unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
    let collection = var(vars::MONGODB_COLLECTION).unwrap_or_else(|| found.name.clone());
    Ok(client.database(&database).collection(&collection))
}

async fn reconcile(
    clients: &Clients,
    name: &str,
    since: chrono::DateTime<chrono::Utc>,
    mongodb_uri: Option<&str>,
    json: bool,
) -> anyhow::Result<Outcome> {
    let found = found(clients, name).await?;
    let group = log_group_name(name, Function::PreQueue);
    let accepted = reconcile::accepted(&clients.logs, &group, since.timestamp_millis()).await?;
    let collection = store_of(clients, &found, mongodb_uri).await?;
    let stored = reconcile::stored(&collection, &accepted).await?;
    let dead = match &found.dlq {
        Some(dlq) => reconcile::dead_lettered(&clients.sqs, &dlq.ids.url).await?,
        None => Default::default(),
    };
    let waiting = match &found.queue {
        Some(queue) => queue::depth(clients, &queue.ids.url).await?,
        None => 0,
    };
    let result = reconcile::reconcile(&accepted, &stored, &dead, waiting);
    if json {
        print_json(&result)?;
    } else {
        println!(
            "since {}: accepted {}, stored {}, dead-lettered {}, waiting in the queue {}, missing {}",
            since.to_rfc3339(),
            result.accepted,
            result.stored,
            result.dead_lettered,
            result.waiting,
            result.missing.len()
        );
        for id in &result.missing {
            println!("missing {id}");
        }
        if !result.missing.is_empty() && !result.lost_any() {
            println!(
                "the queue still holds {} messages: run again once it drains",
                result.waiting
            );
        }
    }
    Ok(if result.lost_any() {
        Outcome::Missing
    } else {
        Outcome::Done
    })
}

/// An AWS SDK error of `operation` as one readable sentence (the error and its causes).
fn aws<E: std::error::Error>(operation: impl std::fmt::Display) -> impl FnOnce(E) -> anyhow::Error {
    move |error| {
        anyhow::anyhow!(
            "{operation}: {}",
            aws_sdk_sqs::error::DisplayErrorContext(error)
        )
    }
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// One line of `nami list`.
#[derive(Debug, Serialize)]
struct Listed {
    name: String,
    endpoint_url: Option<String>,
    queue_depth: i64,
    dlq_depth: Option<i64>,
    /// From CloudWatch: `None` without a recent value.
    oldest_message_age_seconds: Option<i64>,
    /// Each alarm's state by what it watches; empty: the pipeline has no alarms.
    alarm_states: BTreeMap<String, String>,
}

async fn list(clients: &Clients, json: bool) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for listed in pipeline_queues(clients).await? {
        let found = find_pipeline(clients, &listed.name).await?;
        let dlq_depth = match &listed.dlq_url {
            Some(url) => Some(queue::depth(clients, url).await?),
            None => None,
        };
        let queue_name = object_name(&listed.name, Part::Main);
        rows.push(Listed {
            endpoint_url: found.and_then(|found| found.endpoint_url(clients)),
            queue_depth: queue::depth(clients, &listed.queue_url).await?,
            dlq_depth,
            oldest_message_age_seconds: queue::oldest_message_age(clients, &queue_name).await?,
            alarm_states: alarms::states(clients, &listed.name).await?,
            name: listed.name,
        });
    }
    if json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        println!("no pipelines");
        return Ok(());
    }
    println!(
        "{:<24} {:>7} {:>7} {:>8}  {:<16}  ENDPOINT",
        "NAME", "QUEUE", "DLQ", "OLDEST", "ALARMS"
    );
    for row in &rows {
        let dlq = row.dlq_depth.map_or("-".to_owned(), |d| d.to_string());
        let oldest = row
            .oldest_message_age_seconds
            .map_or("-".to_owned(), |s| format!("{s} s"));
        let endpoint = row.endpoint_url.as_deref().unwrap_or("(not deployed)");
        println!(
            "{:<24} {:>7} {:>7} {oldest:>8}  {:<16}  {endpoint}",
            row.name,
            row.queue_depth,
            dlq,
            alarm_summary(&row.alarm_states)
        );
    }
    Ok(())
}

/// The alarms in one word: `none`, `ok`, or those firing (`ALARM: dead_letters`).
fn alarm_summary(states: &BTreeMap<String, String>) -> String {
    if states.is_empty() {
        return "none".to_owned();
    }
    let firing: Vec<&str> = (states.iter())
        .filter(|(_, state)| *state == "ALARM")
        .map(|(key, _)| key.as_str())
        .collect();
    if firing.is_empty() {
        "ok".to_owned()
    } else {
        format!("ALARM: {}", firing.join(","))
    }
}

/// `nami status`, as JSON.
#[derive(Debug, Serialize)]
struct Status {
    name: String,
    endpoint_url: Option<String>,
    queue_url: Option<String>,
    queue_depth: Option<i64>,
    dlq_url: Option<String>,
    dlq_depth: Option<i64>,
    oldest_message_age_seconds: Option<i64>,
    alarm_states: BTreeMap<String, String>,
    /// The dashboard's page in the CloudWatch console, when it exists.
    dashboard_url: Option<String>,
    mapping: Option<MappingStatus>,
    functions: Vec<FunctionStatus>,
}

#[derive(Debug, Serialize)]
struct MappingStatus {
    enabled: bool,
    batch_size: i32,
    batching_window_seconds: i32,
    max_concurrency: i32,
}

#[derive(Debug, Serialize)]
struct FunctionStatus {
    name: String,
    memory_mb: i32,
    timeout_seconds: i32,
    log_group: String,
    /// Days the log group keeps events; `None`: forever, or no group.
    log_retention_days: Option<i64>,
    log_group_exists: bool,
    /// Its last error lines of the past day, oldest first (at most [`LAST_ERRORS`]).
    last_errors: Vec<String>,
}

/// How many of a function's last error lines `nami status` shows.
const LAST_ERRORS: usize = 5;

/// The last error lines (`"level":"ERROR"`) of `group` in the past day, oldest first.
async fn last_errors(clients: &Clients, group: &str) -> anyhow::Result<Vec<String>> {
    let since = chrono::Utc::now() - chrono::Duration::days(1);
    let mut errors = std::collections::VecDeque::new();
    let mut next = None;
    loop {
        // A quoted term narrows the scan; the level is checked here.
        let page = clients
            .logs
            .filter_log_events()
            .log_group_name(group)
            .start_time(since.timestamp_millis())
            .filter_pattern("\"ERROR\"")
            .set_next_token(next)
            .send()
            .await
            .map_err(aws(format!("logs:FilterLogEvents on {group}")))?;
        for event in page.events.unwrap_or_default() {
            let message = event.message.unwrap_or_default();
            if message.contains("\"level\":\"ERROR\"") {
                errors.push_back(message.trim_end().to_owned());
                if errors.len() > LAST_ERRORS {
                    errors.pop_front();
                }
            }
        }
        next = page.next_token;
        if next.is_none() {
            return Ok(errors.into());
        }
    }
}

async fn found(clients: &Clients, name: &str) -> anyhow::Result<FoundPipeline> {
    find_pipeline(clients, name)
        .await?
        .with_context(|| format!("no pipeline named {name:?} in this account and region"))
}

async fn status(clients: &Clients, name: &str, json: bool) -> anyhow::Result<()> {
    let found = found(clients, name).await?;
    let depth = async |facts: &Option<queue::QueueFacts>| match facts {
        Some(facts) => queue::depth(clients, &facts.ids.url).await.map(Some),
        None => Ok(None),
    };
    let mut functions = Vec::new();
    for (function, facts) in [
        (Function::PreQueue, Some(&found.pre_queue)),
        (Function::PostQueue, found.post_queue.as_ref()),
    ] {
        let Some(facts) = facts else { continue };
        let group = log_group_name(name, function);
        let live = logs::find(clients, &group).await?;
        let last_errors = match &live {
            Some(_) => last_errors(clients, &group).await?,
            None => Vec::new(),
        };
        functions.push(FunctionStatus {
            last_errors,
            name: facts.arn.rsplit(':').next().unwrap_or_default().to_owned(),
            memory_mb: facts.memory_size,
            timeout_seconds: facts.timeout,
            log_retention_days: live.as_ref().and_then(|g| g.retention_days),
            log_group_exists: live.is_some(),
            log_group: group,
        });
    }
    let status = Status {
        name: name.to_owned(),
        endpoint_url: found.endpoint_url(clients),
        queue_url: found.queue.as_ref().map(|q| q.ids.url.clone()),
        queue_depth: depth(&found.queue).await?,
        dlq_url: found.dlq.as_ref().map(|q| q.ids.url.clone()),
        dlq_depth: depth(&found.dlq).await?,
        oldest_message_age_seconds: match &found.queue {
            Some(_) => queue::oldest_message_age(clients, &object_name(name, Part::Main)).await?,
            None => None,
        },
        alarm_states: alarms::states(clients, name).await?,
        dashboard_url: (dashboard::find(clients, name).await?)
            .map(|_| dashboard::url(&clients.region, name)),
        mapping: found.mapping.as_ref().map(|m| MappingStatus {
            enabled: m.enabled,
            batch_size: m.settings.batch_size,
            batching_window_seconds: m.settings.batching_window_seconds,
            max_concurrency: m.settings.max_concurrency,
        }),
        functions,
    };
    if json {
        return print_json(&status);
    }
    let or_none = |value: &Option<String>| value.clone().unwrap_or_else(|| "(none)".into());
    let count = |value: Option<i64>| value.map_or("-".to_owned(), |v| v.to_string());
    println!("pipeline  {}", status.name);
    println!("endpoint  {}", or_none(&status.endpoint_url));
    println!(
        "queue     {} messages  {}",
        count(status.queue_depth),
        or_none(&status.queue_url)
    );
    println!(
        "DLQ       {} messages  {}",
        count(status.dlq_depth),
        or_none(&status.dlq_url)
    );
    if let Some(seconds) = status.oldest_message_age_seconds {
        println!("oldest    {seconds} s (the queue's oldest message, from CloudWatch)");
    }
    if status.alarm_states.is_empty() {
        println!("alarms    none");
    }
    for (alarm, state) in &status.alarm_states {
        println!("alarm     {alarm} {state}");
    }
    if let Some(url) = &status.dashboard_url {
        println!("dashboard {url}");
    }
    match &status.mapping {
        Some(m) => println!(
            "mapping   {}  batch {}, window {} s, at most {} at once",
            if m.enabled { "enabled" } else { "DISABLED" },
            m.batch_size,
            m.batching_window_seconds,
            m.max_concurrency
        ),
        None => println!("mapping   (none: nothing stores the queue's messages)"),
    }
    for function in &status.functions {
        let logs = match (function.log_group_exists, function.log_retention_days) {
            (false, _) => "MISSING (its logs are lost)".to_owned(),
            (true, Some(days)) => format!("kept {days} days"),
            (true, None) => "kept forever".to_owned(),
        };
        println!(
            "function  {}  {} MB, {} s; logs {} {logs}",
            function.name, function.memory_mb, function.timeout_seconds, function.log_group
        );
        for line in &function.last_errors {
            println!("          last error: {line}");
        }
    }
    if status.dlq_depth.unwrap_or(0) > 0 {
        println!(
            "\nThe dead-letter queue holds messages: once their cause is fixed, `nami redrive {}` moves them back.",
            status.name
        );
    }
    Ok(())
}

async fn redrive(
    clients: &Clients,
    name: &str,
    request: redrive::Request,
    json: bool,
) -> anyhow::Result<()> {
    let found = found(clients, name).await?;
    let (Some(queue), Some(dlq)) = (&found.queue, &found.dlq) else {
        anyhow::bail!("pipeline {name:?} has no queue or no dead-letter queue");
    };
    let queues = redrive::Queues {
        queue_url: queue.ids.url.clone(),
        queue_arn: queue.ids.arn.clone(),
        dlq_url: dlq.ids.url.clone(),
        dlq_arn: dlq.ids.arn.clone(),
    };
    let progress = |line: &str| {
        if !json {
            eprintln!("nami redrive {name}: {line}");
        }
    };
    let report = redrive::redrive(&clients.sqs, &queues, request, progress).await?;
    if json {
        return print_json(&report);
    }
    if request.dry_run {
        println!(
            "would move {} of the {} messages in the dead-letter queue (dry run: nothing moved)",
            report.moved, report.remaining
        );
    } else {
        println!(
            "moved {} messages to the main queue ({}); {} left in the dead-letter queue",
            report.moved, report.method, report.remaining
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_time_or_an_age() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-04T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let at = |text| parse_since(text, now).map(|t| t.to_rfc3339());
        assert_eq!(
            at("2026-12-03T10:00:00Z").unwrap(),
            "2026-12-03T10:00:00+00:00"
        );
        assert_eq!(at("30m").unwrap(), "2026-12-04T11:30:00+00:00");
        assert_eq!(at("2d").unwrap(), "2026-12-02T12:00:00+00:00");
        for bad in ["", "m", "yesterday", "5w"] {
            let error = at(bad).unwrap_err().to_string();
            assert!(error.contains("neither an RFC 3339 time"), "{error}");
        }
    }
}
