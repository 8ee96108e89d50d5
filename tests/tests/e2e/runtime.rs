//! The Runtime API as the `lambda_runtime` crate inside the real artifacts expects it: init
//! failures and handler errors come back as errors, promptly, and a handler error keeps the
//! execution environment. And execution environments live as on Lambda: frozen between
//! invocations, reclaimed when idle, an init over the limit retried within the invocation (these
//! with a small Python runtime of the tests' own, `fixtures/bootstrap.py`, whose init time and
//! background work the tests choose).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use nami_dataplane::artifact;
use nami_dataplane::discovery::FunctionSpec;
use nami_dataplane::{FunctionHost, InvokeError, Lifecycle};
use nami_harness::workspace_root;

/// The real `bootstrap` of `function`, unpacked from `make artifacts`' zip.
fn bootstrap(function: &str) -> PathBuf {
    let folder = workspace_root().join("target/lambda").join(function);
    let zip = std::fs::read(folder.join("bootstrap.zip")).expect("run `make artifacts`");
    let packages = artifact::packages(std::slice::from_ref(&folder));
    artifact::bootstrap_for(
        function,
        &artifact::code_sha256(&zip),
        &packages,
        std::slice::from_ref(&folder),
        &workspace_root().join("target/e2e/bootstrap"),
    )
    .unwrap()
}

fn host(function: &str, variables: &[(&str, &str)]) -> FunctionHost {
    // One name (and so one log folder) per host: tests run side by side in one process.
    static HOSTS: AtomicUsize = AtomicUsize::new(0);
    let host = HOSTS.fetch_add(1, Ordering::Relaxed);
    let name = format!("e2e-runtime-{function}-{}-{host}", std::process::id());
    let spec = FunctionSpec {
        name: name.clone(),
        arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
        role_arn: "arn:aws:iam::123456789012:role/nami-test".into(),
        timeout: Duration::from_secs(3),
        memory_mb: 128,
        code_sha256: String::new(),
        environment: Default::default(),
    };
    let mut environment: Vec<(String, String)> = [
        ("PATH", "/usr/bin:/bin"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_LAMBDA_FUNCTION_NAME", name.as_str()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    ]
    .iter()
    .chain(variables)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    environment.sort();
    let logs = workspace_root().join("target/e2e/logs").join(&name);
    let _ = std::fs::remove_dir_all(&logs);
    FunctionHost::new(
        spec,
        bootstrap(function),
        environment,
        2,
        Lifecycle::default(),
        logs,
    )
    .unwrap()
}

/// A host of `fixtures/bootstrap.py` (an echo runtime), with `lifecycle`, a 15 s timeout, and
/// `variables`.
fn fixture_host(test: &str, lifecycle: Lifecycle, variables: &[(&str, String)]) -> FunctionHost {
    let name = format!("e2e-lifecycle-{test}-{}", std::process::id());
    let spec = FunctionSpec {
        name: name.clone(),
        arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
        role_arn: "arn:aws:iam::123456789012:role/nami-test".into(),
        timeout: Duration::from_secs(15),
        memory_mb: 128,
        code_sha256: String::new(),
        environment: Default::default(),
    };
    let python = nami_harness::venv_bin("python3");
    let path = format!("{}:/usr/bin:/bin", python.parent().unwrap().display());
    let mut environment: Vec<(String, String)> = vec![("PATH".into(), path)];
    environment.extend(variables.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let logs = workspace_root().join("target/e2e/logs").join(&name);
    let _ = std::fs::remove_dir_all(&logs);
    let bootstrap = workspace_root().join("tests/tests/e2e/fixtures/bootstrap.py");
    FunctionHost::new(spec, bootstrap, environment, 1, lifecycle, logs).unwrap()
}

/// A fresh file path for the fixture's counter.
fn counter_file(test: &str) -> PathBuf {
    let dir = workspace_root().join("target/e2e/counters");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{test}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("started"));
    path
}

fn count(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

/// The process state letter in /proc (`T`: stopped).
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// The idle environments' pids once `count` are idle (they return to the pool just after the
/// invocation answers).
async fn idle_pids(host: &FunctionHost, count: usize) -> Vec<u32> {
    for _ in 0..50 {
        let pids = host.idle_pids();
        if pids.len() == count {
            return pids;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{count} idle environments expected, found {:?}",
        host.idle_pids()
    );
}

fn logs(host: &FunctionHost) -> String {
    std::fs::read_dir(host.logs())
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn an_init_failure_is_reported_not_hung() {
    let host = host("pre-queue", &[]);
    let result = tokio::time::timeout(Duration::from_secs(8), host.invoke(Bytes::from("{}")))
        .await
        .expect("reported within the init limit");
    let Err(InvokeError::Init(diagnostic)) = result else {
        panic!("expected an init error, got {result:?}");
    };
    assert_eq!(diagnostic.error_type, "Runtime.ExitError");
    assert!(logs(&host).contains("NAMI_SIGNATURE_SCHEME is not set"));
    assert_eq!(host.stats().init_errors, 1);
    assert!(
        host.idle_pids().is_empty(),
        "a failed environment is not reused"
    );
    host.shutdown().await;
}

#[tokio::test]
async fn a_handler_error_is_reported_and_the_environment_reused() {
    let host = host(
        "post-queue",
        &[
            ("NAMI_PIPELINE", "e2e"),
            (
                "NAMI_MONGODB_URI",
                "mongodb://127.0.0.1:9/?directConnection=true",
            ),
        ],
    );
    let bad = host
        .invoke(Bytes::from(r#"{"Records":"not a list"}"#))
        .await;
    let Err(InvokeError::Function(diagnostic)) = bad else {
        panic!("expected a function error, got {bad:?}");
    };
    assert!(!diagnostic.error_message.is_empty(), "{diagnostic:?}");
    // The environment survives a handler error.
    let pids = idle_pids(&host, 1).await;

    let empty = host.invoke(Bytes::from(r#"{"Records":[]}"#)).await.unwrap();
    let response: serde_json::Value = serde_json::from_slice(&empty).unwrap();
    assert_eq!(response["batchItemFailures"], serde_json::json!([]));
    assert_eq!(idle_pids(&host, 1).await, pids, "the same process answered");
    assert_eq!(host.stats().cold_starts, 1);
    let text = logs(&host);
    assert_eq!(text.matches("REPORT RequestId:").count(), 2, "{text}");
    host.shutdown().await;
}

/// Lambda freezes an environment between invocations: its background threads stop. The real
/// artifacts' runtimes are frozen in `/next`; the fixture's counter thread stands still while
/// frozen and runs when the freeze is off (so the check can fail).
#[tokio::test]
async fn an_environment_is_frozen_between_invocations() {
    let real = host(
        "post-queue",
        &[
            ("NAMI_PIPELINE", "e2e"),
            (
                "NAMI_MONGODB_URI",
                "mongodb://127.0.0.1:9/?directConnection=true",
            ),
        ],
    );
    real.invoke(Bytes::from(r#"{"Records":[]}"#)).await.unwrap();
    let [pid] = idle_pids(&real, 1).await[..] else {
        unreachable!()
    };
    assert_eq!(
        process_state(pid),
        Some('T'),
        "the real runtime is frozen while idle"
    );
    real.shutdown().await;

    for freeze in [true, false] {
        let counter = counter_file(&format!("freeze-{freeze}"));
        let lifecycle = Lifecycle {
            freeze,
            ..Lifecycle::default()
        };
        let host = fixture_host(
            &format!("freeze-{freeze}"),
            lifecycle,
            &[("COUNTER_FILE", counter.display().to_string())],
        );
        let echoed = host.invoke(Bytes::from(r#"{"n":1}"#)).await.unwrap();
        assert_eq!(&echoed[..], br#"{"n":1}"#);
        idle_pids(&host, 1).await;
        let before = count(&counter);
        tokio::time::sleep(Duration::from_millis(400)).await;
        let after = count(&counter);
        if freeze {
            assert_eq!(
                before, after,
                "background work ran while the environment was frozen"
            );
            // Thawed for the next invocation.
            assert!(host.invoke(Bytes::from("{}")).await.is_ok());
            tokio::time::sleep(Duration::from_millis(100)).await;
        } else {
            assert!(
                after > before,
                "without freezing the counter runs: {before} → {after}"
            );
        }
        host.shutdown().await;
    }
}

/// Lambda reclaims an idle environment after a while: the next invocation is a cold start in a
/// new process.
#[tokio::test]
async fn an_idle_environment_is_reclaimed() {
    let lifecycle = Lifecycle {
        // Long enough that a loaded machine reuses the environment between two quick calls.
        reclaim_after: Some(Duration::from_secs(2)),
        ..Lifecycle::default()
    };
    let host = fixture_host("reclaim", lifecycle, &[]);
    host.invoke(Bytes::from("{}")).await.unwrap();
    let first = idle_pids(&host, 1).await;
    host.invoke(Bytes::from("{}")).await.unwrap();
    assert_eq!(idle_pids(&host, 1).await, first, "reused while fresh");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    host.invoke(Bytes::from("{}")).await.unwrap();
    let second = idle_pids(&host, 1).await;
    assert_ne!(second, first, "a new environment after the idle time");
    let stats = host.stats();
    assert_eq!((stats.cold_starts, stats.reclaimed), (2, 1));
    assert!(
        nami_harness::process::survivors(&first, Duration::from_secs(2)).is_empty(),
        "the reclaimed process is gone"
    );
    host.shutdown().await;
}

/// An init that misses Lambda's 10 s init limit is not an error on Lambda: the init is retried as
/// part of the first invocation, bounded by the function's timeout. (It used to fail outright.)
#[tokio::test]
async fn an_init_over_the_limit_is_retried_within_the_invocation() {
    let counter = counter_file("slow-init");
    let host = fixture_host(
        "slow-init",
        Lifecycle::default(),
        &[
            ("COUNTER_FILE", counter.display().to_string()),
            ("INIT_SECONDS_FIRST_START", "10.5".to_owned()),
        ],
    );
    let echoed = host.invoke(Bytes::from(r#"{"slow":true}"#)).await;
    assert_eq!(echoed.unwrap(), Bytes::from_static(br#"{"slow":true}"#));
    let stats = host.stats();
    assert_eq!(
        (stats.init_retries, stats.cold_starts, stats.errors),
        (1, 2, 0)
    );
    assert!(logs(&host).contains("Phase: init\tStatus: timeout"));
    host.shutdown().await;
}
