//! docs/benchmarks.md: the provenance of a run, its headline ratios against their targets, and one
//! section per measurement, with SVG charts under docs/benchmarks/.

use std::fmt::Write as _;
use std::process::Command;

use anyhow::Context as _;
use nami_harness::{venv_bin, workspace_root};
use serde_json::{Value, json};

use crate::Plan;
use crate::plot::{self, Line};
use crate::stats::Spread;

/// 6. The size of each `bootstrap.zip` (and of the hello-world floor's).
pub(crate) fn artifacts() -> anyhow::Result<Value> {
    let mut rows = Vec::new();
    for name in ["pre-queue", "post-queue", "hello-world"] {
        let path = workspace_root()
            .join("target/lambda")
            .join(name)
            .join("bootstrap.zip");
        let zip = std::fs::metadata(&path)
            .with_context(|| format!("{} is missing", path.display()))?
            .len();
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&path)?)?;
        let unpacked = archive.by_name("bootstrap")?.size();
        rows.push(json!({ "function": name, "zip_bytes": zip, "bootstrap_bytes": unpacked }));
    }
    let profile = std::fs::read_to_string(workspace_root().join("Cargo.toml"))?
        .split("[profile.lambda-release]")
        .nth(1)
        .map(|rest| {
            rest.lines()
                .skip(1)
                .take_while(|l| !l.starts_with('['))
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    Ok(json!({ "artifacts": rows, "release_profile": profile }))
}

/// The moto comparison `make bench` has always made (tools/bench_moto_sqs.py), its lines kept.
pub(crate) fn moto_sqs(quick: bool) -> anyhow::Result<Value> {
    let mut command = Command::new(venv_bin("python"));
    command.arg(workspace_root().join("tools/bench_moto_sqs.py"));
    if quick {
        command.arg("500");
    }
    let output = command
        .output()
        .context("running tools/bench_moto_sqs.py")?;
    anyhow::ensure!(
        output.status.success(),
        "tools/bench_moto_sqs.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(json!({ "lines": String::from_utf8_lossy(&output.stdout).lines().collect::<Vec<_>>() }))
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

/// Machine, versions, commit and date of this run, as one paragraph.
pub(crate) fn provenance(plan: &Plan) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024 / 1024);
    let commit = command_line(
        "git",
        &[
            "-C",
            &workspace_root().to_string_lossy(),
            "rev-parse",
            "--short",
            "HEAD",
        ],
    );
    let dirty = !command_line(
        "git",
        &[
            "-C",
            &workspace_root().to_string_lossy(),
            "status",
            "--porcelain",
            "--untracked-files=no",
        ],
    )
    .is_empty();
    let pip = |package: &str| {
        command_line(
            &venv_bin("python").to_string_lossy(),
            &[
                "-c",
                &format!("import importlib.metadata as m; print(m.version('{package}'))"),
            ],
        )
    };
    format!(
        "Run of {} at commit `{commit}`{} on {cores} cores ({cpu}), {memory} GiB, {}{}. Versions: {}, Node.js {}, \
         moto {}, SecantusDB {}, {}.",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        if dirty {
            " (with uncommitted changes)"
        } else {
            ""
        },
        if plan.quick {
            "`make bench QUICK=1` (fewer rounds and samples)"
        } else {
            "`make bench`"
        },
        "",
        command_line("rustc", &["--version"]),
        command_line("node", &["--version"]).trim_start_matches('v'),
        pip("moto"),
        pip("secantusdb"),
        command_line(
            &workspace_root().join("tools/terraform").to_string_lossy(),
            &["version"]
        ),
    )
}

fn spread(value: &Value) -> Spread {
    Spread::from_json(value)
}

fn check(met: bool) -> &'static str {
    if met { "met" } else { "**not met**" }
}

/// Renders docs/benchmarks.md and its charts from `results`.
pub(crate) fn write(results: &Value, provenance: &str) -> anyhow::Result<()> {
    let docs = workspace_root().join("docs");
    let charts = docs.join("benchmarks");
    std::fs::create_dir_all(&charts)?;
    let mut text = String::new();
    let _ = writeln!(text, "# Benchmarks\n");
    let _ = writeln!(
        text,
        "Written by `make bench` (do not edit). Every figure stands beside its limit or a peer measured in the same run on the \
         same machine — these machines are shared and noisy: absolute times drift, ratios hold. A figure over rounds is \
         the median with the range of the rounds in brackets. Nothing in `make test` asserts a speed.\n"
    );
    let _ = writeln!(text, "{provenance}\n");
    headline(&mut text, results);
    ack(&mut text, &results["ack"]);
    drain(&mut text, &results["drain"], &charts)?;
    burst(&mut text, &results["burst"]);
    cold_start(&mut text, &results["cold_start"], &charts)?;
    memory(&mut text, &results["memory"], &charts)?;
    artifacts_section(&mut text, &results["artifacts"]);
    provider(&mut text, &results["provider"]);
    let _ = writeln!(
        text,
        "## 8. Cost\n\nSee [cost.md](cost.md): a month of webhooks at 1, 10 and 100 million, from AWS's prices and this run's figures.\n"
    );
    if let Some(lines) = results["moto_sqs"]["lines"].as_array() {
        let _ = writeln!(
            text,
            "## The emulator: moto's SQS as shipped vs through tools/moto_server.py\n\n```"
        );
        for line in lines {
            let _ = writeln!(text, "{}", line.as_str().unwrap_or_default());
        }
        let _ = writeln!(text, "```\n");
    }
    std::fs::write(docs.join("benchmarks.md"), text)?;
    Ok(())
}

fn headline(text: &mut String, results: &Value) {
    let _ = writeln!(
        text,
        "## Headline\n\n| figure | measured | target | |\n| --- | --- | --- | --- |"
    );
    let ack = &results["ack"];
    if ack.is_object() {
        let ratio = spread(&ack["function_over_raw"]);
        let _ = writeln!(
            text,
            "| ack p50: pre-queue function ÷ raw HTTP SendMessage | {}× (a function only sending the message: {}×) | ≤ 1.1× | {} |",
            ratio.show(2),
            spread(&ack["send_only_over_raw"]).show(2),
            check(ratio.median <= 1.1)
        );
    }
    for size in results["drain"]["sizes"].as_array().into_iter().flatten() {
        let ratio = spread(&size["function_over_insert_many"]);
        let _ = writeln!(
            text,
            "| drain at batch {}: function ÷ bare `insert_many` | {}× (a function only storing the documents: {}×) | ≥ 0.9× | {} |",
            size["batch_size"],
            ratio.show(2),
            spread(&size["store_only_over_insert_many"]).show(2),
            check(ratio.median >= 0.9)
        );
    }
    let burst = &results["burst"];
    if burst.is_object() {
        let _ = writeln!(
            text,
            "| burst of {}: lost / stored twice | {} / {} | 0 / 0 | {} |",
            burst["webhooks"],
            burst["lost"],
            burst["stored_twice"],
            check(burst["lost"] == 0 && burst["stored_twice"] == 0)
        );
    }
    if let Some(rows) = results["cold_start"]["runtimes"].as_array() {
        let find = |label: &str| rows.iter().find(|r| r["runtime"] == label);
        let metric =
            |row: Option<&Value>, key: &str| row.and_then(|r| r[key].as_f64()).unwrap_or(f64::NAN);
        let hello = find("hello-world (Rust)");
        // Beside each ratio to the floor, the same ratio for the function doing only the job's I/O.
        for (rust, node, job_floor, key, what) in [
            (
                "pre-queue (Rust)",
                "pre-queue (Node.js)",
                "send-only (Rust)",
                "init_p50_ms",
                "init",
            ),
            (
                "post-queue (Rust)",
                "post-queue (Node.js)",
                "store-only (Rust)",
                "first_invocation_p50_ms",
                "init + first batch",
            ),
        ] {
            let ours = metric(find(rust), key);
            let node_ratio = metric(find(node), key) / ours;
            let floor_ratio = ours / metric(hello, key);
            let job_floor_ratio = metric(find(job_floor), key) / metric(hello, key);
            let _ = writeln!(
                text,
                "| cold start, {rust} ({what}): Node.js ÷ Rust | {node_ratio:.1}× | ≥ 20× | {} |",
                check(node_ratio >= 20.0)
            );
            let _ = writeln!(
                text,
                "| cold start, {rust} ({what}): Rust ÷ hello-world | {floor_ratio:.2}× ({job_floor}: {job_floor_ratio:.2}×) | ≤ 2× | {} |",
                check(floor_ratio <= 2.0)
            );
        }
    }
    let all_series = results["memory"]["series"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let floor = all_series.iter().find(|s| s["floor"] == true);
    for series in all_series.iter().filter(|s| s["floor"] != true) {
        let peak = series["peak_rss_mb"].as_f64().unwrap_or(f64::NAN);
        // Beside a series of the floor's size of event, the floor's own peak.
        let beside_floor = floor
            .filter(|f| f["records_per_invocation"] == series["records_per_invocation"])
            .map(|f| {
                format!(
                    "; the hello-world floor receiving the same events: {:.1} MB",
                    f["peak_rss_mb"].as_f64().unwrap_or(f64::NAN)
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            text,
            "| peak RSS, {} ({} invocations) | {peak:.1} MB (grew {:.2} MB after the first tenth{beside_floor}) | ≤ 16 MB, flat | {} |",
            series["series"].as_str().unwrap_or_default(),
            series["invocations"],
            series["growth_after_first_tenth_mb"]
                .as_f64()
                .unwrap_or(f64::NAN),
            check(peak <= 16.0)
        );
    }
    let _ = writeln!(text);
}

fn ack(text: &mut String, ack: &Value) {
    if !ack.is_object() {
        return;
    }
    let _ = writeln!(
        text,
        "## 1. Ack path\n\nOne webhook at a time (2 KB, GitHub-signed), {} per round, {} rounds: the pre-queue function invoked \
         through the local Runtime API (verify, envelope, SendMessage of a {}-byte message, answer) beside the same message \
         sent to the same queue by `nami-bench-floor`, a plain release binary — once through `aws-sdk-sqs` (the SDK the \
         function uses) and once as a raw HTTP POST in SQS's JSON protocol (the floor) — and beside `send-only`, a \
         function built like Nami's that only sends the message it is given with `aws-sdk-sqs` (`bench/jobs/`): what any \
         function sending one message pays under the same Runtime API, so the pre-queue function ÷ send-only is the cost \
         of verifying and enveloping. Rounds interleave the four, in rotating order.\n",
        ack["requests_per_round"], ack["rounds"], ack["message_bytes"]
    );
    let _ = writeln!(text, "| sender | p50 ms | p99 ms |\n| --- | --- | --- |");
    // Each sender's row: its p50 and p99 keys (a function's own REPORT Duration has no p99 here).
    let of_which = "… of which the function itself (REPORT Duration)";
    for (sender, p50, p99) in [
        (
            "pre-queue function (invoke → answer, seen by the caller)",
            "function_p50_ms",
            Some("function_p99_ms"),
        ),
        (of_which, "handler_p50_ms", None),
        (
            "send-only function (invoke → answer, seen by the caller)",
            "send_only_p50_ms",
            Some("send_only_p99_ms"),
        ),
        (of_which, "send_only_handler_p50_ms", None),
        ("bare SDK SendMessage", "sdk_p50_ms", Some("sdk_p99_ms")),
        (
            "raw HTTP SendMessage (floor)",
            "raw_p50_ms",
            Some("raw_p99_ms"),
        ),
    ] {
        let p99 = p99.map(|key| spread(&ack[key]).show(2)).unwrap_or_default();
        let _ = writeln!(text, "| {sender} | {} | {p99} |", spread(&ack[p50]).show(2));
    }
    let _ = writeln!(
        text,
        "\nRatio of p50s: function ÷ raw **{}×**, function ÷ SDK **{}×** (target ≤ 1.1× the raw send); send-only ÷ raw \
         **{}×** (the floor of any function doing the job here); function ÷ send-only **{}×** (verifying and \
         enveloping). {} bytes of logs per invocation (START/END/REPORT, the function's JSON log line and its metrics \
         line).\n",
        spread(&ack["function_over_raw"]).show(2),
        spread(&ack["function_over_sdk"]).show(2),
        spread(&ack["send_only_over_raw"]).show(2),
        spread(&ack["function_over_send_only"]).show(2),
        ack["log_bytes_per_invocation"]
            .as_f64()
            .unwrap_or(f64::NAN)
            .round()
    );
}

fn drain(text: &mut String, drain: &Value, charts: &std::path::Path) -> anyhow::Result<()> {
    let Some(sizes) = drain["sizes"].as_array() else {
        return Ok(());
    };
    let _ = writeln!(
        text,
        "## 2. Drain\n\n{} messages ({} unique 2 KB webhooks, one in twenty a redelivery), one invocation at a time, {} rounds: \
         the post-queue function (batches delivered as the event source mapping delivers them) beside a bare unordered \
         `insert_many` of the same documents, already serialized, with the same durable write concern (the server's \
         limit), and one `insert_one` per message (how the original Node implementation wrote). Docs/s count unique \
         deliveries stored: the function's over its own time (the `Duration` of its REPORT lines, as Lambda bills it), \
         and beside it over the wall time of the invocations, the local Runtime API's handoffs included. CPU per \
         document is the function's (or the server's) CPU time over the run ÷ messages.\n",
        drain["messages"], drain["unique"], drain["rounds"]
    );
    let _ = writeln!(
        text,
        "| batch | function docs/s | … through the Runtime API | bare insert_many docs/s | function ÷ insert_many | function ÷ one-per-message | function CPU µs/doc | server CPU µs/doc | thread switches / invocation |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for size in sizes {
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {}× | {}× | {} | {} | {} |",
            size["batch_size"],
            spread(&size["function_docs_per_s"]).show(0),
            spread(&size["through_runtime_api_docs_per_s"]).show(0),
            spread(&size["insert_many_docs_per_s"]).show(0),
            spread(&size["function_over_insert_many"]).show(2),
            spread(&size["function_over_one_per_message"]).show(1),
            spread(&size["function_cpu_us_per_document"]).show(1),
            spread(&size["server_cpu_us_per_document"]).show(1),
            spread(&size["thread_switches_per_invocation"]).show(1),
        );
    }
    let one = spread(&drain["one_per_message_docs_per_s"]);
    let _ = writeln!(text, "\nOne insert per message: {} docs/s.\n", one.show(0));
    let _ = writeln!(
        text,
        "Beside the job's floor: `store-only` (`bench/jobs/`), a function built like Nami's that is given the same \
         documents already in BSON (base64 in each record's body) and stores them with the same write concern in one \
         unordered insert — what any function storing these documents pays through the same Runtime API, over its own \
         time likewise; the three take turns in rotating order.\n\n| batch | store-only docs/s | store-only ÷ insert_many | function ÷ store-only | store-only CPU µs/doc |\n| --- | --- | --- | --- | --- |"
    );
    for size in sizes {
        let _ = writeln!(
            text,
            "| {} | {} | {}× | {}× | {} |",
            size["batch_size"],
            spread(&size["store_only_docs_per_s"]).show(0),
            spread(&size["store_only_over_insert_many"]).show(2),
            spread(&size["function_over_store_only"]).show(2),
            spread(&size["store_only_cpu_us_per_document"]).show(1),
        );
    }
    let _ = writeln!(text);
    let line = |label: &str, key: &str| Line {
        label: label.to_owned(),
        points: sizes
            .iter()
            .map(|s| {
                (
                    s["batch_size"].as_f64().unwrap_or(1.0),
                    spread(&s[key]).median,
                )
            })
            .collect(),
    };
    let flat = Line {
        label: "one insert per message".into(),
        points: sizes
            .iter()
            .map(|s| (s["batch_size"].as_f64().unwrap_or(1.0), one.median))
            .collect(),
    };
    plot::lines(
        &charts.join("drain.svg"),
        "Documents stored per second by batch size",
        "batch size",
        "documents / s",
        &[
            line("post-queue function", "function_docs_per_s"),
            line(
                "store-only function (documents given in BSON)",
                "store_only_docs_per_s",
            ),
            line(
                "bare insert_many (the server's limit)",
                "insert_many_docs_per_s",
            ),
            flat,
        ],
    )?;
    let _ = writeln!(
        text,
        "![Documents stored per second by batch size](benchmarks/drain.svg)\n"
    );
    Ok(())
}

fn burst(text: &mut String, burst: &Value) {
    if !burst.is_object() {
        return;
    }
    let _ = writeln!(
        text,
        "## 3. Burst\n\n{} GitHub webhooks ({} redeliveries, {} forged) over {} connections through `nami-local` running a \
         pipeline applied with the real Terraform CLI (batch size {}, maximum concurrency {}), to SecantusDB.\n",
        burst["webhooks"],
        burst["redeliveries"],
        burst["forged"],
        burst["connections"],
        burst["batch_size"],
        burst["max_concurrency"]
    );
    let f = |key: &str, decimals: usize| {
        format!("{:.decimals$}", burst[key].as_f64().unwrap_or(f64::NAN))
    };
    let _ = writeln!(
        text,
        "| accepted | unique | non-2xx | stored | in DLQ | lost | stored twice | ack p50 / p99 ms | accepted/s | drained in s | stored/s |"
    );
    let _ = writeln!(
        text,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    let _ = writeln!(
        text,
        "| {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {} | {} |\n",
        burst["accepted"],
        burst["unique_accepted"],
        burst["non_2xx"],
        burst["stored"],
        burst["dead_lettered"],
        burst["lost"],
        burst["stored_twice"],
        f("ack_p50_ms", 1),
        f("ack_p99_ms", 1),
        f("accepted_per_s", 0),
        f("drained_in_s", 1),
        f("stored_per_s", 0)
    );
    let _ = writeln!(
        text,
        "CPU from the first request until the queue was empty (cores = CPU seconds ÷ wall seconds; the machine has two):\n\n| process | CPU s | cores |\n| --- | --- | --- |"
    );
    for row in burst["cpu"].as_array().into_iter().flatten() {
        let _ = writeln!(
            text,
            "| {} | {:.1} | {:.2} |",
            row["process"].as_str().unwrap_or_default(),
            row["cpu_seconds"].as_f64().unwrap_or(0.0),
            row["cores"].as_f64().unwrap_or(0.0)
        );
    }
    let _ = writeln!(
        text,
        "\nBottleneck: **{}**, the process nearest a whole core.\n",
        burst["bottleneck"].as_str().unwrap_or("unknown")
    );
}

fn cold_start(text: &mut String, cold: &Value, charts: &std::path::Path) -> anyhow::Result<()> {
    let Some(rows) = cold["runtimes"].as_array() else {
        return Ok(());
    };
    let _ = writeln!(
        text,
        "## 4. Cold start\n\nEach runtime started {} times in a fresh execution environment under the same local Runtime API. \
         Init is process start to its first `/next`; *first invocation* adds the first event's duration (the post-queue \
         functions' first batch of one record: Nami's connects to the store lazily, the Node.js one at init). Node.js {} \
         runs `bench/node/` (the jobs written with `@aws-sdk/client-sqs` and `mongodb`, pinned by its lock file) under a \
         Runtime API loop of its own. The jobs' floors (`bench/jobs/`, built like Nami's functions) do only each job's \
         I/O: `send-only` sends the message it is given with `aws-sdk-sqs`; `store-only` makes its MongoDB client at init \
         and stores each record's body as it came, durably, in one insert — so its first invocation holds the store's \
         first connection, as the post-queue function's does. Published anchor: hello-world on Lambda itself \
         initialises in ~16 ms for Rust and ~140 ms for Node.js 24 (maxday/lambda-perf, 2026-08).\n",
        rows.first().map_or(Value::Null, |r| r["starts"].clone()),
        cold["node"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches('v')
    );
    let _ = writeln!(
        text,
        "| runtime | init p50 ms | init p90 ms | first invocation p50 ms | p90 ms | warm invocation p50 ms | peak RSS of a fresh environment MB |\n| --- | --- | --- | --- | --- | --- | --- |"
    );
    let mut bars = Vec::new();
    for row in rows {
        let g = |key: &str| row[key].as_f64().unwrap_or(f64::NAN);
        let _ = writeln!(
            text,
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.1} |",
            row["runtime"].as_str().unwrap_or_default(),
            g("init_p50_ms"),
            g("init_p90_ms"),
            g("first_invocation_p50_ms"),
            g("first_invocation_p90_ms"),
            g("warm_p50_ms"),
            g("fresh_peak_rss_mb")
        );
        bars.push((
            row["runtime"].as_str().unwrap_or_default().to_owned(),
            g("first_invocation_p50_ms"),
        ));
    }
    let find = |label: &str| rows.iter().find(|r| r["runtime"] == label);
    let metric = |label: &str, key: &str| {
        find(label)
            .and_then(|r| r[key].as_f64())
            .unwrap_or(f64::NAN)
    };
    let _ = writeln!(
        text,
        "\nBeside the jobs' floors: pre-queue init ÷ send-only's {:.2}× (send-only ÷ hello-world {:.2}×); post-queue \
         first invocation ÷ store-only's {:.2}× (store-only ÷ hello-world {:.2}×: the store's first connection and a \
         durable insert, before any of Nami's work).",
        metric("pre-queue (Rust)", "init_p50_ms") / metric("send-only (Rust)", "init_p50_ms"),
        metric("send-only (Rust)", "init_p50_ms") / metric("hello-world (Rust)", "init_p50_ms"),
        metric("post-queue (Rust)", "first_invocation_p50_ms")
            / metric("store-only (Rust)", "first_invocation_p50_ms"),
        metric("store-only (Rust)", "first_invocation_p50_ms")
            / metric("hello-world (Rust)", "first_invocation_p50_ms"),
    );
    let deployed = "post-queue (Rust), URI from Secrets Manager";
    let _ = writeln!(
        text,
        "\nAs the provider deploys it, the post-queue function reads a secret at init (an external store's connection \
         string, or a managed store's password, from Secrets Manager — here the emulator's): init {:.1} ms, first \
         invocation {:.2}× the hello-world floor's (by value, as above: {:.2}×). The other rows get their settings by value.",
        metric(deployed, "init_p50_ms"),
        metric(deployed, "first_invocation_p50_ms")
            / metric("hello-world (Rust)", "first_invocation_p50_ms"),
        metric("post-queue (Rust)", "first_invocation_p50_ms")
            / metric("hello-world (Rust)", "first_invocation_p50_ms"),
    );
    plot::bars(
        &charts.join("cold-start.svg"),
        "Cold start to the first answer (p50, ms)",
        "ms",
        &bars,
    )?;
    let _ = writeln!(
        text,
        "\n![Cold start to the first answer](benchmarks/cold-start.svg)\n"
    );
    Ok(())
}

fn memory(text: &mut String, memory: &Value, charts: &std::path::Path) -> anyhow::Result<()> {
    let Some(series) = memory["series"].as_array() else {
        return Ok(());
    };
    let _ = writeln!(
        text,
        "## 5. Memory\n\nPeak RSS (`VmHWM`) of one warm environment, sampled as invocations accumulate. \
         The hello-world floor is given the post-queue function's 1,000-record events too; its event type reads \
         nothing, so its peak is what `lambda_runtime` holds to receive one: the body as hyper read it, in \
         chunks, then copied into one buffer before it is parsed.\n"
    );
    let _ = writeln!(
        text,
        "| series | invocations | event KB | environments | peak RSS MB | growth after the first tenth MB |\n| --- | --- | --- | --- | --- | --- |"
    );
    let mut lines = Vec::new();
    for s in series {
        let _ = writeln!(
            text,
            "| {} | {} | {:.0} | {} | {:.1} | {:.2} |",
            s["series"].as_str().unwrap_or_default(),
            s["invocations"],
            s["event_bytes"].as_f64().unwrap_or(f64::NAN) / 1024.0,
            s["environments"],
            s["peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
            s["growth_after_first_tenth_mb"]
                .as_f64()
                .unwrap_or(f64::NAN)
        );
        lines.push(Line {
            label: s["series"].as_str().unwrap_or_default().to_owned(),
            points: s["samples"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    (
                        p["invocations"].as_f64().unwrap_or(1.0),
                        p["peak_rss_mb"].as_f64().unwrap_or(0.0),
                    )
                })
                .collect(),
        });
    }
    plot::lines(
        &charts.join("memory.svg"),
        "Peak RSS over warm invocations",
        "invocations",
        "MB",
        &lines,
    )?;
    let _ = writeln!(
        text,
        "\n![Peak RSS over warm invocations](benchmarks/memory.svg)\n"
    );
    Ok(())
}

fn artifacts_section(text: &mut String, artifacts: &Value) {
    let Some(rows) = artifacts["artifacts"].as_array() else {
        return;
    };
    let _ = writeln!(
        text,
        "## 6. Artifact size\n\n`cargo lambda build --profile lambda-release` for x86_64 (glibc 2.17, `target-cpu=haswell`); profile: `{}` (how it was chosen: [performance.md](performance.md)).\n\n| function | bootstrap.zip KB | bootstrap KB |\n| --- | --- | --- |",
        artifacts["release_profile"].as_str().unwrap_or_default()
    );
    for row in rows {
        let _ = writeln!(
            text,
            "| {} | {:.0} | {:.0} |",
            row["function"].as_str().unwrap_or_default(),
            row["zip_bytes"].as_f64().unwrap_or(0.0) / 1024.0,
            row["bootstrap_bytes"].as_f64().unwrap_or(0.0) / 1024.0
        );
    }
    let _ = writeln!(text);
}

fn provider(text: &mut String, provider: &Value) {
    let Some(pipelines) = provider["pipelines"].as_array() else {
        return;
    };
    let _ = writeln!(
        text,
        "## 7. Provider\n\n`terraform apply` and `terraform destroy` against moto through a counting proxy: AWS calls \
         include the reads Terraform's refresh makes. *One call at a time* forwards the provider's calls one after \
         another, so independent steps wait for each other as if made in sequence.\n\n| pipeline | mode | apply s | apply calls | destroy s | destroy calls |\n| --- | --- | --- | --- | --- | --- |"
    );
    for pipeline in pipelines {
        for mode in pipeline["modes"].as_array().into_iter().flatten() {
            let _ = writeln!(
                text,
                "| {} | {} | {} | {} | {} | {} |",
                pipeline["pipeline"].as_str().unwrap_or_default(),
                mode["mode"].as_str().unwrap_or_default(),
                spread(&mode["apply_s"]).show(1),
                spread(&mode["apply_calls"]).show(0),
                spread(&mode["destroy_s"]).show(1),
                spread(&mode["destroy_calls"]).show(0),
            );
        }
    }
    let _ = writeln!(text);
}
