//! Nothing leaked: a signing secret given by value reaches the pre-queue function only through
//! the pipeline's Secrets Manager secret — never through a function's configuration or a log.

use std::path::Path;
use std::time::Duration;

use nami_harness::webhooks::{Burst, send_all};

use crate::support::{SECRET, deploy};

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signing_secret_is_in_no_function_configuration_and_no_log() {
    // (A name that does not contain the secret's text, so a match is a leak.)
    let deployed = deploy("e2e-leak-check", "").await;
    let data_plane = deployed.start(None).await;
    // Signed webhooks verify and forged ones do not: the function did read the secret, by ARN.
    let burst = Burst::github(SECRET, "s", 20, 0, 5, false);
    let answers = send_all(&data_plane.ingress_url(), &burst.webhooks, 4, |_| {}).await;
    let status = |code| answers.iter().filter(|a| a.status == code).count();
    assert_eq!((status(200), status(401)), (20, 5));
    let logs = data_plane.logs().to_path_buf();
    data_plane.shutdown(Duration::from_secs(5)).await;

    let lambda = aws_sdk_lambda::Client::new(&deployed.sdk);
    let mut variables_searched = 0;
    for function in ["pre-queue", "post-queue"] {
        let configuration = lambda
            .get_function_configuration()
            .function_name(format!("nami-{}-{function}", deployed.name))
            .send()
            .await
            .unwrap();
        // The SDK's Debug redacts the environment: look at every variable itself.
        let variables = configuration
            .environment
            .and_then(|environment| environment.variables)
            .unwrap_or_default();
        assert!(!variables.is_empty(), "{function} has its configuration");
        variables_searched += variables.len();
        for (name, value) in variables {
            assert!(
                !value.contains(SECRET),
                "{function}: {name} holds the secret"
            );
        }
        let rest = format!("{:?} {:?}", configuration.description, configuration.layers);
        assert!(!rest.contains(SECRET), "{function}: {rest}");
    }
    let logged = files(&logs);
    assert!(
        !logged.is_empty(),
        "the data plane logs to {}",
        logs.display()
    );
    let mut log_bytes = 0;
    let log_files = logged.len();
    for file in logged {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        log_bytes += text.len();
        assert!(
            !text.contains(SECRET),
            "{} holds the secret",
            file.display()
        );
    }
    nami_harness::record_figures(
        "secrets-data-plane",
        &serde_json::json!({
            "verified": status(200),
            "forged_refused": status(401),
            "function_variables": variables_searched,
            "log_files": log_files,
            "log_bytes": log_bytes,
            "found": 0,
        }),
    );
}
