//! The managed store's daily snapshots (`store.snapshot_retention_days`): a Data Lifecycle
//! Manager policy and the role it runs as, through create, update, drift, disappearance, import,
//! removal and destroy. moto has no DLM: `tools/moto_dlm.py` answers the provider's DLM calls and
//! refuses what DLM documents it refuses (a role DLM cannot assume among them).

use aws_sdk_dlm::types::{GettablePolicyStateValues, LifecyclePolicy, SettablePolicyStateValues};
use nami_harness::Moto;
use terraform_provider_nami::components::store::snapshots::TARGET_TAG;

use crate::support::{Terraform, decode_policy, leftovers, managed_pipeline, sdk};

async fn policy(dlm: &aws_sdk_dlm::Client, policy_id: &str) -> Option<LifecyclePolicy> {
    match dlm.get_lifecycle_policy().policy_id(policy_id).send().await {
        Ok(output) => output.policy,
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(error) => panic!("dlm:GetLifecyclePolicy: {error:?}"),
    }
}

/// The retention in days of the policy's one schedule.
fn retention(policy: &LifecyclePolicy) -> i32 {
    let details = policy.policy_details.as_ref().unwrap();
    let [schedule] = details.schedules() else {
        panic!("one schedule: {details:?}")
    };
    schedule.retain_rule().unwrap().interval().unwrap()
}

async fn volume_tags(ec2: &aws_sdk_ec2::Client, volume_id: &str) -> Vec<(String, String)> {
    let volumes = ec2
        .describe_volumes()
        .volume_ids(volume_id)
        .send()
        .await
        .unwrap()
        .volumes
        .unwrap();
    (volumes[0].tags.clone().unwrap_or_default().into_iter())
        .map(|tag| (tag.key.unwrap(), tag.value.unwrap_or_default()))
        .collect()
}

fn store(retention_days: Option<i64>) -> String {
    let mut store = "    volume_size = 10".to_owned();
    if let Some(days) = retention_days {
        store += &format!("\n    snapshot_retention_days = {days}");
    }
    store
}

#[tokio::test(flavor = "multi_thread")]
async fn daily_snapshots_of_the_data_volume_follow_the_configuration() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let (dlm, ec2, iam) = (
        aws_sdk_dlm::Client::new(&sdk),
        aws_sdk_ec2::Client::new(&sdk),
        aws_sdk_iam::Client::new(&sdk),
    );
    let tf = Terraform::new("snapshots", &moto);
    tf.write(&managed_pipeline("vault", &store(Some(14))));
    tf.ok(&["init", "-no-color"]);
    let (code, plan) = tf.plan();
    assert_eq!(code, 2, "{plan}");
    assert!(
        plan.contains("+ snapshot_policy_id") && plan.contains("+ snapshot_role_arn"),
        "{plan}"
    );
    tf.apply();
    let state = tf.resource_values("nami_webhook_pipeline.this");
    let policy_id = state["snapshot_policy_id"].as_str().unwrap().to_owned();
    let role_arn = state["snapshot_role_arn"].as_str().unwrap().to_owned();
    let volume_id = state["data_volume_id"].as_str().unwrap().to_owned();

    // The policy: enabled, run as the pipeline's role, the data volume by its tag, daily, each
    // snapshot kept 14 days and tagged as the pipeline's.
    let live = policy(&dlm, &policy_id).await.expect("the policy exists");
    assert_eq!(live.state, Some(GettablePolicyStateValues::Enabled));
    assert_eq!(live.execution_role_arn.as_deref(), Some(role_arn.as_str()));
    assert_eq!(live.description.as_deref(), Some("nami-vault-snapshots"));
    let details = live.policy_details.clone().unwrap();
    let targets: Vec<_> = (details.target_tags().iter())
        .map(|t| (t.key(), t.value()))
        .collect();
    assert_eq!(targets, [(Some(TARGET_TAG), Some("vault"))]);
    let create = details.schedules()[0].create_rule().unwrap();
    assert_eq!(
        (create.interval(), create.times()),
        (Some(24), &["03:00".to_owned()][..])
    );
    assert_eq!(retention(&live), 14);
    let token = state["owner_token"].as_str().unwrap();
    let tags = live.tags.clone().unwrap_or_default();
    assert_eq!(tags.get("nami:owner").map(String::as_str), Some(token));
    assert_eq!(tags.get("team").map(String::as_str), Some("platform"));
    let to_add: Vec<_> = (details.schedules()[0].tags_to_add().iter())
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert_eq!(to_add, [("nami:pipeline", "vault"), ("nami:owner", token)]);

    // The target tag is on the data volume only, not on the root volume (tagged as the pipeline's too).
    assert!(
        volume_tags(&ec2, &volume_id)
            .await
            .contains(&(TARGET_TAG.to_owned(), "vault".to_owned()))
    );
    let root_volumes = ec2
        .describe_volumes()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:nami:pipeline")
                .values("vault")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .volumes
        .unwrap();
    let targeted: Vec<_> = (root_volumes.iter())
        .filter(|v| v.tags().iter().any(|t| t.key() == Some(TARGET_TAG)))
        .filter_map(|v| v.volume_id.clone())
        .collect();
    assert_eq!(
        targeted,
        std::slice::from_ref(&volume_id),
        "only the data volume is snapshotted"
    );

    // The role: DLM may assume it; it may snapshot this volume only.
    let role_name = role_arn.rsplit('/').next().unwrap();
    let role = iam
        .get_role()
        .role_name(role_name)
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    let trust = decode_policy(role.assume_role_policy_document.as_deref().unwrap());
    assert_eq!(
        trust["Statement"][0]["Principal"]["Service"],
        "dlm.amazonaws.com"
    );
    let inline = iam
        .get_role_policy()
        .role_name(role_name)
        .policy_name("nami")
        .send()
        .await
        .unwrap();
    let granted = decode_policy(&inline.policy_document);
    assert!(
        granted.to_string().contains(&format!("volume/{volume_id}")),
        "{granted}"
    );
    let (code, plan) = tf.plan();
    assert_eq!(code, 0, "{plan}");

    // Update in place: another retention.
    tf.write(&managed_pipeline("vault", &store(Some(30))));
    let (code, plan) = tf.plan();
    assert!(
        code == 2 && plan.contains("snapshot_retention_days") && !plan.contains("must be replaced"),
        "{plan}"
    );
    tf.apply();
    assert_eq!(retention(&policy(&dlm, &policy_id).await.unwrap()), 30);

    // Drift: a policy disabled out of band shows in the plan and is enabled again.
    dlm.update_lifecycle_policy()
        .policy_id(&policy_id)
        .state(SettablePolicyStateValues::Disabled)
        .send()
        .await
        .unwrap();
    let (code, plan) = tf.plan();
    assert!(
        code == 2 && plan.contains("snapshot_retention_days"),
        "{plan}"
    );
    tf.apply();
    let live = policy(&dlm, &policy_id).await.unwrap();
    assert_eq!(live.state, Some(GettablePolicyStateValues::Enabled));

    // Disappears: a policy deleted out of band is made again.
    dlm.delete_lifecycle_policy()
        .policy_id(&policy_id)
        .send()
        .await
        .unwrap();
    let (code, plan) = tf.plan();
    assert!(code == 2 && plan.contains("snapshot_policy_id"), "{plan}");
    tf.apply();
    let remade = tf.resource_values("nami_webhook_pipeline.this");
    let policy_id = remade["snapshot_policy_id"].as_str().unwrap().to_owned();
    assert_eq!(retention(&policy(&dlm, &policy_id).await.unwrap()), 30);
    let (code, plan) = tf.plan();
    assert_eq!(code, 0, "{plan}");

    // Import reads the retention and both ids back.
    tf.ok(&["state", "rm", "nami_webhook_pipeline.this"]);
    tf.ok(&["import", "-no-color", "nami_webhook_pipeline.this", "vault"]);
    let imported = tf.resource_values("nami_webhook_pipeline.this");
    assert_eq!(imported["snapshot_policy_id"], remade["snapshot_policy_id"]);
    assert_eq!(imported["snapshot_role_arn"], remade["snapshot_role_arn"]);
    assert_eq!(imported["store"]["snapshot_retention_days"], 30);
    let (code, plan) = tf.plan();
    assert_eq!(code, 0, "{plan}");

    // Unset: the policy, the volume's target tag and the role go; the plan is then empty.
    tf.write(&managed_pipeline("vault", &store(None)));
    tf.apply();
    assert!(policy(&dlm, &policy_id).await.is_none(), "policy deleted");
    assert!(
        iam.get_role().role_name(role_name).send().await.is_err(),
        "role deleted"
    );
    assert!(
        !volume_tags(&ec2, &volume_id)
            .await
            .iter()
            .any(|(key, _)| key == TARGET_TAG),
        "the volume is no longer targeted"
    );
    let unset = tf.resource_values("nami_webhook_pipeline.this");
    assert!(unset["snapshot_policy_id"].is_null() && unset["snapshot_role_arn"].is_null());
    let (code, plan) = tf.plan();
    assert_eq!(code, 0, "{plan}");

    // Set again, then destroy: no policy, no role; the retained volume is no longer targeted.
    tf.write(&managed_pipeline("vault", &store(Some(7))));
    tf.apply();
    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(leftovers(&sdk).await, ["volume nami-vault-data"]);
    assert!(
        !volume_tags(&ec2, &volume_id)
            .await
            .iter()
            .any(|(key, _)| key == TARGET_TAG),
        "a retained volume is not snapshotted by a later pipeline of the name"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_retention_outside_dlms_range_or_without_the_managed_store_fails_at_plan() {
    let moto = Moto::start().unwrap();
    let tf = Terraform::new("snapshots-plan", &moto);
    tf.write(&managed_pipeline("vault", &store(Some(0))));
    tf.ok(&["init", "-no-color"]);
    let error = tf.fails(&["plan", "-no-color"]);
    assert!(
        error.contains("snapshot_retention_days") && error.contains("0 is outside 1–36500"),
        "{error}"
    );
    tf.write(&managed_pipeline(
        "vault",
        "    mongodb_uri = \"mongodb://db.internal:27017/?tls=true\"\n    snapshot_retention_days = 7",
    ));
    let error = tf.fails(&["plan", "-no-color"]);
    assert!(
        error.contains(
            "store.snapshot_retention_days applies only to the pipeline's own managed store"
        ),
        "{error}"
    );
}
