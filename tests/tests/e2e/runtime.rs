//! The Runtime API as the `lambda_runtime` crate inside the real artifacts expects it: init
//! failures and handler errors come back as errors, promptly, and a handler error keeps the
//! execution environment.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use nami_dataplane::artifact;
use nami_dataplane::discovery::FunctionSpec;
use nami_dataplane::{FunctionHost, InvokeError};
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
    let name = format!("e2e-runtime-{function}-{}", std::process::id());
    let spec = FunctionSpec {
        name: name.clone(),
        arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
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
    FunctionHost::new(spec, bootstrap(function), environment, 2, logs).unwrap()
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
    let pids = host.idle_pids();
    assert_eq!(pids.len(), 1, "the environment survives a handler error");

    let empty = host.invoke(Bytes::from(r#"{"Records":[]}"#)).await.unwrap();
    let response: serde_json::Value = serde_json::from_slice(&empty).unwrap();
    assert_eq!(response["batchItemFailures"], serde_json::json!([]));
    assert_eq!(host.idle_pids(), pids, "the same process answered");
    assert_eq!(host.stats().cold_starts, 1);
    let text = logs(&host);
    assert_eq!(text.matches("REPORT RequestId:").count(), 2, "{text}");
    host.shutdown().await;
}
