//! `nami_webhook_pipeline`: basic, import, update, disappears, validation, failed create, network.

use std::io::Write as _;

use nami_harness::{Moto, workspace_root};

use crate::support::{Terraform, decode_policy, leftovers, sdk};

fn pipeline(name: &str, extra: &str) -> String {
    format!(
        r#"
resource "nami_webhook_pipeline" "this" {{
  name = "{name}"
  tags = {{ service = "billing" }}

  signature {{
    scheme = "github"
    secret = "gh-secret"
  }}

  store {{
    mongodb_uri = "mongodb://db.internal:27017/?directConnection=true"
  }}
{extra}
}}

output "endpoint_url" {{
  value = nami_webhook_pipeline.this.endpoint_url
}}
"#
    )
}

/// A copy of the installed pre-queue artifact with one more file: same code, different hash.
fn changed_artifact(dir: &std::path::Path) -> std::path::PathBuf {
    let original = workspace_root().join("target/lambda/pre-queue/bootstrap.zip");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(original).unwrap()).unwrap();
    let path = dir.join("custom-pre-queue.zip");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    writer
        .raw_copy_file(archive.by_name("bootstrap").unwrap())
        .unwrap();
    writer
        .start_file("VERSION", zip::write::SimpleFileOptions::default())
        .unwrap();
    writer.write_all(b"custom build 2\n").unwrap();
    writer.finish().unwrap();
    path
}

fn sha256_base64(path: &std::path::Path) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::STANDARD
        .encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// A user's own VPC `10.<octet>.0.0/16` with subnets in two availability zones.
async fn user_network(ec2: &aws_sdk_ec2::Client, octet: u8) -> (String, Vec<String>) {
    let vpc = ec2
        .create_vpc()
        .cidr_block(format!("10.{octet}.0.0/16"))
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc.unwrap().vpc_id.unwrap();
    let mut subnets = Vec::new();
    for (index, zone) in ["us-east-1a", "us-east-1b"].into_iter().enumerate() {
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(format!("10.{octet}.{}.0/24", index + 1))
            .availability_zone(zone)
            .send()
            .await
            .unwrap();
        subnets.push(subnet.subnet.unwrap().subnet_id.unwrap());
    }
    (vpc_id, subnets)
}

#[tokio::test(flavor = "multi_thread")]
async fn create_import_update_and_destroy() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let tf = Terraform::new("lifecycle", &moto);
    tf.write(&pipeline("orders", ""));
    tf.apply();

    // Every object exists with the configured settings.
    let state = tf.resource_values("nami_webhook_pipeline.this");
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
    assert_eq!(
        (
            env["NAMI_SIGNATURE_SCHEME"].as_str(),
            env["NAMI_SIGNATURE_SECRET"].as_str()
        ),
        ("github", "gh-secret")
    );
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
        permission.contains(&format!("{api_id}/*/POST/webhook")),
        "{permission}"
    );

    // A second plan is empty.
    let (code, output) = tf.plan();
    assert_eq!(code, 0, "plan after apply must be empty:\n{output}");

    // Import reconstructs the identical state.
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

    // Update in place: batch size, window, concurrency, memory and a new artifact.
    let artifact = changed_artifact(tf.dir());
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

    // Changing the name replaces, and says so.
    tf.write(&pipeline("orders2", ""));
    let (code, output) = tf.plan();
    assert_eq!(code, 2);
    assert!(output.contains("forces replacement"), "{output}");

    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(
        leftovers(&sdk).await,
        Vec::<String>::new(),
        "destroy leaves nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_deleted_out_of_band_are_repaired_and_a_vanished_pipeline_leaves_state() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let tf = Terraform::new("disappears", &moto);
    tf.write(&pipeline("shop", ""));
    tf.apply();
    let state = tf.resource_values("nami_webhook_pipeline.this");
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let lambda = aws_sdk_lambda::Client::new(&sdk);

    // The DLQ and the post-queue function vanish.
    sqs.delete_queue()
        .queue_url(state["dlq_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    lambda
        .delete_function()
        .function_name("nami-shop-post-queue")
        .send()
        .await
        .unwrap();
    let (code, output) = tf.plan();
    assert_eq!(code, 2, "{output}");
    assert!(
        output.contains("dlq_arn") && output.contains("post_queue_function_arn"),
        "{output}"
    );
    tf.apply();
    assert!(
        sqs.get_queue_url()
            .queue_name("nami-shop-dlq")
            .send()
            .await
            .is_ok(),
        "DLQ re-created"
    );
    let post = lambda
        .get_function_configuration()
        .function_name("nami-shop-post-queue")
        .send()
        .await
        .unwrap();
    assert_eq!(post.memory_size, Some(256));
    let mappings = lambda
        .list_event_source_mappings()
        .function_name("nami-shop-post-queue")
        .send()
        .await
        .unwrap();
    assert_eq!(
        mappings.event_source_mappings.unwrap().len(),
        1,
        "mapping re-made for the new function"
    );
    let (code, output) = tf.plan();
    assert_eq!(code, 0, "repaired:\n{output}");

    // Everything vanishes: the next plan creates it again instead of failing.
    let state = tf.resource_values("nami_webhook_pipeline.this");
    let api = aws_sdk_apigateway::Client::new(&sdk);
    api.delete_rest_api()
        .rest_api_id(state["api_id"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    for function in ["nami-shop-pre-queue", "nami-shop-post-queue"] {
        lambda
            .delete_function()
            .function_name(function)
            .send()
            .await
            .unwrap();
    }
    for url in [&state["queue_url"], &state["dlq_url"]] {
        sqs.delete_queue()
            .queue_url(url.as_str().unwrap())
            .send()
            .await
            .unwrap();
    }
    let (code, output) = tf.plan();
    assert_eq!(code, 2, "{output}");
    assert!(
        output.contains("1 to add, 0 to change, 0 to destroy"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_configuration_fails_at_plan_naming_the_attribute() {
    let moto = Moto::start().unwrap();
    let tf = Terraform::new("validation", &moto);
    tf.write(&pipeline("ok", ""));
    tf.ok(&["init", "-no-color"]);
    let cases = [
        (pipeline("Bad_Name", ""), "Invalid pipeline name", "name"),
        (
            pipeline("p", "  post_queue {\n    max_concurrency = 1\n  }\n"),
            "1 is outside 2–1000",
            "max_concurrency",
        ),
        (
            pipeline("p", "  post_queue {\n    batch_size = 500\n  }\n"),
            "batch_size 500 is over 10",
            "batching_window_seconds",
        ),
        (
            pipeline("p", "  queue {\n    visibility_timeout_seconds = 60\n  }\n"),
            "less than 6 × post_queue.timeout",
            "visibility_timeout_seconds",
        ),
        (
            pipeline("p", "  pre_queue {\n    timeout = 60\n  }\n"),
            "60 is outside 1–29",
            "timeout",
        ),
        (
            pipeline("p", "").replace("scheme = \"github\"", "scheme = \"gitlab\""),
            "Unknown signature scheme",
            "scheme",
        ),
        (
            pipeline("p", "").replace("secret = \"gh-secret\"", ""),
            "Secret required",
            "secret",
        ),
        (
            pipeline("p", "").replace("mongodb://", "postgres://"),
            "Invalid MongoDB connection string",
            "mongodb_uri",
        ),
        (
            pipeline("p", "  network {\n    vpc_id = \"vpc-1\"\n  }\n"),
            "Subnets required",
            "subnet_ids",
        ),
    ];
    for (config, message, attribute) in cases {
        tf.write(&config);
        let (code, output) = tf.plan();
        assert_eq!(code, 1, "{message}: plan must fail:\n{output}");
        assert!(output.contains(message), "expected {message:?}:\n{output}");
        assert!(
            output.contains(attribute),
            "expected attribute {attribute:?} named:\n{output}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_failing_at_the_ec2_step_leaves_state_that_destroy_cleans_up() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let (vpc_id, subnets) = user_network(&ec2, 30).await;
    let subnet_id = subnets[0].clone();
    // A group of the same name already in the VPC: EC2 refuses the pipeline's security group.
    ec2.create_security_group()
        .group_name("nami-broken-post-queue")
        .description("in the way")
        .vpc_id(&vpc_id)
        .send()
        .await
        .unwrap();

    let tf = Terraform::new("failed-create", &moto);
    tf.write(&pipeline(
        "broken",
        &format!("  network {{\n    vpc_id     = \"{vpc_id}\"\n    subnet_ids = [\"{subnet_id}\"]\n  }}\n"),
    ));
    tf.ok(&["init", "-no-color"]);
    let output = tf.run(&["apply", "-auto-approve", "-no-color"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "the apply must fail at the EC2 step"
    );
    assert!(
        stderr.contains("ec2:CreateSecurityGroup"),
        "the error names the failing call:\n{stderr}"
    );
    let in_the_way = vec!["security group nami-broken-post-queue".to_owned()];
    let partial = leftovers(&sdk).await;
    assert!(
        partial.len() > in_the_way.len(),
        "the create got partway: {partial:?}"
    );
    let shown = tf.ok(&["state", "list"]);
    assert!(
        shown.contains("nami_webhook_pipeline.this"),
        "partial state kept:\n{shown}"
    );

    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(
        leftovers(&sdk).await,
        in_the_way,
        "destroy removes every object the pipeline created, and only those"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_network_places_the_post_queue_function_in_its_subnets() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let (vpc_id, mut subnets) = user_network(&ec2, 20).await;
    let tf = Terraform::new("network", &moto);
    tf.write(&pipeline(
        "vpc",
        &format!("  network {{\n    vpc_id     = \"{vpc_id}\"\n    subnet_ids = [\"{}\", \"{}\"]\n  }}\n", subnets[0], subnets[1]),
    ));
    tf.apply();
    let state = tf.resource_values("nami_webhook_pipeline.this");
    let group_id = state["security_group_id"].as_str().unwrap();
    let groups = ec2
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
        .unwrap()
        .security_groups
        .unwrap();
    assert_eq!(groups[0].vpc_id.as_deref(), Some(vpc_id.as_str()));
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let vpc = lambda
        .get_function_configuration()
        .function_name("nami-vpc-post-queue")
        .send()
        .await
        .unwrap()
        .vpc_config
        .unwrap();
    let mut placed = vpc.subnet_ids.unwrap();
    placed.sort();
    subnets.sort();
    assert_eq!(placed, subnets);
    assert_eq!(vpc.security_group_ids.unwrap(), vec![group_id.to_owned()]);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let policy = iam
        .get_role_policy()
        .role_name("nami-vpc-post-queue")
        .policy_name("nami")
        .send()
        .await
        .unwrap();
    assert!(
        decode_policy(&policy.policy_document)
            .to_string()
            .contains("ec2:CreateNetworkInterface")
    );
    let (code, output) = tf.plan();
    assert_eq!(code, 0, "{output}");

    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(leftovers(&sdk).await, Vec::<String>::new());
    assert!(
        ec2.describe_vpcs().vpc_ids(&vpc_id).send().await.is_ok(),
        "the user's VPC stays"
    );
}

fn managed_pipeline(name: &str, store: &str) -> String {
    format!(
        r#"
resource "nami_webhook_pipeline" "this" {{
  name = "{name}"

  signature {{
    scheme = "standard-webhooks"
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
  }}

  store {{
{store}
  }}
}}
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_managed_store_runs_locked_down_in_a_managed_network_and_keeps_its_data() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let tf = Terraform::new("managed-store", &moto);
    tf.write(&managed_pipeline("ledger", "    volume_size = 10"));
    tf.apply();
    let state = tf.resource_values("nami_webhook_pipeline.this");
    let ec2 = aws_sdk_ec2::Client::new(&sdk);

    // The network: a VPC, two subnets in two AZs, an internet gateway attached to it.
    let vpc_id = state["vpc_id"].as_str().unwrap();
    let subnet_ids: Vec<String> = state["subnet_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    let subnets = ec2
        .describe_subnets()
        .set_subnet_ids(Some(subnet_ids.clone()))
        .send()
        .await
        .unwrap()
        .subnets
        .unwrap();
    assert_eq!(subnets.len(), 2);
    assert!(subnets.iter().all(|s| s.vpc_id.as_deref() == Some(vpc_id)));
    assert_ne!(
        subnets[0].availability_zone, subnets[1].availability_zone,
        "two AZs"
    );
    let gateway = ec2
        .describe_internet_gateways()
        .internet_gateway_ids(state["internet_gateway_id"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let attachments = gateway.internet_gateways.unwrap()[0]
        .attachments
        .clone()
        .unwrap();
    assert_eq!(attachments[0].vpc_id.as_deref(), Some(vpc_id));

    // The instance: IMDSv2 required, no key pair, only the store's group.
    let instance_id = state["instance_id"].as_str().unwrap();
    let reservations = ec2
        .describe_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .unwrap()
        .reservations
        .unwrap();
    let instance = reservations[0].instances.clone().unwrap()[0].clone();
    assert_eq!(
        instance.metadata_options.unwrap().http_tokens,
        Some(aws_sdk_ec2::types::HttpTokensState::Required)
    );
    assert_eq!(instance.key_name, None, "no key pair");
    let store_group = state["store_security_group_id"].as_str().unwrap();
    // moto reports the groups on the network interface only (AWS reports them on both).
    let instance_groups: Vec<String> = instance
        .network_interfaces
        .unwrap()
        .into_iter()
        .flat_map(|eni| eni.groups.unwrap_or_default())
        .filter_map(|g| g.group_id)
        .collect();
    assert_eq!(instance_groups, vec![store_group.to_owned()]);

    // The store's group admits MongoDB's port from the function's group, and nothing else.
    let group = ec2
        .describe_security_groups()
        .group_ids(store_group)
        .send()
        .await
        .unwrap()
        .security_groups
        .unwrap()[0]
        .clone();
    let rules = group.ip_permissions.unwrap();
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(
        (
            rules[0].from_port,
            rules[0].to_port,
            rules[0].ip_protocol.as_deref()
        ),
        (Some(27017), Some(27017), Some("tcp"))
    );
    assert!(
        rules[0].ip_ranges.clone().unwrap_or_default().is_empty(),
        "no CIDR may reach MongoDB"
    );
    let sources: Vec<String> = rules[0]
        .user_id_group_pairs
        .clone()
        .unwrap()
        .into_iter()
        .filter_map(|p| p.group_id)
        .collect();
    assert_eq!(
        sources,
        vec![state["security_group_id"].as_str().unwrap().to_owned()]
    );

    // The data volume: encrypted, the configured size, attached as /dev/sdf.
    let volume_id = state["data_volume_id"].as_str().unwrap().to_owned();
    let volume = ec2
        .describe_volumes()
        .volume_ids(&volume_id)
        .send()
        .await
        .unwrap()
        .volumes
        .unwrap()[0]
        .clone();
    assert_eq!((volume.size, volume.encrypted), (Some(10), Some(true)));
    let attachment = volume.attachments.unwrap()[0].clone();
    assert_eq!(
        (
            attachment.instance_id.as_deref(),
            attachment.device.as_deref()
        ),
        (Some(instance_id), Some("/dev/sdf"))
    );

    // The post-queue function reaches it with the generated password, from the managed subnets.
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let post = lambda
        .get_function_configuration()
        .function_name("nami-ledger-post-queue")
        .send()
        .await
        .unwrap();
    let uri = post.environment.unwrap().variables.unwrap()["NAMI_MONGODB_URI"].clone();
    let password = state["store"]["password"].as_str().unwrap();
    assert!(password.len() >= 32);
    assert_eq!(
        uri,
        format!(
            "mongodb://nami:{password}@{}:27017/?authSource=admin&directConnection=true",
            instance.private_ip_address.unwrap()
        )
    );
    let mut placed = post.vpc_config.unwrap().subnet_ids.unwrap();
    placed.sort();
    let mut expected = subnet_ids.clone();
    expected.sort();
    assert_eq!(placed, expected);

    let (code, output) = tf.plan();
    assert_eq!(code, 0, "{output}");
    tf.ok(&["state", "rm", "nami_webhook_pipeline.this"]);
    tf.ok(&[
        "import",
        "-no-color",
        "nami_webhook_pipeline.this",
        "ledger",
    ]);
    let imported = tf.resource_values("nami_webhook_pipeline.this");
    assert_eq!(imported, state, "import round trip");

    // The instance vanishes: the plan shows it, the apply replaces it onto the same data volume.
    ec2.terminate_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .unwrap();
    let (code, output) = tf.plan();
    assert_eq!(code, 2, "{output}");
    assert!(output.contains("instance_id"), "{output}");
    tf.apply();
    let repaired = tf.resource_values("nami_webhook_pipeline.this");
    let new_instance = repaired["instance_id"].as_str().unwrap();
    assert_ne!(new_instance, instance_id);
    assert_eq!(
        repaired["data_volume_id"],
        volume_id.as_str(),
        "the same data"
    );
    let volume = ec2
        .describe_volumes()
        .volume_ids(&volume_id)
        .send()
        .await
        .unwrap()
        .volumes
        .unwrap()[0]
        .clone();
    assert_eq!(
        volume.attachments.unwrap()[0].instance_id.as_deref(),
        Some(new_instance)
    );
    let (code, output) = tf.plan();
    assert_eq!(code, 0, "{output}");

    // Destroy keeps the data volume (retain_volume defaults to true), and only it.
    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(
        leftovers(&sdk).await,
        vec!["volume nami-ledger-data".to_owned()]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_retain_volume_destroy_leaves_nothing() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let tf = Terraform::new("managed-store-gone", &moto);
    tf.write(&managed_pipeline("scratch", "    retain_volume = false"));
    tf.apply();
    let created = leftovers(&sdk).await;
    assert!(
        created.contains(&"volume nami-scratch-data".to_owned()),
        "{created:?}"
    );
    // Switching to an existing store replaces the pipeline, and the plan says so.
    tf.write(&managed_pipeline(
        "scratch",
        "    mongodb_uri = \"mongodb://db:27017\"",
    ));
    let (code, output) = tf.plan();
    assert_eq!(code, 2);
    assert!(output.contains("forces replacement"), "{output}");
    tf.write(&managed_pipeline("scratch", "    retain_volume = false"));
    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(leftovers(&sdk).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn data_sources_find_pipelines_with_their_endpoints_and_queue_depths() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let tf = Terraform::new("data-sources", &moto);
    tf.write(&pipeline("alpha", ""));
    tf.apply();
    let state = tf.resource_values("nami_webhook_pipeline.this");
    // Two messages wait in the queue, one in the DLQ.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    for (url, count) in [(&state["queue_url"], 2), (&state["dlq_url"], 1)] {
        for n in 0..count {
            sqs.send_message()
                .queue_url(url.as_str().unwrap())
                .message_body(format!("m{n}"))
                .send()
                .await
                .unwrap();
        }
    }
    tf.write(&format!(
        "{}\n{}",
        pipeline("alpha", ""),
        r#"
data "nami_webhook_pipeline" "one" {
  name = nami_webhook_pipeline.this.name
}

data "nami_webhook_pipelines" "all" {
  depends_on = [nami_webhook_pipeline.this]
}

output "one" {
  value = data.nami_webhook_pipeline.one
}

output "all" {
  value = data.nami_webhook_pipelines.all.pipelines
}
"#
    ));
    tf.apply();
    let outputs: serde_json::Value = serde_json::from_str(&tf.ok(&["output", "-json"])).unwrap();
    let one = &outputs["one"]["value"];
    for field in [
        "endpoint_url",
        "api_id",
        "queue_url",
        "queue_arn",
        "dlq_url",
        "dlq_arn",
        "pre_queue_function_arn",
        "post_queue_function_arn",
        "event_source_mapping_id",
    ] {
        assert_eq!(one[field], state[field], "{field}");
    }
    let all = outputs["all"]["value"].as_array().unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["name"], "alpha");
    assert_eq!(all[0]["endpoint_url"], state["endpoint_url"]);
    assert_eq!(
        (all[0]["queue_depth"].as_i64(), all[0]["dlq_depth"].as_i64()),
        (Some(2), Some(1))
    );

    // A name that does not exist is an error naming it.
    tf.write(&format!(
        "{}\ndata \"nami_webhook_pipeline\" \"missing\" {{\n  name = \"nope\"\n}}\n",
        pipeline("alpha", "")
    ));
    let (code, output) = tf.plan();
    assert_eq!(code, 1);
    assert!(
        output.contains("no Nami pipeline named \"nope\""),
        "{output}"
    );
}
