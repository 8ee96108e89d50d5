//! The functions `make bench` runs, each under the local data plane's Runtime API
//! ([`FunctionHost`]) exactly as `nami-local` runs them: Nami's two `bootstrap` artifacts, the
//! hello-world floor and the jobs' floors built the same way, and the Node.js 20 versions of both
//! jobs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use nami_contract::vars;
use nami_dataplane::artifact;
use nami_dataplane::discovery::FunctionSpec;
use nami_dataplane::{FunctionHost, Lifecycle};
use nami_harness::workspace_root;

/// The signing secret of every webhook the bench sends.
pub(crate) const SECRET: &str = "bench-secret";
/// The pipeline name the functions are configured with.
pub(crate) const PIPELINE: &str = "bench";

/// A program that runs as a function.
#[derive(Debug, Clone)]
pub(crate) enum Runtime {
    /// A `bootstrap.zip` built by cargo-lambda (`target/lambda/<name>/`).
    Rust(&'static str),
    /// A handler module of `bench/node/`, run by its `runtime.mjs` under Node.js.
    Node(&'static str),
    /// A `bootstrap.zip` as [`Runtime::Rust`], configured as the provider deploys it for an
    /// external store: its connection string read from Secrets Manager at init, by ARN.
    Deployed(&'static str),
}

impl Runtime {
    /// Nami's pre-queue function.
    pub(crate) const PRE_QUEUE: Runtime = Runtime::Rust("pre-queue");
    /// Nami's post-queue function.
    pub(crate) const POST_QUEUE: Runtime = Runtime::Rust("post-queue");
    /// The hello-world floor.
    pub(crate) const HELLO: Runtime = Runtime::Rust("hello-world");
    /// The ack path's floor: a function that only sends the message it is given.
    pub(crate) const SEND_ONLY: Runtime = Runtime::Rust("send-only");
    /// The post-queue job's floor: a function that only stores the documents it is given in
    /// BSON, durably.
    pub(crate) const STORE_ONLY: Runtime = Runtime::Rust("store-only");
    /// The pre-queue job in Node.js.
    pub(crate) const NODE_PRE_QUEUE: Runtime = Runtime::Node("pre-queue.mjs");
    /// The post-queue job in Node.js.
    pub(crate) const NODE_POST_QUEUE: Runtime = Runtime::Node("post-queue.mjs");
    /// Nami's post-queue function with its connection string in Secrets Manager.
    pub(crate) const POST_QUEUE_DEPLOYED: Runtime = Runtime::Deployed("post-queue");

    /// A short label for tables.
    pub(crate) fn label(&self) -> String {
        match self {
            Runtime::Rust(name) => format!("{name} (Rust)"),
            Runtime::Node(module) => format!("{} (Node.js)", module.trim_end_matches(".mjs")),
            Runtime::Deployed(name) => format!("{name} (Rust), URI from Secrets Manager"),
        }
    }

    fn slug(&self) -> String {
        match self {
            Runtime::Rust(name) => format!("rust-{name}"),
            Runtime::Node(module) => format!("node-{}", module.trim_end_matches(".mjs")),
            Runtime::Deployed(name) => format!("rust-{name}-deployed"),
        }
    }
}

/// The Node.js comparison's folder (its pinned packages are installed in `node_modules/`).
pub(crate) fn node_folder() -> PathBuf {
    workspace_root().join("bench/node")
}

/// The executable of `runtime` and the variables it needs beyond Nami's own.
fn program(runtime: &Runtime) -> anyhow::Result<(PathBuf, Vec<(String, String)>)> {
    match runtime {
        Runtime::Rust(name) | Runtime::Deployed(name) => {
            let folder = artifacts_folder().join(name);
            let zip = std::fs::read(folder.join("bootstrap.zip")).with_context(|| {
                format!(
                    "{}/bootstrap.zip is missing: run `make bench`, which builds it",
                    folder.display()
                )
            })?;
            let packages = artifact::packages(std::slice::from_ref(&folder));
            let bootstrap = artifact::bootstrap_for(
                name,
                &artifact::code_sha256(&zip),
                &packages,
                std::slice::from_ref(&folder),
                &workspace_root().join("target/bench/bootstrap"),
            )?;
            Ok((bootstrap, Vec::new()))
        }
        Runtime::Node(module) => {
            let folder = node_folder();
            anyhow::ensure!(
                folder.join("node_modules").exists(),
                "bench/node/node_modules is missing: run `make bench`, which installs it"
            );
            let node = which("node").context("node is not on PATH: `make bench` installs it")?;
            let node_dir = node
                .parent()
                .unwrap_or(Path::new("/usr/bin"))
                .display()
                .to_string();
            Ok((
                folder.join("bootstrap"),
                vec![
                    ("PATH".into(), format!("{node_dir}:/usr/bin:/bin")),
                    ("_HANDLER".into(), (*module).to_owned()),
                    ("LAMBDA_TASK_ROOT".into(), folder.display().to_string()),
                ],
            ))
        }
    }
}

/// Where the Rust functions' `<name>/bootstrap.zip` are: `target/lambda/`, or
/// `$NAMI_BENCH_ARTIFACTS` (e.g. a build with symbols, to profile the functions under the bench).
fn artifacts_folder() -> PathBuf {
    std::env::var_os("NAMI_BENCH_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/lambda"))
}

/// The first `program` on PATH.
fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|folder| folder.join(program))
        .find(|path| path.is_file())
}

/// What a function is configured with: the AWS endpoint (the emulator), and Nami's variables.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    /// `AWS_ENDPOINT_URL` of the functions.
    pub(crate) endpoint: String,
    /// The pre-queue function's queue.
    pub(crate) queue_url: String,
    /// The post-queue function's store.
    pub(crate) mongodb_uri: String,
    /// The same connection string in the emulator's Secrets Manager.
    pub(crate) mongodb_uri_secret_arn: String,
    /// The post-queue function's collection.
    pub(crate) collection: String,
}

/// A host of `runtime` configured by `setup`: at most `concurrency` environments, living as
/// `lifecycle` says, logging under `target/bench/logs/<label>/`.
pub(crate) fn host(
    runtime: &Runtime,
    setup: &Setup,
    lifecycle: Lifecycle,
    concurrency: usize,
    label: &str,
) -> anyhow::Result<FunctionHost> {
    let (bootstrap, extra) = program(runtime)?;
    let name = format!("nami-{PIPELINE}-{}", runtime.slug());
    let mongodb_uri = match runtime {
        Runtime::Deployed(_) => (
            vars::MONGODB_URI_SECRET_ARN,
            setup.mongodb_uri_secret_arn.as_str(),
        ),
        _ => (vars::MONGODB_URI, setup.mongodb_uri.as_str()),
    };
    let nami: BTreeMap<String, String> = [
        (vars::PIPELINE, PIPELINE),
        (vars::QUEUE_URL, &setup.queue_url),
        (vars::SIGNATURE_SCHEME, "github"),
        (vars::SIGNATURE_SECRET, SECRET),
        mongodb_uri,
        (vars::MONGODB_COLLECTION, &setup.collection),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let spec = FunctionSpec {
        name: name.clone(),
        arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
        role_arn: "arn:aws:iam::123456789012:role/nami-bench".into(),
        timeout: Duration::from_secs(30),
        memory_mb: 128,
        code_sha256: String::new(),
        environment: nami,
    };
    let base: Vec<(String, String)> = [
        ("PATH", "/usr/bin:/bin"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_ENDPOINT_URL", &setup.endpoint),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    // As nami-local configures a function, the Node.js runtime's own variables on top.
    let overrides: Vec<(&str, Option<&str>)> = (extra.iter())
        .map(|(key, value)| (key.as_str(), Some(value.as_str())))
        .collect();
    let environment = nami_dataplane::function_environment(&spec, &base, &overrides);
    let logs = workspace_root()
        .join("target/bench/logs")
        .join(label)
        .join(runtime.slug());
    let _ = std::fs::remove_dir_all(&logs);
    Ok(FunctionHost::new(
        spec,
        bootstrap,
        environment,
        concurrency,
        lifecycle,
        logs,
    )?)
}

/// The pid of the host's one idle environment, once its runtime has settled after an invocation.
pub(crate) async fn idle_pid(host: &FunctionHost) -> Option<u32> {
    for _ in 0..200 {
        if let Some(&pid) = host.idle_pids().first() {
            return Some(pid);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

/// One `REPORT` line of a log stream, as Lambda writes it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Report {
    /// `Duration`, ms.
    pub(crate) duration_ms: f64,
    /// `Init Duration`, ms (first invocation of an environment only).
    pub(crate) init_ms: Option<f64>,
}

/// Every `REPORT` line the host's environments wrote, environment by environment in order.
pub(crate) fn reports(host: &FunctionHost) -> Vec<Report> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(host.logs())
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let field = |line: &str, name: &str| -> Option<f64> {
        let start = line.find(name)? + name.len();
        line[start..].split_whitespace().next()?.parse().ok()
    };
    files
        .iter()
        .flat_map(|file| {
            std::fs::read_to_string(file)
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|line| line.starts_with("REPORT "))
        .map(|line| Report {
            duration_ms: field(&line, "\tDuration: ").unwrap_or(f64::NAN),
            init_ms: field(&line, "Init Duration: "),
        })
        .collect()
}
