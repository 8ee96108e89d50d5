//! The pipeline's alarms (`alarms {}`): made with the pipeline with their thresholds, actions
//! and tags, updated in place, put back after drift and disappearance, deleted when disabled
//! and on destroy.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::Client as CloudWatch;
use aws_sdk_cloudwatch::types::{ComparisonOperator, MetricAlarm};
use nami_harness::Moto;

use crate::support::{Terraform, assert_destroyed, leftovers, pipeline, sdk};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:on-call";

/// The alarms whose names start with `nami-<pipeline>-`, by name.
async fn alarms(cloudwatch: &CloudWatch, pipeline: &str) -> BTreeMap<String, MetricAlarm> {
    let page = cloudwatch
        .describe_alarms()
        .alarm_name_prefix(format!("nami-{pipeline}-"))
        .send()
        .await
        .unwrap();
    (page.metric_alarms.unwrap_or_default().into_iter())
        .map(|alarm| (alarm.alarm_name.clone().unwrap_or_default(), alarm))
        .collect()
}

async fn tags(cloudwatch: &CloudWatch, arn: &str) -> BTreeMap<String, String> {
    let listed = cloudwatch
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    (listed.tags.unwrap_or_default().into_iter())
        .map(|tag| (tag.key.unwrap_or_default(), tag.value.unwrap_or_default()))
        .collect()
}

fn dimension<'a>(alarm: &'a MetricAlarm, name: &str) -> Option<&'a str> {
    (alarm.dimensions())
        .iter()
        .find(|d| d.name.as_deref() == Some(name))
        .and_then(|d| d.value.as_deref())
}

#[tokio::test(flavor = "multi_thread")]
async fn alarms_follow_the_configuration_and_go_with_destroy() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let cloudwatch = CloudWatch::new(&sdk);
    let tf = Terraform::new("alarms", &moto);

    // A share CloudWatch could not mean fails the plan, naming the attribute.
    tf.write(&pipeline(
        "watch",
        "  alarms {\n    pre_queue_5xx_percent = 0\n  }\n",
    ));
    let (code, plan) = tf.plan();
    assert!(
        code == 1 && plan.contains("pre_queue_5xx_percent"),
        "{plan}"
    );

    tf.write(&pipeline(
        "watch",
        &format!(
            "  alarms {{\n    actions = [\"{TOPIC}\"]\n    pre_queue_5xx_percent = 10\n  }}\n"
        ),
    ));
    tf.apply();
    let state = tf.resource_values("nami_webhook_pipeline.this");
    let token = state["owner_token"].as_str().unwrap().to_owned();
    // The default age: a tenth of the queue's retention (14 days).
    assert_eq!(state["alarms"]["oldest_message_age_seconds"], 120_960);
    let arns = state["alarm_arns"].as_object().unwrap().clone();
    let live = alarms(&cloudwatch, "watch").await;
    let names: Vec<&str> = live.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "nami-watch-dead-letters",
            "nami-watch-oldest-message-age",
            "nami-watch-post-queue-errors",
            "nami-watch-post-queue-throttles",
            "nami-watch-pre-queue-5xx",
        ]
    );
    assert_eq!(arns.len(), 5, "{arns:?}");
    for (key, arn) in &arns {
        let name = format!("nami-watch-{}", key.replace('_', "-"));
        let alarm = &live[&name];
        assert_eq!(alarm.alarm_arn.as_deref(), arn.as_str(), "{name}");
        assert_eq!(alarm.alarm_actions(), [TOPIC], "{name}");
        assert_eq!(alarm.ok_actions(), [TOPIC], "{name}");
        assert_eq!(
            alarm.comparison_operator,
            Some(ComparisonOperator::GreaterThanThreshold)
        );
        let tags = tags(&cloudwatch, arn.as_str().unwrap()).await;
        assert_eq!(tags.get("nami:owner"), Some(&token), "{name}: {tags:?}");
        assert_eq!(tags.get("service").map(String::as_str), Some("billing"));
    }
    let dead_letters = &live["nami-watch-dead-letters"];
    assert_eq!(dead_letters.namespace.as_deref(), Some("AWS/SQS"));
    assert_eq!(
        dead_letters.metric_name.as_deref(),
        Some("ApproximateNumberOfMessagesVisible")
    );
    assert_eq!(dimension(dead_letters, "QueueName"), Some("nami-watch-dlq"));
    assert_eq!(dead_letters.threshold, Some(0.0));
    let oldest = &live["nami-watch-oldest-message-age"];
    assert_eq!(dimension(oldest, "QueueName"), Some("nami-watch"));
    assert_eq!(oldest.threshold, Some(120_960.0));
    let errors = &live["nami-watch-post-queue-errors"];
    assert_eq!(errors.namespace.as_deref(), Some("AWS/Lambda"));
    assert_eq!(
        dimension(errors, "FunctionName"),
        Some("nami-watch-post-queue")
    );
    let five_xx = &live["nami-watch-pre-queue-5xx"];
    assert_eq!(five_xx.namespace.as_deref(), Some("AWS/ApiGateway"));
    assert_eq!(dimension(five_xx, "ApiName"), Some("nami-watch"));
    assert_eq!(dimension(five_xx, "Stage"), Some("prod"));
    assert_eq!(five_xx.threshold, Some(0.1));
    let (code, plan) = tf.plan();
    assert_eq!(code, 0, "{plan}");

    // Update in place: a threshold and the actions.
    tf.write(&pipeline(
        "watch",
        "  alarms {\n    oldest_message_age_seconds = 900\n    pre_queue_5xx_percent = 10\n  }\n",
    ));
    let (code, plan) = tf.plan();
    assert!(
        code == 2
            && plan.contains("oldest_message_age_seconds")
            && !plan.contains("must be replaced"),
        "{plan}"
    );
    tf.apply();
    let live = alarms(&cloudwatch, "watch").await;
    assert_eq!(live["nami-watch-oldest-message-age"].threshold, Some(900.0));
    for (name, alarm) in &live {
        assert!(alarm.alarm_actions().is_empty(), "{name}: {alarm:?}");
    }
    assert_eq!(
        tf.resource_values("nami_webhook_pipeline.this")["alarm_arns"],
        serde_json::Value::Object(arns.clone()),
        "updated in place, the same alarms"
    );

    // Drift: a threshold changed out of band shows in the plan and is put back.
    cloudwatch
        .put_metric_alarm()
        .alarm_name("nami-watch-pre-queue-5xx")
        .namespace("AWS/ApiGateway")
        .metric_name("5XXError")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
        .period(300)
        .evaluation_periods(1)
        .threshold(0.5)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    let (code, plan) = tf.plan();
    assert!(
        code == 2 && plan.contains("pre_queue_5xx_percent"),
        "{plan}"
    );
    tf.apply();
    let live = alarms(&cloudwatch, "watch").await;
    assert_eq!(live["nami-watch-pre-queue-5xx"].threshold, Some(0.1));

    // Disappears: an alarm deleted out of band is made again.
    cloudwatch
        .delete_alarms()
        .alarm_names("nami-watch-dead-letters")
        .send()
        .await
        .unwrap();
    let (code, plan) = tf.plan();
    assert!(code == 2 && plan.contains("alarm_arns"), "{plan}");
    tf.apply();
    assert_eq!(alarms(&cloudwatch, "watch").await.len(), 5);
    let (code, plan) = tf.plan();
    assert_eq!(code, 0, "{plan}");

    // Disabled: the alarms go, and so does their output.
    tf.write(&pipeline("watch", "  alarms {\n    enabled = false\n  }\n"));
    tf.apply();
    assert!(alarms(&cloudwatch, "watch").await.is_empty());
    let state = tf.resource_values("nami_webhook_pipeline.this");
    assert!(state["alarm_arns"].is_null(), "{}", state["alarm_arns"]);
    let (code, plan) = tf.plan();
    assert_eq!(code, 0, "{plan}");

    // Enabled again (the default), then destroyed: made, then gone.
    tf.write(&pipeline("watch", ""));
    tf.apply();
    assert_eq!(alarms(&cloudwatch, "watch").await.len(), 5);
    let state = tf.resource_values("nami_webhook_pipeline.this");
    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_destroyed(&sdk, &state).await;
    assert!(alarms(&cloudwatch, "watch").await.is_empty());
    assert_eq!(leftovers(&sdk).await, Vec::<String>::new());
}
