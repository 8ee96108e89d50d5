//! `signature.replay_window_seconds`: the replay table, the pre-queue function's variables and
//! its one grant on the table, through create, import, removal and destroy; refused at plan for
//! schemes that sign a timestamp.

use nami_harness::Moto;

use crate::support::{Terraform, decode_policy, function_environment, leftovers, sdk};

fn config(scheme: &str, secret: &str, replay: &str) -> String {
    format!(
        r#"
resource "nami_webhook_pipeline" "this" {{
  name = "hooks"

  signature {{
    scheme = "{scheme}"
    secret = "{secret}"
{replay}
  }}

  store {{
    mongodb_uri = "mongodb://db.internal:27017/?directConnection=true"
  }}
}}
"#
    )
}

async fn pre_queue_policy(iam: &aws_sdk_iam::Client) -> serde_json::Value {
    let policy = iam
        .get_role_policy()
        .role_name("nami-hooks-pre-queue")
        .policy_name("nami")
        .send()
        .await
        .unwrap();
    decode_policy(&policy.policy_document)
}

fn puts_on(policy: &serde_json::Value) -> Vec<String> {
    (policy["Statement"].as_array().unwrap().iter())
        .filter(|s| s["Action"].to_string().contains("dynamodb:"))
        .map(|s| format!("{} {}", s["Action"], s["Resource"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replay_window_keeps_a_table_the_pre_queue_function_alone_writes() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let tf = Terraform::new("replay", &moto);

    // Schemes that sign a timestamp refuse replays by their tolerance: refused at plan.
    tf.write(&config(
        "stripe",
        "whsec_x",
        "    replay_window_seconds = 3600",
    ));
    tf.ok(&["init", "-no-color"]);
    let (code, output) = tf.plan();
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("Replay window with this scheme"),
        "{output}"
    );
    tf.write(&config("github", "gh", "    replay_window_seconds = 10"));
    let (code, output) = tf.plan();
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("replay_window_seconds"), "{output}");

    tf.write(&config("github", "gh", "    replay_window_seconds = 3600"));
    tf.apply();
    let state = tf.resource_values("nami_webhook_pipeline.this");
    let table_arn = state["replay_table_arn"].as_str().unwrap().to_owned();
    assert!(
        table_arn.ends_with(":table/nami-hooks-replay"),
        "{table_arn}"
    );

    // The table: keyed by the body's digest, on demand, records expiring by TTL.
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = dynamodb
        .describe_table()
        .table_name("nami-hooks-replay")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let key: Vec<(String, String)> = (table.key_schema.unwrap().into_iter())
        .map(|k| (k.attribute_name, k.key_type.as_str().to_owned()))
        .collect();
    assert_eq!(key, [("body_sha256".to_owned(), "HASH".to_owned())]);
    assert_eq!(
        table
            .billing_mode_summary
            .and_then(|b| b.billing_mode)
            .map(|m| m.as_str().to_owned())
            .as_deref(),
        Some("PAY_PER_REQUEST")
    );
    let ttl = dynamodb
        .describe_time_to_live()
        .table_name("nami-hooks-replay")
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.attribute_name.as_deref(), Some("expires_at"));
    assert_eq!(
        ttl.time_to_live_status
            .map(|s| s.as_str().to_owned())
            .as_deref(),
        Some("ENABLED")
    );

    // The function: its window and table by name; its role may put items there, nothing more.
    let env = function_environment(&sdk, "nami-hooks-pre-queue").await;
    assert_eq!(env["NAMI_REPLAY_WINDOW_SECONDS"], "3600");
    assert_eq!(env["NAMI_REPLAY_TABLE"], "nami-hooks-replay");
    let iam = aws_sdk_iam::Client::new(&sdk);
    assert_eq!(
        puts_on(&pre_queue_policy(&iam).await),
        [format!("[\"dynamodb:PutItem\"] \"{table_arn}\"")]
    );
    let (code, output) = tf.plan();
    assert_eq!(code, 0, "{output}");

    // Import reads the window back and finds the table.
    tf.ok(&["state", "rm", "nami_webhook_pipeline.this"]);
    tf.ok(&["import", "-no-color", "nami_webhook_pipeline.this", "hooks"]);
    let imported = tf.resource_values("nami_webhook_pipeline.this");
    assert_eq!(imported["replay_table_arn"], table_arn.as_str());
    assert_eq!(imported["signature"]["replay_window_seconds"], 3600);
    let (code, output) = tf.plan();
    assert_eq!(code, 0, "{output}");

    // Without the window: the variables, the grant and the table go.
    tf.write(&config("github", "gh", ""));
    tf.apply();
    let state = tf.resource_values("nami_webhook_pipeline.this");
    assert_eq!(state["replay_table_arn"], serde_json::Value::Null);
    let tables = dynamodb
        .list_tables()
        .send()
        .await
        .unwrap()
        .table_names
        .unwrap_or_default();
    assert!(tables.is_empty(), "{tables:?}");
    assert!(puts_on(&pre_queue_policy(&iam).await).is_empty());
    let env = function_environment(&sdk, "nami-hooks-pre-queue").await;
    assert!(!env.contains_key("NAMI_REPLAY_TABLE"), "{env:?}");
    let (code, output) = tf.plan();
    assert_eq!(code, 0, "{output}");

    // Back on, then destroy: nothing left, the table included.
    tf.write(&config("github", "gh", "    replay_window_seconds = 600"));
    tf.apply();
    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(leftovers(&sdk).await, Vec::<String>::new());
}
