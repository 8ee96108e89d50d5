//! The functions' log groups (`log_retention_days`, `retain_logs`): made before the functions
//! with their retention and the pipeline's tags, written to only by their own function, put back
//! after drift and disappearance, deleted on destroy or kept and adopted again.

use std::collections::HashMap;

use aws_sdk_cloudwatchlogs::Client as Logs;
use nami_contract::naming::{Function, log_group_name};
use nami_harness::Moto;

use crate::support::{Terraform, assert_destroyed, decode_policy, leftovers, pipeline, sdk};

/// The group's retention (`None`: kept forever), or `None` when it does not exist.
async fn retention(logs: &Logs, name: &str) -> Option<Option<i32>> {
    let groups = logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .unwrap()
        .log_groups
        .unwrap_or_default();
    (groups.into_iter())
        .find(|group| group.log_group_name.as_deref() == Some(name))
        .map(|group| group.retention_in_days)
}

async fn tags(logs: &Logs, arn: &str) -> HashMap<String, String> {
    logs.list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn log_groups_follow_the_configuration_and_go_with_destroy() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let logs = Logs::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let tf = Terraform::new("log-groups", &moto);
    tf.write(&pipeline("audit", ""));
    tf.apply();
    let state = tf.resource_values("nami_webhook_pipeline.this");
    let token = state["owner_token"].as_str().unwrap().to_owned();
    assert_eq!(state["log_retention_days"], 30);
    assert_eq!(state["retain_logs"], false);

    for function in Function::ALL {
        let name = log_group_name("audit", function);
        let key = format!("{}_log_group_arn", function.slug().replace('-', "_"));
        let arn = state[&key].as_str().unwrap().to_owned();
        assert!(arn.ends_with(&format!(":log-group:{name}")), "{arn}");
        assert_eq!(retention(&logs, &name).await, Some(Some(30)), "{name}");
        let tags = tags(&logs, &arn).await;
        assert_eq!(tags.get("nami:owner"), Some(&token), "{tags:?}");
        assert_eq!(tags.get("service").map(String::as_str), Some("billing"));
        assert_eq!(tags.get("team").map(String::as_str), Some("platform"));
        // The function's role writes streams in its own group only, and makes no group.
        let role = format!("nami-audit-{}", function.slug());
        let policy = iam
            .get_role_policy()
            .role_name(&role)
            .policy_name("nami")
            .send()
            .await
            .unwrap();
        let granted = decode_policy(&policy.policy_document).to_string();
        assert!(!granted.contains("logs:CreateLogGroup"), "{granted}");
        assert!(
            granted.contains(&format!("log-group:{name}:*")),
            "{granted}"
        );
    }
    let (code, plan) = tf.plan();
    assert_eq!(code, 0, "{plan}");

    // A retention CloudWatch Logs does not offer fails the plan, naming the attribute.
    tf.write(&pipeline("audit", "  log_retention_days = 8\n"));
    let (code, plan) = tf.plan();
    assert!(
        code == 1 && plan.contains("log_retention_days is 8"),
        "{plan}"
    );

    // Update in place.
    tf.write(&pipeline("audit", "  log_retention_days = 7\n"));
    let (code, plan) = tf.plan();
    assert!(
        code == 2 && plan.contains("log_retention_days") && !plan.contains("must be replaced"),
        "{plan}"
    );
    tf.apply();
    for function in Function::ALL {
        let name = log_group_name("audit", function);
        assert_eq!(retention(&logs, &name).await, Some(Some(7)), "{name}");
    }

    // Drift: a retention changed out of band shows in the plan and is put back.
    let post = log_group_name("audit", Function::PostQueue);
    logs.put_retention_policy()
        .log_group_name(&post)
        .retention_in_days(90)
        .send()
        .await
        .unwrap();
    let (code, plan) = tf.plan();
    assert!(code == 2 && plan.contains("log_retention_days"), "{plan}");
    tf.apply();
    assert_eq!(retention(&logs, &post).await, Some(Some(7)));

    // Disappears: a group deleted out of band is made again, before anything writes to it.
    let pre = log_group_name("audit", Function::PreQueue);
    logs.delete_log_group()
        .log_group_name(&pre)
        .send()
        .await
        .unwrap();
    let (code, plan) = tf.plan();
    assert!(
        code == 2 && plan.contains("pre_queue_log_group_arn"),
        "{plan}"
    );
    tf.apply();
    assert_eq!(retention(&logs, &pre).await, Some(Some(7)));
    let (code, plan) = tf.plan();
    assert_eq!(code, 0, "{plan}");

    let state = tf.resource_values("nami_webhook_pipeline.this");
    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_destroyed(&sdk, &state).await;
    assert_eq!(retention(&logs, &pre).await, None);
    assert_eq!(retention(&logs, &post).await, None);
    assert_eq!(leftovers(&sdk).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn retained_and_lambda_made_log_groups_are_adopted_by_the_next_create() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let logs = Logs::new(&sdk);
    // A group Lambda made for a function of this name before the pipeline owned its groups:
    // no tags, kept forever.
    let pre = log_group_name("kept", Function::PreQueue);
    let post = log_group_name("kept", Function::PostQueue);
    logs.create_log_group()
        .log_group_name(&pre)
        .send()
        .await
        .unwrap();

    let tf = Terraform::new("log-groups-kept", &moto);
    tf.write(&pipeline("kept", "  retain_logs = true\n"));
    tf.apply();
    let first = tf.resource_values("nami_webhook_pipeline.this");
    let pre_arn = first["pre_queue_log_group_arn"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(retention(&logs, &pre).await, Some(Some(30)), "adopted");
    let adopted = tags(&logs, &pre_arn).await;
    assert_eq!(
        adopted.get("nami:owner"),
        first["owner_token"].as_str().map(str::to_owned).as_ref()
    );

    // Destroy keeps both groups, marked retained.
    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_destroyed(&sdk, &first).await;
    for name in [&pre, &post] {
        assert_eq!(retention(&logs, name).await, Some(Some(30)), "{name} kept");
    }
    let kept = tags(&logs, &pre_arn).await;
    assert_eq!(kept.get("nami:retained").map(String::as_str), Some("true"));

    // The next create of the name adopts them: its token, no longer retained, its retention.
    tf.write(&pipeline("kept", "  log_retention_days = 14\n"));
    tf.apply();
    let second = tf.resource_values("nami_webhook_pipeline.this");
    assert_ne!(second["owner_token"], first["owner_token"]);
    assert_eq!(
        second["pre_queue_log_group_arn"],
        first["pre_queue_log_group_arn"]
    );
    for name in [&pre, &post] {
        assert_eq!(retention(&logs, name).await, Some(Some(14)), "{name}");
    }
    let adopted = tags(&logs, &pre_arn).await;
    assert_eq!(
        adopted.get("nami:owner"),
        second["owner_token"].as_str().map(str::to_owned).as_ref()
    );
    assert!(!adopted.contains_key("nami:retained"), "{adopted:?}");

    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_destroyed(&sdk, &second).await;
    assert_eq!(leftovers(&sdk).await, Vec::<String>::new());
}
