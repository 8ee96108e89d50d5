//! `nami_webhook_pipeline` step by step, as terraform-provider-aws tests a resource: basic,
//! import-verify, update in place, replace, and every attribute set to a non-default value.
//! Destroy checks use the provider's own finders.

use nami_harness::{Moto, workspace_root};
use terraform_provider_nami::components::secret;

use crate::support::{
    Terraform, assert_destroyed, changed_artifact, decode_policy, leftovers, pipeline, sdk,
    sha256_base64,
};

/// Applies `pipeline(name)` on a fresh moto and returns it with its state.
async fn applied(
    test: &str,
    name: &str,
) -> (Moto, aws_config::SdkConfig, Terraform, serde_json::Value) {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let tf = Terraform::new(test, &moto);
    tf.write(&pipeline(name, ""));
    tf.apply();
    let state = tf.resource_values("nami_webhook_pipeline.this");
    (moto, sdk, tf, state)
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_create_checks_every_object_then_destroy_leaves_nothing() {
    let (_moto, sdk, tf, state) = applied("basic", "orders").await;

    // Every object exists with the configured settings.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = state["queue_url"].as_str().unwrap();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    use aws_sdk_sqs::types::QueueAttributeName as A;
    assert_eq!(
        attributes[&A::VisibilityTimeout],
        "180",
        "6 × the post-queue timeout by default"
    );
    assert_eq!(attributes[&A::SqsManagedSseEnabled], "true");
    let redrive: serde_json::Value = serde_json::from_str(&attributes[&A::RedrivePolicy]).unwrap();
    assert_eq!(redrive["deadLetterTargetArn"], state["dlq_arn"]);
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "5"
    );
    let tags = sqs
        .list_queue_tags()
        .queue_url(queue_url)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap();
    assert_eq!(
        (
            tags["service"].as_str(),
            tags["team"].as_str(),
            tags["nami:pipeline"].as_str()
        ),
        ("billing", "platform", "orders")
    );

    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let pre = lambda
        .get_function_configuration()
        .function_name("nami-orders-pre-queue")
        .send()
        .await
        .unwrap();
    assert_eq!(
        pre.runtime,
        Some(aws_sdk_lambda::types::Runtime::Providedal2023)
    );
    assert_eq!(
        (pre.handler.as_deref(), pre.memory_size, pre.timeout),
        (Some("bootstrap"), Some(128), Some(10))
    );
    let env = pre.environment.unwrap().variables.unwrap();
    assert_eq!(env["NAMI_QUEUE_URL"], queue_url);
    // The signing secret given by value lives in the pipeline's own secret: the environment
    // names its ARN only, and the role may read exactly that ARN.
    let secret_arn = state["signing_secret_arn"].as_str().unwrap();
    assert!(
        secret_arn.contains(":secret:nami-orders-signing-secret"),
        "{secret_arn}"
    );
    assert_eq!(
        (
            env["NAMI_SIGNATURE_SCHEME"].as_str(),
            env["NAMI_SIGNATURE_SECRET_ARN"].as_str()
        ),
        ("github", secret_arn)
    );
    assert!(!env.contains_key("NAMI_SIGNATURE_SECRET"), "{env:?}");
    assert!(
        !env.values().any(|value| value.contains("gh-secret")),
        "no secret value in the function's configuration: {env:?}"
    );
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let stored = secrets
        .get_secret_value()
        .secret_id(secret_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.secret_string.as_deref(), Some("gh-secret"));
    let installed = workspace_root().join("target/lambda/pre-queue/bootstrap.zip");
    assert_eq!(
        pre.code_sha256.unwrap(),
        sha256_base64(&installed),
        "the installed artifact by default"
    );
    let post = lambda
        .get_function_configuration()
        .function_name("nami-orders-post-queue")
        .send()
        .await
        .unwrap();
    let post_env = post.environment.unwrap().variables.unwrap();
    assert_eq!(
        (
            post_env["NAMI_MONGODB_DATABASE"].as_str(),
            post_env["NAMI_MONGODB_COLLECTION"].as_str()
        ),
        ("nami", "orders")
    );
    let mapping = lambda
        .get_event_source_mapping()
        .uuid(state["event_source_mapping_id"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(mapping.batch_size, Some(10));
    assert_eq!(
        mapping.scaling_config.and_then(|s| s.maximum_concurrency),
        Some(2)
    );
    assert_eq!(
        mapping.function_response_types.unwrap(),
        vec![aws_sdk_lambda::types::FunctionResponseType::ReportBatchItemFailures]
    );
    assert_eq!(
        mapping.event_source_arn.as_deref(),
        state["queue_arn"].as_str()
    );

    let iam = aws_sdk_iam::Client::new(&sdk);
    let policy = iam
        .get_role_policy()
        .role_name("nami-orders-pre-queue")
        .policy_name("nami")
        .send()
        .await
        .unwrap();
    let policy = decode_policy(&policy.policy_document);
    let statements = policy["Statement"].as_array().unwrap();
    assert!(
        statements
            .iter()
            .any(|s| s["Action"][0] == "sqs:SendMessage" && s["Resource"] == state["queue_arn"])
    );
    assert!(
        statements
            .iter()
            .any(|s| s["Action"][0] == "secretsmanager:GetSecretValue"
                && s["Resource"] == state["signing_secret_arn"]),
        "{policy}"
    );
    assert!(statements.iter().all(|s| {
        s["Action"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| !a.as_str().unwrap().contains('*'))
    }));

    let api = aws_sdk_apigateway::Client::new(&sdk);
    let api_id = state["api_id"].as_str().unwrap();
    let rest_api = api.get_rest_api().rest_api_id(api_id).send().await.unwrap();
    assert_eq!(
        rest_api.binary_media_types(),
        ["*/*"],
        "every body reaches the function base64-encoded, byte-exact"
    );
    let integration = api
        .get_integration()
        .rest_api_id(api_id)
        .resource_id(state["api_resource_id"].as_str().unwrap())
        .http_method("POST")
        .send()
        .await
        .unwrap();
    assert_eq!(
        integration.r#type,
        Some(aws_sdk_apigateway::types::IntegrationType::AwsProxy)
    );
    assert!(
        integration
            .uri
            .unwrap()
            .contains(state["pre_queue_function_arn"].as_str().unwrap())
    );
    let stages = api
        .get_stages()
        .rest_api_id(api_id)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        stages
            .iter()
            .filter_map(|s| s.stage_name.as_deref())
            .collect::<Vec<_>>(),
        vec!["prod"]
    );
    assert_eq!(
        state["endpoint_url"].as_str().unwrap(),
        format!("https://{api_id}.execute-api.us-east-1.amazonaws.com/prod/webhook")
    );
    let permission = lambda
        .get_policy()
        .function_name("nami-orders-pre-queue")
        .send()
        .await
        .unwrap()
        .policy
        .unwrap();
    assert!(
        permission.contains(&format!("{api_id}/prod/POST/webhook")),
        "{permission}"
    );

    let (code, output) = tf.plan();
    assert_eq!(code, 0, "plan after apply must be empty:\n{output}");

    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_destroyed(&sdk, &state).await;
    assert_eq!(
        leftovers(&sdk).await,
        Vec::<String>::new(),
        "destroy leaves nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn import_reconstructs_the_identical_state() {
    let (_moto, _sdk, tf, state) = applied("import", "orders").await;
    tf.ok(&["state", "rm", "nami_webhook_pipeline.this"]);
    tf.ok(&[
        "import",
        "-no-color",
        "nami_webhook_pipeline.this",
        "orders",
    ]);
    assert_eq!(
        tf.resource_values("nami_webhook_pipeline.this"),
        state,
        "import round trip"
    );
    let (code, output) = tf.plan();
    assert_eq!(code, 0, "plan after import must be empty:\n{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_code_and_tags_update_in_place() {
    let (_moto, sdk, tf, state) = applied("update", "orders").await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let queue_url = state["queue_url"].as_str().unwrap();

    // Update in place: batch size, window, concurrency, memory and a new artifact.
    let artifact = changed_artifact(tf.dir(), "pre-queue");
    tf.write(&pipeline(
        "orders",
        &format!(
            r#"
  pre_queue {{
    artifact = "{}"
  }}
  post_queue {{
    batch_size              = 50
    batching_window_seconds = 5
    max_concurrency         = 5
    memory_size             = 512
  }}
"#,
            artifact.display()
        ),
    ));
    let (code, output) = tf.plan();
    assert_eq!(code, 2, "{output}");
    assert!(
        output.contains("1 to change") && !output.contains("must be replaced"),
        "in place:\n{output}"
    );
    tf.apply();
    let updated = tf.resource_values("nami_webhook_pipeline.this");
    assert_eq!(
        updated["pre_queue_function_arn"], state["pre_queue_function_arn"],
        "same function, updated"
    );
    let mapping = lambda
        .get_event_source_mapping()
        .uuid(state["event_source_mapping_id"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            mapping.batch_size,
            mapping.maximum_batching_window_in_seconds
        ),
        (Some(50), Some(5))
    );
    assert_eq!(
        mapping.scaling_config.and_then(|s| s.maximum_concurrency),
        Some(5)
    );
    let post = lambda
        .get_function_configuration()
        .function_name("nami-orders-post-queue")
        .send()
        .await
        .unwrap();
    assert_eq!(post.memory_size, Some(512));
    let pre = lambda
        .get_function_configuration()
        .function_name("nami-orders-pre-queue")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.code_sha256.unwrap(), sha256_base64(&artifact));
    let (code, output) = tf.plan();
    assert_eq!(code, 0, "plan after update must be empty:\n{output}");

    // Tags change in place on every object: a removed key goes, a new one comes.
    let updated_config = std::fs::read_to_string(tf.dir().join("main.tf")).unwrap();
    let body = updated_config
        .split_once("\nresource ")
        .map(|(_, rest)| format!("resource {rest}"))
        .unwrap();
    tf.write(&body.replace("service = \"billing\"", "tier = \"gold\""));
    let (code, output) = tf.plan();
    assert_eq!(code, 2, "{output}");
    assert!(output.contains("1 to change"), "{output}");
    tf.apply();
    let queue_tags = sqs
        .list_queue_tags()
        .queue_url(queue_url)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap();
    assert_eq!(queue_tags.get("tier").map(String::as_str), Some("gold"));
    assert!(!queue_tags.contains_key("service"), "{queue_tags:?}");
    let function_tags = lambda
        .list_tags()
        .resource(state["post_queue_function_arn"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .tags
        .unwrap();
    assert_eq!(
        (
            function_tags.get("tier").map(String::as_str),
            function_tags.get("service")
        ),
        (Some("gold"), None)
    );
    let role_tags = iam
        .list_role_tags()
        .role_name("nami-orders-pre-queue")
        .send()
        .await
        .unwrap()
        .tags;
    assert!(
        role_tags
            .iter()
            .any(|t| t.key == "tier" && t.value == "gold")
            && !role_tags.iter().any(|t| t.key == "service")
    );
    // moto does not route tag calls for REST API ARNs (they contain '/'): checked on AWS only.
    let (code, output) = tf.plan();
    assert_eq!(code, 0, "after the tag change:\n{output}");

    // A new stage: the endpoint moves, and API Gateway may invoke the function from it only.
    let tagged = body.replace("service = \"billing\"", "tier = \"gold\"");
    tf.write(&tagged.replace("name = \"orders\"", "name = \"orders\"\n  stage = \"v2\""));
    tf.apply();
    let renamed = tf.resource_values("nami_webhook_pipeline.this");
    assert!(
        renamed["endpoint_url"]
            .as_str()
            .unwrap()
            .ends_with("/v2/webhook")
    );
    let permission = lambda
        .get_policy()
        .function_name(state["pre_queue_function_arn"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let permission: serde_json::Value = serde_json::from_str(&permission.policy.unwrap()).unwrap();
    assert_eq!(
        permission["Statement"].as_array().map(Vec::len),
        Some(1),
        "{permission}"
    );
    let source = permission["Statement"][0]["Condition"]["ArnLike"]["AWS:SourceArn"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        source.ends_with(&format!(
            "{}/v2/POST/webhook",
            state["api_id"].as_str().unwrap()
        )),
        "{permission}"
    );
    let (code, output) = tf.plan();
    assert_eq!(code, 0, "after the stage change:\n{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_name_replaces_the_pipeline() {
    let (_moto, sdk, tf, state) = applied("replace", "orders").await;
    tf.write(&pipeline("orders2", ""));
    let (code, output) = tf.plan();
    assert_eq!(code, 2);
    assert!(output.contains("forces replacement"), "{output}");
    tf.apply();
    let replaced = tf.resource_values("nami_webhook_pipeline.this");
    assert_ne!(replaced["queue_arn"], state["queue_arn"]);
    assert!(
        replaced["pre_queue_function_arn"]
            .as_str()
            .unwrap()
            .ends_with("nami-orders2-pre-queue")
    );
    assert_destroyed(&sdk, &state).await;
    let (code, output) = tf.plan();
    assert_eq!(code, 0, "after the replacement:\n{output}");
}

/// The defect: every plan showed empty `network {}` and `timeouts {}` blocks, and a
/// `tolerance_seconds` for schemes that sign no timestamp (github).
#[tokio::test(flavor = "multi_thread")]
async fn a_plan_shows_only_what_the_pipeline_uses() {
    let moto = Moto::start().unwrap();
    let tf = Terraform::new("plain-plan", &moto);
    tf.write(&pipeline("plain", ""));
    tf.ok(&["init", "-no-color"]);
    let (code, plan) = tf.plan();
    assert_eq!(code, 2, "{plan}");
    for absent in ["network {", "timeouts {", "tolerance_seconds"] {
        assert!(!plan.contains(absent), "{absent} in:\n{plan}");
    }
    assert!(
        plan.contains("queue {"),
        "blocks with defaults still show them:\n{plan}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signing_secret_given_by_value_follows_the_configuration() {
    let (_moto, sdk, tf, state) = applied("signing-secret", "orders").await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let clients = crate::support::provider_clients(&sdk);
    let arn = state["signing_secret_arn"].as_str().unwrap().to_owned();
    let value = async |arn: &str| secret::value(&clients, arn).await.unwrap();

    // A new value: the same secret, a new version.
    tf.write(&pipeline("orders", "").replace("gh-secret", "rotated"));
    tf.apply();
    assert_eq!(value(&arn).await.as_deref(), Some("rotated"));
    assert_eq!(
        tf.resource_values("nami_webhook_pipeline.this")["signing_secret_arn"],
        arn.as_str()
    );

    // Changed outside Terraform: the plan shows it, the apply puts it back.
    secrets
        .put_secret_value()
        .secret_id(&arn)
        .secret_string("tampered")
        .send()
        .await
        .unwrap();
    let (code, output) = tf.plan();
    assert_eq!(code, 2, "{output}");
    tf.apply();
    assert_eq!(value(&arn).await.as_deref(), Some("rotated"));

    // Given by ARN instead: the function reads the user's secret, the pipeline's goes.
    let user_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/nami/github";
    tf.write(&pipeline("orders", "").replace(
        "secret = \"gh-secret\"",
        &format!("secret_arn = \"{user_arn}\""),
    ));
    tf.apply();
    let now = tf.resource_values("nami_webhook_pipeline.this");
    assert!(now["signing_secret_arn"].is_null(), "{now}");
    let pre = aws_sdk_lambda::Client::new(&sdk)
        .get_function_configuration()
        .function_name("nami-orders-pre-queue")
        .send()
        .await
        .unwrap();
    let env = pre.environment.unwrap().variables.unwrap();
    assert_eq!(env["NAMI_SIGNATURE_SECRET_ARN"], user_arn);
    assert_eq!(value(&arn).await, None, "the pipeline's secret is deleted");
    let (code, output) = tf.plan();
    assert_eq!(code, 0, "{output}");

    // And back to a value: a new secret of the pipeline's, found again by destroy.
    tf.write(&pipeline("orders", ""));
    tf.apply();
    let back = tf.resource_values("nami_webhook_pipeline.this");
    let new_arn = back["signing_secret_arn"].as_str().unwrap();
    assert_eq!(value(new_arn).await.as_deref(), Some("gh-secret"));
    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_destroyed(&sdk, &back).await;
}
