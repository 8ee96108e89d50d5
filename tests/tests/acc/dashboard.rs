//! The pipeline's dashboard (`dashboard`, `dashboard_url`): made with the pipeline, showing its
//! own metrics and alarms, put back after an edit or a delete by hand, deleted when turned off
//! and on destroy; a dashboard of the name that is not the pipeline's is never taken over.

use aws_sdk_cloudwatch::Client as CloudWatch;
use nami_harness::Moto;
use serde_json::Value;

use crate::support::{Terraform, assert_destroyed, leftovers, pipeline, sdk};

/// The body of dashboard `name`, if it exists.
async fn body(cloudwatch: &CloudWatch, name: &str) -> Option<Value> {
    let found = cloudwatch.get_dashboard().dashboard_name(name).send().await;
    match found {
        Ok(output) => Some(serde_json::from_str(output.dashboard_body.as_deref()?).unwrap()),
        Err(error) => {
            let code = aws_sdk_cloudwatch::error::ProvideErrorMetadata::code(&error);
            assert_eq!(code, Some("ResourceNotFound"), "{error:?}");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_follows_the_configuration_and_goes_with_destroy() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let cloudwatch = CloudWatch::new(&sdk);
    let tf = Terraform::new("dashboard", &moto);
    tf.write(&pipeline("board", ""));
    tf.apply();
    let state = tf.resource_values("nami_webhook_pipeline.this");
    assert_eq!(state["dashboard"], true);
    assert_eq!(
        state["dashboard_url"],
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/nami-board"
    );
    let drawn = body(&cloudwatch, "nami-board")
        .await
        .expect("the dashboard");
    let text = drawn.to_string();
    let token = state["owner_token"].as_str().unwrap();
    assert!(text.contains(&format!("nami:owner={token}")), "{text}");
    for needle in [
        r#"["Nami","Accepted","Pipeline","board""#,
        r#"["AWS/SQS","ApproximateNumberOfMessagesVisible","QueueName","nami-board-dlq""#,
        r#"["AWS/Lambda","Duration","FunctionName","nami-board-post-queue""#,
        r#"["AWS/ApiGateway","5XXError","ApiName","nami-board","Stage","prod""#,
    ] {
        assert!(text.contains(needle), "{needle} not in {text}");
    }
    // The alarms, by their ARNs.
    let alarms = drawn["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|widget| widget["type"] == "alarm")
        .expect("an alarm widget");
    let mut shown: Vec<&str> = (alarms["properties"]["alarms"].as_array().unwrap().iter())
        .map(|arn| arn.as_str().unwrap())
        .collect();
    let mut arns: Vec<&str> = (state["alarm_arns"].as_object().unwrap().values())
        .map(|arn| arn.as_str().unwrap())
        .collect();
    shown.sort_unstable();
    arns.sort_unstable();
    assert_eq!(shown, arns);
    let (code, plan) = tf.plan();
    assert_eq!(code, 0, "{plan}");

    // Edited by hand: the plan shows it, the apply puts it back.
    cloudwatch
        .put_dashboard()
        .dashboard_name("nami-board")
        .dashboard_body(r#"{"widgets":[]}"#)
        .send()
        .await
        .unwrap();
    let (code, plan) = tf.plan();
    assert!(code == 2 && plan.contains("dashboard"), "{plan}");
    tf.apply();
    assert_eq!(body(&cloudwatch, "nami-board").await, Some(drawn.clone()));

    // Deleted by hand: made again.
    cloudwatch
        .delete_dashboards()
        .dashboard_names("nami-board")
        .send()
        .await
        .unwrap();
    let (code, plan) = tf.plan();
    assert!(code == 2 && plan.contains("dashboard_url"), "{plan}");
    tf.apply();
    assert_eq!(body(&cloudwatch, "nami-board").await, Some(drawn.clone()));
    let (code, plan) = tf.plan();
    assert_eq!(code, 0, "{plan}");

    // Without alarms, no alarm widget; turned off, gone.
    tf.write(&pipeline("board", "  alarms {\n    enabled = false\n  }\n"));
    tf.apply();
    let without_alarms = body(&cloudwatch, "nami-board").await.unwrap();
    assert!(
        !without_alarms.to_string().contains(r#""type":"alarm""#),
        "{without_alarms}"
    );
    tf.write(&pipeline("board", "  dashboard = false\n"));
    tf.apply();
    assert_eq!(body(&cloudwatch, "nami-board").await, None);
    let state = tf.resource_values("nami_webhook_pipeline.this");
    assert!(
        state["dashboard_url"].is_null(),
        "{}",
        state["dashboard_url"]
    );
    let (code, plan) = tf.plan();
    assert_eq!(code, 0, "{plan}");

    // On again, then destroyed.
    tf.write(&pipeline("board", ""));
    tf.apply();
    assert!(body(&cloudwatch, "nami-board").await.is_some());
    let state = tf.resource_values("nami_webhook_pipeline.this");
    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_destroyed(&sdk, &state).await;
    assert_eq!(body(&cloudwatch, "nami-board").await, None);
    assert_eq!(leftovers(&sdk).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dashboard_of_the_name_that_is_not_the_pipelines_is_never_taken_over() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let cloudwatch = CloudWatch::new(&sdk);
    let theirs =
        r#"{"widgets":[{"type":"text","width":6,"height":2,"properties":{"markdown":"ours"}}]}"#;
    cloudwatch
        .put_dashboard()
        .dashboard_name("nami-taken")
        .dashboard_body(theirs)
        .send()
        .await
        .unwrap();
    let tf = Terraform::new("dashboard-taken", &moto);
    tf.write(&pipeline("taken", ""));
    let (code, plan) = tf.plan();
    assert_eq!(code, 2, "{plan}");
    let output = tf.run(&["apply", "-auto-approve", "-no-color"]);
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success()
            && text.contains("objects Nami did not create")
            && text.contains("CloudWatch dashboard nami-taken"),
        "{text}"
    );
    assert_eq!(leftovers(&sdk).await, ["dashboard nami-taken"]);
    let kept = body(&cloudwatch, "nami-taken").await.unwrap();
    assert_eq!(kept, serde_json::from_str::<Value>(theirs).unwrap());
}
