//! A pipeline applied with the real Terraform CLI on moto, its data plane run in-process with the
//! real Lambda artifacts, and ways to watch where its messages end up.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use mongodb::bson::Document;
use nami_dataplane::{DataPlane, Options};
use nami_harness::aws::{queue_depth, receive_all};
use nami_harness::terraform::Terraform;
use nami_harness::{Mongo, Moto, workspace_root};

/// The signing secret of every test pipeline.
pub(crate) const SECRET: &str = "e2e-secret";

/// A deployed pipeline and its emulators.
pub(crate) struct Deployed {
    pub name: String,
    pub moto: Moto,
    pub mongo: Mongo,
    pub sdk: SdkConfig,
    _terraform: Terraform,
}

/// Applies a `github` pipeline named `name` storing into the test's SecantusDB; `blocks` are
/// extra HCL blocks for the resource (e.g. `post_queue { timeout = 1 }`).
pub(crate) async fn deploy(name: &str, blocks: &str) -> Deployed {
    deploy_signed(name, "", blocks).await
}

/// [`deploy`], with `signature` added to the signature block (e.g. a replay window).
pub(crate) async fn deploy_signed(name: &str, signature: &str, blocks: &str) -> Deployed {
    let moto = Moto::start().expect("moto starts");
    let signature = format!("    scheme = \"github\"\n    secret = \"{SECRET}\"\n{signature}");
    deploy_on(moto, name, &signature, blocks).await
}

/// A pipeline named `name` on `moto` with the signature block `signature`, storing into a fresh
/// SecantusDB; `blocks` are extra HCL blocks.
pub(crate) async fn deploy_on(moto: Moto, name: &str, signature: &str, blocks: &str) -> Deployed {
    let mongo = Mongo::start().expect("SecantusDB starts");
    let terraform = Terraform::new(name, &moto);
    terraform.write(&format!(
        r#"
resource "nami_webhook_pipeline" "p" {{
  name = "{name}"
  signature {{
{signature}
  }}
  store {{
    mongodb_uri = "{uri}"
  }}
{blocks}
}}
"#,
        uri = mongo.uri()
    ));
    terraform.apply();
    let sdk = nami_harness::aws::sdk(&moto).await;
    Deployed {
        name: name.to_owned(),
        moto,
        mongo,
        sdk,
        _terraform: terraform,
    }
}

impl Deployed {
    /// Starts the data plane in this process, optionally pointing the post-queue function at
    /// another store.
    pub(crate) async fn start(&self, mongodb_uri: Option<String>) -> DataPlane {
        self.start_with(|options| options.mongodb_uri = mongodb_uri)
            .await
    }

    /// Starts the data plane in this process with `adjust` applied to its options.
    pub(crate) async fn start_with(&self, adjust: impl FnOnce(&mut Options)) -> DataPlane {
        let mut options = Options {
            pipeline: self.name.clone(),
            endpoint: Some(self.moto.endpoint()),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            mongodb_uri: None,
            artifact_folders: vec![workspace_root().join("target/lambda")],
            work_dir: workspace_root().join("target/e2e"),
            pre_queue_concurrency: 8,
            default_post_queue_concurrency: 2,
            // As on Lambda: frozen between invocations.
            lifecycle: nami_dataplane::Lifecycle::default(),
            // As SQS, only more often: a test reads them within seconds.
            queue_metrics_period: Some(Duration::from_secs(1)),
        };
        adjust(&mut options);
        DataPlane::start(&self.sdk, &options)
            .await
            .expect("the data plane starts")
    }

    /// The pipeline's collection.
    pub(crate) async fn collection(&self) -> mongodb::Collection<Document> {
        mongodb::Client::with_uri_str(self.mongo.uri())
            .await
            .unwrap()
            .database("nami")
            .collection(&self.name)
    }

    /// The pipeline's conflicts collection (a delivery id seen again with another body).
    pub(crate) async fn conflicts(&self) -> mongodb::Collection<Document> {
        mongodb::Client::with_uri_str(self.mongo.uri())
            .await
            .unwrap()
            .database("nami")
            .collection(&nami_contract::limits::conflicts_collection(&self.name))
    }

    /// The `_id` of every stored document.
    pub(crate) async fn stored_ids(&self) -> BTreeSet<String> {
        let mut cursor = self.collection().await.find(Document::new()).await.unwrap();
        let mut ids = BTreeSet::new();
        while cursor.advance().await.unwrap() {
            let document = cursor.deserialize_current().unwrap();
            ids.insert(document.get_str("_id").unwrap().to_owned());
        }
        ids
    }
}

/// The URL of pipeline `name`'s main queue.
pub(crate) async fn queue_url(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    let queue = nami_contract::naming::object_name(name, nami_contract::naming::Part::Main);
    sqs.get_queue_url()
        .queue_name(queue)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}

/// Waits until the main queue is empty (panics after `timeout`).
pub(crate) async fn drained(data_plane: &DataPlane, sqs: &aws_sdk_sqs::Client, timeout: Duration) {
    let started = Instant::now();
    while queue_depth(sqs, &data_plane.pipeline().queue.url)
        .await
        .unwrap()
        > 0
    {
        assert!(
            started.elapsed() < timeout,
            "the queue did not drain within {timeout:?}: {:?}; logs in {}",
            data_plane.poller_stats(),
            data_plane.logs().display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Takes every message off the dead-letter queue; returns their bodies.
pub(crate) async fn dead_letters(data_plane: &DataPlane, sqs: &aws_sdk_sqs::Client) -> Vec<String> {
    let url = &data_plane
        .pipeline()
        .dead_letter_queue
        .as_ref()
        .expect("a DLQ")
        .url;
    receive_all(sqs, url).await
}

/// The delivery id inside an envelope on a queue.
pub(crate) fn envelope_id(body: &str) -> Option<String> {
    let envelope: serde_json::Value = serde_json::from_str(body).ok()?;
    envelope["id"].as_str().map(str::to_owned)
}

/// Polls `condition` every 100 ms until it holds (panics with `what` after `timeout`).
pub(crate) async fn eventually(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every log line the data plane's functions wrote below `folder`, concatenated.
pub(crate) fn log_text(folder: &std::path::Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(folder).unwrap().flatten() {
        if entry.path().is_dir() {
            text.push_str(&log_text(&entry.path()));
        } else {
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    text
}

/// Every event of CloudWatch Logs group `group` (in the emulator), one line each.
pub(crate) async fn cloudwatch_log_text(sdk: &aws_config::SdkConfig, group: &str) -> String {
    let logs = aws_sdk_cloudwatchlogs::Client::new(sdk);
    let mut text = String::new();
    let mut next = None;
    loop {
        let page = logs
            .filter_log_events()
            .log_group_name(group)
            .set_next_token(next)
            .send()
            .await
            .unwrap();
        for event in page.events.unwrap_or_default() {
            text.push_str(event.message.as_deref().unwrap_or_default());
            text.push('\n');
        }
        next = page.next_token;
        if next.is_none() {
            return text;
        }
    }
}

/// The functions' metrics for `pipeline`, summed over every Embedded Metric Format line of
/// `logs`.
///
/// Each metric's values are summed in sorted order, so the totals are the same whatever order
/// the lines come in (CloudWatch Logs returns them in its own order; float addition is not
/// associative).
pub(crate) fn metric_totals(logs: &str, pipeline: &str) -> BTreeMap<String, f64> {
    let mut values_by_metric: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for line in logs.lines() {
        let Some((named, values)) = nami_contract::metrics::read_emf_line(line) else {
            continue;
        };
        assert_eq!(named, pipeline, "{line}");
        for (metric, value) in values {
            values_by_metric.entry(metric).or_default().push(value);
        }
    }
    values_by_metric
        .into_iter()
        .map(|(metric, mut values)| {
            values.sort_by(f64::total_cmp);
            (metric, values.into_iter().sum())
        })
        .collect()
}
