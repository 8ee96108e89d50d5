//! Every attribute of `nami_webhook_pipeline` set to a value other than its default, each one
//! checked against the AWS object it configures — IAM statements in full — so a create that
//! ignored any of them fails here.

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName as Attr;
use nami_harness::Moto;
use serde_json::json;

use crate::support::{
    Terraform, assert_destroyed, changed_artifact, decode_policy, leftovers, sdk, sha256_base64,
    user_network,
};

const SECRET_ARN: &str = "arn:aws:ssm:us-east-1:123456789012:parameter/nami/everything";
const MONGODB_URI: &str = "mongodb://db.internal:27017/?directConnection=true";

fn config(vpc_id: &str, subnets: &[String], pre_artifact: &str, post_artifact: &str) -> String {
    let subnets = subnets
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
resource "nami_webhook_pipeline" "this" {{
  name          = "everything"
  stage         = "live"
  tags          = {{ service = "billing" }}
  force_destroy = true
  log_retention_days = 60
  retain_logs        = true
  dashboard          = false

  alarms {{
    actions                    = ["arn:aws:sns:us-east-1:123456789012:on-call"]
    oldest_message_age_seconds = 3600
    pre_queue_5xx_percent      = 2
  }}

  api {{
    throttle_rate  = 50
    throttle_burst = 100
  }}

  signature {{
    scheme            = "hmac"
    secret_arn        = "{SECRET_ARN}"
    delivery_id       = "json:/event/id"
    header            = "X-Signature"
    algorithm         = "sha1"
    encoding          = "base64"
    prefix            = "sha1="
    replay_window_seconds = 900
  }}

  queue {{
    visibility_timeout_seconds = 400
    retention_seconds          = 7200
    max_receive_count          = 7
    dlq_retention_seconds      = 86400
    max_message_bytes          = 65536
  }}

  pre_queue {{
    memory_size          = 256
    timeout              = 20
    artifact             = "{pre_artifact}"
    reserved_concurrency = 20
  }}

  post_queue {{
    batch_size              = 25
    batching_window_seconds = 3
    max_concurrency         = 7
    memory_size             = 1024
    timeout                 = 12
    artifact                = "{post_artifact}"
  }}

  store {{
    mongodb_uri = "{MONGODB_URI}"
    database    = "events"
    collection  = "inbound"
  }}

  network {{
    vpc_id     = "{vpc_id}"
    subnet_ids = [{subnets}]
  }}

  timeouts {{
    create = "10m"
    update = "11m"
    delete = "12m"
  }}
}}
"#
    )
}

fn strings(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_attribute_reaches_its_aws_object() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let (vpc_id, subnets) = user_network(&ec2, 40).await;
    let tf = Terraform::new("every-attribute", &moto);
    let pre_artifact = changed_artifact(tf.dir(), "pre-queue");
    let post_artifact = changed_artifact(tf.dir(), "post-queue");
    let everything = config(
        &vpc_id,
        &subnets,
        &pre_artifact.display().to_string(),
        &post_artifact.display().to_string(),
    );
    tf.write(&everything);
    tf.apply();
    let state = tf.resource_values("nami_webhook_pipeline.this");
    let id = |key: &str| state[key].as_str().unwrap().to_owned();
    let (queue_url, queue_arn) = (id("queue_url"), id("queue_arn"));

    // queue {}: both queues.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let attributes = |url: String| {
        let sqs = sqs.clone();
        async move {
            sqs.get_queue_attributes()
                .queue_url(url)
                .attribute_names(Attr::All)
                .send()
                .await
                .unwrap()
                .attributes
                .unwrap()
        }
    };
    let main = attributes(queue_url.clone()).await;
    assert_eq!(
        (
            main[&Attr::VisibilityTimeout].as_str(),
            main[&Attr::MessageRetentionPeriod].as_str(),
            main[&Attr::MaximumMessageSize].as_str(),
        ),
        ("400", "7200", "65536")
    );
    let redrive: serde_json::Value = serde_json::from_str(&main[&Attr::RedrivePolicy]).unwrap();
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "7"
    );
    assert_eq!(redrive["deadLetterTargetArn"], state["dlq_arn"]);
    let dlq = attributes(id("dlq_url")).await;
    assert_eq!(
        (
            dlq[&Attr::MessageRetentionPeriod].as_str(),
            dlq[&Attr::MaximumMessageSize].as_str()
        ),
        ("86400", "65536")
    );

    // pre_queue {} and signature {}: the function and its whole environment.
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let configuration = |name: &'static str| {
        let lambda = lambda.clone();
        async move {
            lambda
                .get_function_configuration()
                .function_name(name)
                .send()
                .await
                .unwrap()
        }
    };
    let pre = configuration("nami-everything-pre-queue").await;
    assert_eq!((pre.memory_size, pre.timeout), (Some(256), Some(20)));
    assert_eq!(pre.code_sha256.unwrap(), sha256_base64(&pre_artifact));
    assert_eq!(
        pre.environment.unwrap().variables.unwrap(),
        strings(&[
            ("NAMI_PIPELINE", "everything"),
            ("NAMI_QUEUE_URL", &queue_url),
            ("NAMI_MAX_MESSAGE_BYTES", "65536"),
            ("NAMI_SIGNATURE_SCHEME", "hmac"),
            ("NAMI_SIGNATURE_SECRET_ARN", SECRET_ARN),
            ("NAMI_DELIVERY_ID", "json:/event/id"),
            ("NAMI_SIGNATURE_HEADER", "X-Signature"),
            ("NAMI_SIGNATURE_ALGORITHM", "sha1"),
            ("NAMI_SIGNATURE_ENCODING", "base64"),
            ("NAMI_SIGNATURE_PREFIX", "sha1="),
            ("NAMI_REPLAY_WINDOW_SECONDS", "900"),
            ("NAMI_REPLAY_TABLE", "nami-everything-replay"),
        ])
    );

    // post_queue {}, store {} and network {}: the function, its environment and placement.
    let post = configuration("nami-everything-post-queue").await;
    assert_eq!((post.memory_size, post.timeout), (Some(1024), Some(12)));
    assert_eq!(post.code_sha256.unwrap(), sha256_base64(&post_artifact));
    // The connection string is in the pipeline's secret; the environment names its ARN only.
    let uri_secret = id("store_uri_secret_arn");
    let kept = aws_sdk_secretsmanager::Client::new(&sdk)
        .get_secret_value()
        .secret_id(&uri_secret)
        .send()
        .await
        .unwrap()
        .secret_string;
    assert_eq!(kept.as_deref(), Some(MONGODB_URI));
    assert_eq!(
        post.environment.unwrap().variables.unwrap(),
        strings(&[
            ("NAMI_PIPELINE", "everything"),
            ("NAMI_MONGODB_URI_SECRET_ARN", &uri_secret),
            ("NAMI_MONGODB_DATABASE", "events"),
            ("NAMI_MONGODB_COLLECTION", "inbound"),
            ("NAMI_MONGODB_TIMEOUT_MS", "4000"),
        ]),
        "a third of the 12 s timeout for server selection"
    );
    let vpc = post.vpc_config.unwrap();
    let mut placed = vpc.subnet_ids.unwrap();
    placed.sort();
    let mut expected = subnets.clone();
    expected.sort();
    assert_eq!(placed, expected);
    assert_eq!(
        vpc.security_group_ids.unwrap(),
        vec![id("security_group_id")]
    );
    assert_eq!(state["vpc_id"], vpc_id.as_str());

    // The mapping.
    let mapping = lambda
        .get_event_source_mapping()
        .uuid(id("event_source_mapping_id"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            mapping.batch_size,
            mapping.maximum_batching_window_in_seconds,
            mapping.scaling_config.and_then(|s| s.maximum_concurrency),
        ),
        (Some(25), Some(3), Some(7))
    );
    assert_eq!(
        mapping.event_source_arn.as_deref(),
        Some(queue_arn.as_str())
    );

    // Both roles: trust and every statement, in full.
    let iam = aws_sdk_iam::Client::new(&sdk);
    let account = id("pre_queue_role_arn")
        .split(':')
        .nth(4)
        .unwrap()
        .to_owned();
    let ec2 = |kind: &str, id: &str| format!("arn:aws:ec2:us-east-1:{account}:{kind}/{id}");
    let logs = |function: &str| {
        json!({
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": format!("arn:aws:logs:us-east-1:{account}:log-group:/aws/lambda/{function}:*")
        })
    };
    let expected_policies = [
        (
            "nami-everything-pre-queue",
            json!({ "Version": "2012-10-17", "Statement": [
                logs("nami-everything-pre-queue"),
                { "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": queue_arn },
                { "Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": SECRET_ARN },
                { "Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": id("replay_table_arn") },
            ]}),
        ),
        (
            "nami-everything-post-queue",
            json!({ "Version": "2012-10-17", "Statement": [
                logs("nami-everything-post-queue"),
                {
                    "Effect": "Allow",
                    "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                    "Resource": queue_arn
                },
                { "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": uri_secret },
                { "Effect": "Allow", "Action": ["ec2:DescribeNetworkInterfaces"], "Resource": "*" },
                {
                    "Effect": "Allow",
                    "Action": ["ec2:CreateNetworkInterface"],
                    "Resource": [
                        ec2("network-interface", "*"),
                        ec2("security-group", &id("security_group_id")),
                        ec2("subnet", state["subnet_ids"][0].as_str().unwrap()),
                        ec2("subnet", state["subnet_ids"][1].as_str().unwrap()),
                    ]
                },
                {
                    "Effect": "Allow",
                    "Action": [
                        "ec2:DeleteNetworkInterface",
                        "ec2:AssignPrivateIpAddresses",
                        "ec2:UnassignPrivateIpAddresses"
                    ],
                    "Resource": ec2("network-interface", "*")
                },
                {
                    "Effect": "Deny",
                    "Action": [
                        "ec2:CreateNetworkInterface",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DeleteNetworkInterface",
                        "ec2:AssignPrivateIpAddresses",
                        "ec2:UnassignPrivateIpAddresses"
                    ],
                    "Resource": "*",
                    "Condition": { "ArnEquals": { "lambda:SourceFunctionArn":
                        format!("arn:aws:lambda:us-east-1:{account}:function:nami-everything-post-queue") } }
                },
            ]}),
        ),
    ];
    for (role, expected) in expected_policies {
        let policy = iam
            .get_role_policy()
            .role_name(role)
            .policy_name("nami")
            .send()
            .await
            .unwrap();
        assert_eq!(decode_policy(&policy.policy_document), expected, "{role}");
        let trust = iam.get_role().role_name(role).send().await.unwrap();
        let trust = decode_policy(&trust.role.unwrap().assume_role_policy_document.unwrap());
        assert_eq!(
            trust["Statement"][0]["Principal"]["Service"], "lambda.amazonaws.com",
            "{role}"
        );
        assert_eq!(
            trust["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"],
            account.as_str(),
            "{role}: assumed only for this account"
        );
    }

    // stage: the only stage, and the endpoint under it.
    let api = aws_sdk_apigateway::Client::new(&sdk);
    let stages = api
        .get_stages()
        .rest_api_id(id("api_id"))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let stages: Vec<_> = stages
        .iter()
        .filter_map(|s| s.stage_name.as_deref())
        .collect();
    assert_eq!(stages, ["live"]);
    assert!(id("endpoint_url").ends_with("/live/webhook"));
    // api {}: the stage's throttle on every method.
    let live = api
        .get_stage()
        .rest_api_id(id("api_id"))
        .stage_name("live")
        .send()
        .await
        .unwrap();
    let all = &live.method_settings.unwrap()["*/*"];
    assert_eq!(
        (all.throttling_rate_limit, all.throttling_burst_limit),
        (50.0, 100)
    );
    // pre_queue.reserved_concurrency.
    let concurrency = aws_sdk_lambda::Client::new(&sdk)
        .get_function_concurrency()
        .function_name(id("pre_queue_function_arn"))
        .send()
        .await
        .unwrap();
    assert_eq!(concurrency.reserved_concurrent_executions, Some(20));
    assert_eq!(state["force_destroy"], true);
    // log_retention_days: both functions' groups (retain_logs: checked at destroy).
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let groups = logs
        .describe_log_groups()
        .log_group_name_prefix("/aws/lambda/nami-everything-")
        .send()
        .await
        .unwrap()
        .log_groups
        .unwrap();
    let retention: Vec<_> = (groups.iter())
        .map(|g| (g.log_group_name.as_deref().unwrap(), g.retention_in_days))
        .collect();
    assert_eq!(
        retention,
        [
            ("/aws/lambda/nami-everything-post-queue", Some(60)),
            ("/aws/lambda/nami-everything-pre-queue", Some(60))
        ]
    );
    // alarms: the thresholds and actions as configured, on this stage's 5xx.
    let alarms = aws_sdk_cloudwatch::Client::new(&sdk)
        .describe_alarms()
        .alarm_name_prefix("nami-everything-")
        .send()
        .await
        .unwrap()
        .metric_alarms
        .unwrap();
    assert_eq!(alarms.len(), 5, "{alarms:?}");
    for alarm in &alarms {
        assert_eq!(
            alarm.alarm_actions(),
            ["arn:aws:sns:us-east-1:123456789012:on-call"]
        );
        let threshold = alarm.threshold.unwrap();
        match alarm.alarm_name.as_deref().unwrap() {
            "nami-everything-oldest-message-age" => assert_eq!(threshold, 3600.0),
            "nami-everything-pre-queue-5xx" => {
                assert_eq!(threshold, 0.02);
                let stage = alarm
                    .dimensions()
                    .iter()
                    .find(|d| d.name.as_deref() == Some("Stage"));
                assert_eq!(stage.and_then(|d| d.value.as_deref()), Some("live"));
            }
            _ => assert_eq!(threshold, 0.0),
        }
    }
    // dashboard = false: none, and no URL.
    assert!(state["dashboard_url"].is_null());
    let dashboards = aws_sdk_cloudwatch::Client::new(&sdk)
        .list_dashboards()
        .send()
        .await
        .unwrap();
    assert!(dashboards.dashboard_entries().is_empty(), "{dashboards:?}");
    // API Gateway may invoke the pre-queue function from this API's stage and route only.
    let permission = aws_sdk_lambda::Client::new(&sdk)
        .get_policy()
        .function_name(id("pre_queue_function_arn"))
        .send()
        .await
        .unwrap();
    let permission: serde_json::Value = serde_json::from_str(&permission.policy.unwrap()).unwrap();
    assert_eq!(
        permission["Statement"][0]["Condition"]["ArnLike"]["AWS:SourceArn"],
        format!(
            "arn:aws:execute-api:us-east-1:{account}:{}/live/POST/webhook",
            id("api_id")
        )
    );

    // timeouts {} live in state only (an optional block: a list of at most one).
    assert_eq!(
        state["timeouts"],
        json!([{ "create": "10m", "update": "11m", "delete": "12m" }])
    );

    let (code, output) = tf.plan();
    assert_eq!(
        code, 0,
        "every attribute reads back as configured:\n{output}"
    );

    // tolerance_seconds applies to the schemes that sign a timestamp.
    let start = everything.find("  signature {").unwrap();
    let end = start + everything[start..].find("  }\n").unwrap() + 4;
    let stripe = format!(
        "{}  signature {{\n    scheme            = \"stripe\"\n    secret_arn        = \"{SECRET_ARN}\"\n    tolerance_seconds = 120\n  }}\n{}",
        &everything[..start],
        &everything[end..]
    );
    tf.write(&stripe);
    tf.apply();
    let variables = configuration("nami-everything-pre-queue")
        .await
        .environment
        .unwrap()
        .variables
        .unwrap();
    assert_eq!(variables["NAMI_SIGNATURE_SCHEME"], "stripe");
    assert_eq!(variables["NAMI_SIGNATURE_TOLERANCE_SECONDS"], "120");
    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_destroyed(&sdk, &state).await;
    // retain_logs: the log groups, and nothing else, outlive the pipeline.
    assert_eq!(
        leftovers(&sdk).await,
        [
            "log group /aws/lambda/nami-everything-post-queue",
            "log group /aws/lambda/nami-everything-pre-queue"
        ]
    );
}
