//! Opt-in acceptance tests against AWS itself, for what no local part can show: they create
//! billable objects (a t3.small for a few minutes, an EBS volume, a DLM policy) in a real account
//! and never run in CI. Run with `make testrealaws` (credentials from the normal chain; region
//! `NAMI_REAL_AWS_REGION`, default us-east-1). Every test destroys what it made, and checks so.

use nami_harness::terraform::Terraform;
use terraform_provider_nami::aws::{Clients, Endpoints};
use terraform_provider_nami::components::store::snapshots;
use terraform_provider_nami::lookup::inventory;

fn region() -> String {
    std::env::var("NAMI_REAL_AWS_REGION").unwrap_or_else(|_| "us-east-1".into())
}

/// The SDK configuration of the normal credential chain; a clear failure without credentials.
async fn sdk() -> aws_config::SdkConfig {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region()))
        .load()
        .await;
    let identity = aws_sdk_sts::Client::new(&sdk)
        .get_caller_identity()
        .send()
        .await;
    assert!(
        identity.is_ok(),
        "make testrealaws needs AWS credentials (environment, profile or role): {identity:?}"
    );
    sdk
}

/// The managed store with daily snapshots on real AWS: DLM accepts the policy the provider
/// renders and the role it passes (the emulator's reading of DLM is checked here), reads it back
/// as applied (empty plan), and a destroy leaves nothing of the pipeline's.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "real AWS: make testrealaws"]
async fn dlm_accepts_the_snapshot_policy_and_destroy_leaves_nothing() {
    let sdk = sdk().await;
    let name = format!("rt{}", std::process::id());
    let tf = Terraform::on_real_aws("real-snapshots", &region());
    tf.write(&format!(
        r#"
resource "nami_webhook_pipeline" "this" {{
  name          = "{name}"
  force_destroy = true
  signature {{
    scheme = "github"
    secret = "real-aws-test-secret"
  }}
  store {{
    volume_size             = 8
    retain_volume           = false
    snapshot_retention_days = 1
  }}
}}
"#
    ));
    let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tf.apply();
        let (code, plan) = tf.plan();
        assert_eq!(code, 0, "{plan}");
        tf.resource_values("nami_webhook_pipeline.this")
    }));
    let destroyed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tf.ok(&["destroy", "-auto-approve", "-no-color"])
    }));
    let state = applied.expect("apply and an empty plan on real AWS");
    destroyed.expect("destroy on real AWS");

    let clients = Clients::new(&sdk, &Endpoints::default(), Default::default());
    let policy_id = state["snapshot_policy_id"].as_str().unwrap();
    assert!(
        snapshots::find(&clients, policy_id)
            .await
            .unwrap()
            .is_none(),
        "policy {policy_id} remains"
    );
    let remaining: Vec<String> = (inventory(&clients, &name).await.unwrap().iter())
        .map(ToString::to_string)
        .collect();
    assert!(
        remaining.is_empty(),
        "objects of {name} remain: {remaining:?}"
    );
}
