//! `nami_webhook_pipeline` scenarios: disappears, validation, failed create, networks, the
//! managed store, data sources.

use nami_harness::Moto;

use crate::support::{
    Terraform, decode_policy, function_environment, leftovers, managed_pipeline, pipeline, sdk,
    user_network,
};

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
        // SQS keeps a message's first enqueue time in the DLQ: a shorter DLQ retention loses it.
        (
            pipeline("p", "  queue {\n    dlq_retention_seconds = 86400\n  }\n"),
            "Dead-letter retention shorter than the queue's",
            "dlq_retention_seconds",
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
        (
            managed_pipeline("p", "    volume_size = 4"),
            "4 is outside 8–16384",
            "volume_size",
        ),
        // Ids that cannot be AWS ids fail the plan, not an apply halfway through.
        (
            pipeline(
                "p",
                "  network {\n    vpc_id = \"my-vpc\"\n    subnet_ids = [\"subnet-0a1b2c3d\"]\n  }\n",
            ),
            "is not a vpc id",
            "vpc_id",
        ),
        (
            pipeline(
                "p",
                "  network {\n    vpc_id = \"vpc-0a1b2c3d\"\n    subnet_ids = [\"10.0.1.0/24\"]\n  }\n",
            ),
            "is not a subnet id",
            "subnet_ids",
        ),
        // A tolerance means nothing to a scheme without a timestamp (github).
        (
            pipeline("p", "").replace(
                "secret = \"gh-secret\"",
                "secret = \"gh-secret\"\n    tolerance_seconds = 60",
            ),
            "applies only to schemes that sign a timestamp",
            "tolerance_seconds",
        ),
        // Managed-store settings are refused with a store the user has.
        (
            pipeline("p", "").replace(
                "mongodb_uri = \"mongodb://db.internal:27017/?directConnection=true\"",
                "mongodb_uri = \"mongodb://db:27017\"\n    volume_size = 500",
            ),
            "applies only to the pipeline's own managed store",
            "volume_size",
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

/// What a module passes on is unknown while Terraform validates it (variables have no values
/// then), and a `dynamic` block over an unknown list is itself unknown: both must validate and
/// plan. They failed before: the optional `network` block could not be decoded when unknown
/// ("invalid type: newtype struct, expected a sequence"), and an unknown `signature.header`
/// counted as set for a non-hmac scheme.
#[tokio::test(flavor = "multi_thread")]
async fn settings_known_only_later_validate_and_plan_as_modules_pass_them() {
    let moto = Moto::start().unwrap();
    let tf = Terraform::new("unknowns", &moto);
    tf.write(
        r#"
variable "network" {
  type = object({ vpc_id = string, subnet_ids = list(string) })
  default = null
}
variable "hmac_header" {
  type    = string
  default = null
}
resource "nami_webhook_pipeline" "each" {
  for_each = toset(["a", "b"])
  name     = "unknowns-${each.key}"
  signature {
    scheme = "github"
    secret = "s3cret"
    header = var.hmac_header
  }
  store {
    mongodb_uri = "mongodb://127.0.0.1:1/?directConnection=true"
  }
  dynamic "network" {
    for_each = var.network == null ? [] : [var.network]
    content {
      vpc_id     = network.value.vpc_id
      subnet_ids = network.value.subnet_ids
    }
  }
}
"#,
    );
    tf.ok(&["init", "-no-color"]);
    tf.ok(&["validate", "-no-color"]);
    let (code, plan) = tf.plan();
    assert_eq!(code, 2, "{plan}");
    assert!(plan.contains("2 to add"), "{plan}");
}

/// Switching a pipeline in the user's network from the managed store to one the user runs there
/// replaces it: the old pipeline is destroyed, the new one created under the same name. It
/// failed before (found by modules/existing-network's `terraform test`).
#[tokio::test(flavor = "multi_thread")]
async fn switching_the_store_in_a_network_replaces_the_pipeline() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let (vpc_id, subnets) = user_network(&aws_sdk_ec2::Client::new(&sdk), 32).await;
    let network = format!(
        "  network {{\n    vpc_id     = \"{vpc_id}\"\n    subnet_ids = {}\n  }}\n",
        serde_json::to_string(&subnets).unwrap()
    );
    let tf = Terraform::new("store-switch", &moto);
    let config = |store: &str| {
        format!(
            r#"
resource "nami_webhook_pipeline" "this" {{
  name = "switch"
  signature {{
    scheme = "github"
    secret = "gh-secret"
  }}
  store {{
{store}
  }}
{network}}}
"#
        )
    };
    tf.write(&config("    retain_volume = false"));
    tf.apply();
    let managed = tf.resource_values("nami_webhook_pipeline.this");
    assert!(managed["instance_id"].is_string(), "{managed}");

    // In a VPC the provider reads the user's connection string at apply (for its ports).
    let secret = crate::support::user_secret(
        &sdk,
        "vpc-mongo",
        "mongodb://mongo.internal:27017/?replicaSet=rs0",
    )
    .await;
    tf.write(&config(&format!(
        "    mongodb_uri_secret_arn = \"{secret}\""
    )));
    tf.apply();
    let switched = tf.resource_values("nami_webhook_pipeline.this");
    assert!(switched["instance_id"].is_null(), "{switched}");
    assert_ne!(
        switched["owner_token"], managed["owner_token"],
        "a new pipeline"
    );
    assert_eq!(switched["vpc_id"], vpc_id);

    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(leftovers(&sdk).await, Vec::<String>::new());
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
    let group = security_group(&ec2, group_id).await;
    assert_eq!(group.vpc_id.as_deref(), Some(vpc_id.as_str()));
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
    // A store the user has: its port (from the URI) anywhere, and HTTPS; nothing else.
    assert_eq!(
        egress(&ec2, group_id).await,
        vec![
            (443, "0.0.0.0/0".to_owned()),
            (27017, "0.0.0.0/0".to_owned())
        ]
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

    // Secrets Manager without a NAT gateway: an interface endpoint in both subnets, with private
    // DNS (so the VPC's DNS hostnames are on), behind a group that admits HTTPS from the network
    // only and sends nothing.
    let endpoint = ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(state["secrets_endpoint_id"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .vpc_endpoints
        .unwrap()[0]
        .clone();
    assert_eq!(
        endpoint.service_name.as_deref(),
        Some("com.amazonaws.us-east-1.secretsmanager")
    );
    assert_eq!(endpoint.private_dns_enabled, Some(true));
    let mut endpoint_subnets = endpoint.subnet_ids.clone().unwrap();
    endpoint_subnets.sort();
    let mut sorted_subnets = subnet_ids.clone();
    sorted_subnets.sort();
    assert_eq!(endpoint_subnets, sorted_subnets);
    let endpoint_group = state["endpoint_security_group_id"].as_str().unwrap();
    let endpoint_groups: Vec<String> = (endpoint.groups.unwrap_or_default().into_iter())
        .filter_map(|g| g.group_id)
        .collect();
    assert_eq!(endpoint_groups, [endpoint_group]);
    let group = security_group(&ec2, endpoint_group).await;
    let ingress: Vec<(Option<i32>, Vec<String>)> = (group.ip_permissions.unwrap().into_iter())
        .map(|p| {
            let ranges = p.ip_ranges.unwrap_or_default().into_iter();
            (p.from_port, ranges.filter_map(|r| r.cidr_ip).collect())
        })
        .collect();
    assert_eq!(ingress, [(Some(443), vec!["10.42.0.0/16".to_owned()])]);
    assert!(egress(&ec2, endpoint_group).await.is_empty(), "no egress");
    let hostnames = ec2
        .describe_vpc_attribute()
        .vpc_id(vpc_id)
        .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .unwrap()
        .enable_dns_hostnames
        .and_then(|v| v.value);
    assert_eq!(hostnames, Some(true));

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
    let metadata = instance.metadata_options.clone().unwrap();
    assert_eq!(
        (metadata.http_tokens, metadata.http_put_response_hop_limit),
        (Some(aws_sdk_ec2::types::HttpTokensState::Required), Some(1)),
        "IMDSv2 only, and not from a container on the instance"
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
    let group = security_group(&ec2, store_group).await;
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

    // The function's group reaches out only to HTTPS and to the store's port on the store's group
    // (EC2's default allow-all rule is gone).
    let function_group = state["security_group_id"].as_str().unwrap();
    assert_eq!(
        egress(&ec2, function_group).await,
        vec![
            (443, "0.0.0.0/0".to_owned()),
            (27017, store_group.to_owned())
        ]
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

    // The root volume carries the pipeline's tags too (it goes with the instance).
    let root = ec2
        .describe_volumes()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("attachment.instance-id")
                .values(instance_id)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.volume_id.as_deref() != Some(volume_id.as_str()))
        .expect("a root volume");
    let root_tags: Vec<(String, String)> = (root.tags.unwrap_or_default().into_iter())
        .filter_map(|t| Some((t.key?, t.value?)))
        .collect();
    assert!(
        root_tags.contains(&("nami:pipeline".into(), "ledger".into()))
            && root_tags.contains(&("Name".into(), "nami-ledger-store".into())),
        "{root_tags:?}"
    );

    // The passwords: generated into the store's two secrets, and nowhere else the tests can read —
    // not the state, the user data or a function's configuration.
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let (root_arn, writer_arn) = (
        state["store_root_secret_arn"].as_str().unwrap(),
        state["store_writer_secret_arn"].as_str().unwrap(),
    );
    let mut passwords = Vec::new();
    for arn in [root_arn, writer_arn] {
        let value = secrets
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .unwrap()
            .secret_string
            .unwrap();
        assert!(value.len() >= 32, "{arn}");
        passwords.push(value);
    }
    assert_ne!(passwords[0], passwords[1]);
    assert_eq!(state["store"]["password"], serde_json::Value::Null);
    let state_file = tf.ok(&["state", "pull"]);
    let user_data = ec2
        .describe_instance_attribute()
        .instance_id(instance_id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap()
        .user_data
        .and_then(|value| value.value)
        .unwrap();
    use base64::Engine as _;
    let user_data = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(user_data)
            .unwrap(),
    )
    .unwrap();
    assert!(
        user_data.contains(root_arn) && user_data.contains(writer_arn),
        "the instance reads both secrets by ARN"
    );

    // The post-queue function connects as the writer, with its password from the writer secret,
    // from the managed subnets.
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let post = lambda
        .get_function_configuration()
        .function_name("nami-ledger-post-queue")
        .send()
        .await
        .unwrap();
    let env = post.environment.clone().unwrap().variables.unwrap();
    assert_eq!(
        env["NAMI_MONGODB_URI"],
        format!(
            "mongodb://nami-writer@{}:27017/?authSource=nami&directConnection=true",
            instance.private_ip_address.clone().unwrap()
        )
    );
    assert_eq!(env["NAMI_MONGODB_PASSWORD_SECRET_ARN"], writer_arn);
    let env_text = format!("{env:?}");
    for password in &passwords {
        for (place, text) in [
            ("the state", &state_file),
            ("the user data", &user_data),
            ("the post-queue environment", &env_text),
        ] {
            assert!(
                !text.contains(password.as_str()),
                "a password is in {place}"
            );
        }
    }
    crate::support::record_figures(
        "secrets-managed-store",
        &serde_json::json!({
            "passwords_generated": passwords.len(),
            "state_bytes": state_file.len(),
            "user_data_bytes": user_data.len(),
            "post_queue_variables": env.len(),
            "found": 0,
        }),
    );

    // Who reads what: the instance (through its profile) both secrets, the post-queue function
    // the writer's only.
    let iam = aws_sdk_iam::Client::new(&sdk);
    let profile = instance.iam_instance_profile.clone().unwrap().arn.unwrap();
    assert!(
        profile.ends_with(":instance-profile/nami-ledger-store"),
        "{profile}"
    );
    let store_role = iam
        .get_instance_profile()
        .instance_profile_name("nami-ledger-store")
        .send()
        .await
        .unwrap()
        .instance_profile
        .unwrap()
        .roles;
    assert_eq!(store_role.len(), 1);
    assert_eq!(store_role[0].arn, state["store_role_arn"].as_str().unwrap());
    let read_grants = async |role: &str| {
        let document = iam
            .get_role_policy()
            .role_name(role)
            .policy_name("nami")
            .send()
            .await
            .unwrap()
            .policy_document;
        let policy = decode_policy(&document);
        let mut arns: Vec<String> = (policy["Statement"].as_array().unwrap().iter())
            .filter(|s| {
                s["Action"]
                    .to_string()
                    .contains("secretsmanager:GetSecretValue")
            })
            .flat_map(|s| match &s["Resource"] {
                serde_json::Value::Array(many) => many.clone(),
                one => vec![one.clone()],
            })
            .map(|arn| arn.as_str().unwrap().to_owned())
            .collect();
        arns.sort();
        arns
    };
    let mut both = vec![root_arn.to_owned(), writer_arn.to_owned()];
    both.sort();
    assert_eq!(read_grants("nami-ledger-store").await, both);
    assert_eq!(read_grants("nami-ledger-post-queue").await, [writer_arn]);
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

/// A security group as EC2 reports it.
async fn security_group(
    ec2: &aws_sdk_ec2::Client,
    group_id: &str,
) -> aws_sdk_ec2::types::SecurityGroup {
    ec2.describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
        .unwrap()
        .security_groups
        .unwrap()[0]
        .clone()
}

/// A group's outbound rules as (port, CIDR or group), sorted; -1 for all protocols.
async fn egress(ec2: &aws_sdk_ec2::Client, group_id: &str) -> Vec<(i32, String)> {
    let group = security_group(ec2, group_id).await;
    let mut rules: Vec<(i32, String)> = group
        .ip_permissions_egress
        .unwrap_or_default()
        .into_iter()
        .flat_map(|permission| {
            let port = permission
                .from_port
                .filter(|_| permission.ip_protocol.as_deref() == Some("tcp"))
                .unwrap_or(-1);
            let cidrs = permission
                .ip_ranges
                .unwrap_or_default()
                .into_iter()
                .filter_map(|r| r.cidr_ip);
            let groups = permission
                .user_id_group_pairs
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| p.group_id);
            cidrs
                .chain(groups)
                .map(move |to| (port, to))
                .collect::<Vec<_>>()
        })
        .collect();
    rules.sort();
    rules
}

/// The data volume as EC2 reports it: its size, the instance it is attached to, its tags.
async fn volume(
    ec2: &aws_sdk_ec2::Client,
    volume_id: &str,
) -> (Option<i32>, Option<String>, Vec<String>) {
    let volume = ec2
        .describe_volumes()
        .volume_ids(volume_id)
        .send()
        .await
        .unwrap()
        .volumes
        .unwrap()[0]
        .clone();
    let attached = (volume.attachments.unwrap_or_default().into_iter()).find_map(|a| a.instance_id);
    let keys = (volume.tags.unwrap_or_default().into_iter())
        .filter_map(|t| t.key)
        .collect();
    (volume.size, attached, keys)
}

/// The defects: a new `instance_type` or `image` planned the instance id as known, and the apply
/// failed with "Provider produced inconsistent result" although it had replaced the instance; a
/// shrunk `volume_size` "applied" while the volume kept its size; a re-created pipeline could not
/// get back its retained volume.
#[tokio::test(flavor = "multi_thread")]
async fn a_store_change_replaces_the_instance_and_a_new_pipeline_gets_its_retained_volume_back() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let tf = Terraform::new("store-change", &moto);
    tf.write(&managed_pipeline("vault", "    volume_size = 10"));
    tf.apply();
    let before = tf.resource_values("nami_webhook_pipeline.this");
    let volume_id = before["data_volume_id"].as_str().unwrap().to_owned();

    tf.write(&managed_pipeline(
        "vault",
        "    volume_size   = 12\n    instance_type = \"t3.medium\"",
    ));
    let (code, plan) = tf.plan();
    assert_eq!(code, 2, "{plan}");
    assert!(
        plan.contains("~ instance_id") && plan.contains("(known after apply)"),
        "the plan shows the new instance:\n{plan}"
    );
    tf.apply();
    let after = tf.resource_values("nami_webhook_pipeline.this");
    let instance_id = after["instance_id"].as_str().unwrap();
    assert_ne!(instance_id, before["instance_id"].as_str().unwrap());
    assert_eq!(after["store"]["instance_type"], "t3.medium");
    let (size, attached, _) = volume(&ec2, &volume_id).await;
    assert_eq!(
        attached.as_deref(),
        Some(instance_id),
        "the data moved over"
    );
    assert_eq!(size, Some(12));
    assert_eq!(after["store"]["volume_size"], 12);
    let (code, plan) = tf.plan();
    assert_eq!(code, 0, "{plan}");

    tf.write(&managed_pipeline(
        "vault",
        "    volume_size = 8\n    instance_type = \"t3.medium\"",
    ));
    let (code, plan) = tf.plan();
    assert_eq!(code, 1, "{plan}");
    assert!(plan.contains("EBS volumes only grow"), "{plan}");

    tf.write(&managed_pipeline(
        "vault",
        "    volume_size = 12\n    instance_type = \"t3.medium\"",
    ));
    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(leftovers(&sdk).await, ["volume nami-vault-data"]);
    let (_, _, tags) = volume(&ec2, &volume_id).await;
    assert!(tags.iter().any(|k| k == "nami:retained"), "{tags:?}");

    // A new pipeline of the same name does not take the retained volume unasked…
    let again = Terraform::new("store-again", &moto);
    again.write(&managed_pipeline("vault", "    volume_size = 12"));
    again.apply();
    let fresh = again.resource_values("nami_webhook_pipeline.this");
    assert_ne!(fresh["data_volume_id"].as_str(), Some(volume_id.as_str()));
    again.write(&managed_pipeline(
        "vault",
        "    volume_size = 12\n    retain_volume = false",
    ));
    again.apply();
    again.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(leftovers(&sdk).await, ["volume nami-vault-data"]);

    // …and gets it back when named.
    again.write(&managed_pipeline(
        "vault",
        &format!("    volume_size = 12\n    volume_id   = \"{volume_id}\""),
    ));
    again.apply();
    let restored = again.resource_values("nami_webhook_pipeline.this");
    assert_eq!(restored["data_volume_id"], volume_id.as_str());
    let (_, attached, tags) = volume(&ec2, &volume_id).await;
    assert_eq!(attached.as_deref(), restored["instance_id"].as_str());
    assert!(!tags.iter().any(|k| k == "nami:retained"), "{tags:?}");
    let (code, plan) = again.plan();
    assert_eq!(code, 0, "{plan}");
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
    // SQS's metric of the oldest message's age, as SQS publishes it each minute; and the DLQ
    // alarm firing.
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    cloudwatch
        .put_metric_data()
        .namespace("AWS/SQS")
        .metric_data(
            aws_sdk_cloudwatch::types::MetricDatum::builder()
                .metric_name("ApproximateAgeOfOldestMessage")
                .dimensions(
                    aws_sdk_cloudwatch::types::Dimension::builder()
                        .name("QueueName")
                        .value("nami-alpha")
                        .build(),
                )
                .value(42.0)
                .build(),
        )
        .send()
        .await
        .unwrap();
    cloudwatch
        .set_alarm_state()
        .alarm_name("nami-alpha-dead-letters")
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("one dead letter")
        .send()
        .await
        .unwrap();
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
    // Depths and the store, as an operator asks for them.
    assert_eq!(
        (one["queue_depth"].as_i64(), one["dlq_depth"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(one["oldest_message_age_seconds"].as_i64(), Some(42));
    let states = one["alarm_states"].as_object().unwrap();
    assert_eq!(states.len(), 5, "{states:?}");
    assert_eq!(states["dead_letters"], "ALARM");
    assert!(
        states
            .values()
            .all(|state| ["OK", "ALARM", "INSUFFICIENT_DATA"].contains(&state.as_str().unwrap())),
        "{states:?}"
    );
    assert_eq!(
        (one["database"].as_str(), one["collection"].as_str()),
        (Some("nami"), Some("alpha"))
    );
    let all = outputs["all"]["value"].as_array().unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["name"], "alpha");
    assert_eq!(all[0]["endpoint_url"], state["endpoint_url"]);
    assert_eq!(
        (all[0]["queue_depth"].as_i64(), all[0]["dlq_depth"].as_i64()),
        (Some(2), Some(1))
    );

    // The defect: a missing DLQ showed as depth 0. It shows as missing (null).
    sqs.delete_queue()
        .queue_url(state["dlq_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    // Read from a configuration of its own: beside the resource, whose DLQ is now planned for
    // re-creation, Terraform would defer the read to the apply.
    let reader = Terraform::new("data-source-reader", &moto);
    reader.write(
        "data \"nami_webhook_pipeline\" \"one\" {\n  name = \"alpha\"\n}\n\noutput \"one\" {\n  value = data.nami_webhook_pipeline.one\n}\n",
    );
    reader.apply();
    let outputs: serde_json::Value =
        serde_json::from_str(&reader.ok(&["output", "-json"])).unwrap();
    assert_eq!(
        outputs["one"]["value"]["dlq_depth"],
        serde_json::Value::Null
    );
    assert_eq!(outputs["one"]["value"]["queue_depth"].as_i64(), Some(2));

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

/// The defect: a network naming ids that do not exist failed at `ec2:DescribeSubnets: not found`,
/// naming no id, after roles, queues, an API and security groups had been created.
#[tokio::test(flavor = "multi_thread")]
async fn a_network_that_does_not_exist_fails_before_anything_is_created() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let (vpc_id, _) = user_network(&ec2, 40).await;
    let tf = Terraform::new("missing-network", &moto);
    for (network, named) in [
        (
            "vpc_id = \"vpc-0a1b2c3d\"\n    subnet_ids = [\"subnet-0a1b2c3d\"]".to_owned(),
            "network.vpc_id vpc-0a1b2c3d: no such VPC in us-east-1",
        ),
        (
            format!("vpc_id = \"{vpc_id}\"\n    subnet_ids = [\"subnet-0a1b2c3d\"]"),
            "network.subnet_ids: subnet-0a1b2c3d not found in VPC",
        ),
    ] {
        tf.write(&pipeline(
            "lost",
            &format!("  network {{\n    {network}\n  }}\n"),
        ));
        if !tf.dir().join(".terraform").exists() {
            tf.ok(&["init", "-no-color"]);
        }
        let stderr = tf.fails(&["apply", "-auto-approve", "-no-color"]);
        assert!(stderr.contains(named), "expected {named:?}:\n{stderr}");
        assert_eq!(
            leftovers(&sdk).await,
            Vec::<String>::new(),
            "nothing created"
        );
        assert!(
            tf.run(&["state", "list"]).stdout.is_empty(),
            "nothing recorded"
        );
    }
}

/// The defect: with a partial `endpoints {}` block, the managed store's EC2 and SSM calls went to
/// real AWS: a 20 s hang, then a Rust `Debug` dump. Now the plan names what is missing.
#[tokio::test(flavor = "multi_thread")]
async fn a_partial_endpoints_block_fails_the_plan_naming_the_services_left_out() {
    let moto = Moto::start().unwrap();
    let tf = Terraform::new("partial-endpoints", &moto);
    tf.write(&managed_pipeline("half", ""));
    tf.ok(&["init", "-no-color"]);
    let main = tf.dir().join("main.tf");
    let partial: String = std::fs::read_to_string(&main)
        .unwrap()
        .lines()
        .filter(|line| {
            !line.trim_start().starts_with("ec2 ") && !line.trim_start().starts_with("ssm ")
        })
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&main, partial).unwrap();
    let (code, output) = tf.plan();
    let output = output.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("this pipeline calls ec2, ssm, which the provider's endpoints {} block does not override"),
        "{output}"
    );
}

/// The defect: tags added outside Terraform were never detected nor removed.
#[tokio::test(flavor = "multi_thread")]
async fn a_tag_added_outside_terraform_shows_in_the_plan_and_the_apply_removes_it() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let tf = Terraform::new("tag-drift", &moto);
    tf.write(&pipeline("tagged", ""));
    tf.apply();
    let url = tf.resource_values("nami_webhook_pipeline.this")["queue_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    sqs.tag_queue()
        .queue_url(&url)
        .tags("rogue", "added by hand")
        .send()
        .await
        .unwrap();
    let (code, plan) = tf.plan();
    assert_eq!(code, 2, "{plan}");
    assert!(plan.contains("rogue"), "{plan}");
    tf.apply();
    let tags = sqs.list_queue_tags().queue_url(&url).send().await.unwrap();
    let tags = tags.tags.unwrap_or_default();
    assert!(!tags.contains_key("rogue"), "{tags:?}");
    assert_eq!(tags.get("service").map(String::as_str), Some("billing"));
    let (code, plan) = tf.plan();
    assert_eq!(code, 0, "{plan}");
}

/// A signing secret under a customer-managed KMS key: the pre-queue role may decrypt it, through
/// SSM only and under that parameter's encryption context only; under SSM's own key, no KMS grant.
#[tokio::test(flavor = "multi_thread")]
async fn a_secret_under_a_customer_key_is_decrypted_only_through_its_store() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    for (name, key) in [
        ("/nami/custom", Some("alias/nami-webhooks")),
        ("/nami/default", None),
    ] {
        ssm.put_parameter()
            .name(name)
            .value("gh-secret")
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .set_key_id(key.map(str::to_owned))
            .send()
            .await
            .unwrap();
    }
    let iam = aws_sdk_iam::Client::new(&sdk);
    for (parameter, decrypts) in [("/nami/custom", true), ("/nami/default", false)] {
        let tf = Terraform::new(&format!("kms{}", parameter.replace('/', "-")), &moto);
        let arn = format!("arn:aws:ssm:us-east-1:123456789012:parameter{parameter}");
        tf.write(
            &pipeline("keyed", "")
                .replace("secret = \"gh-secret\"", &format!("secret_arn = \"{arn}\"")),
        );
        tf.apply();
        let policy = iam
            .get_role_policy()
            .role_name("nami-keyed-pre-queue")
            .policy_name("nami")
            .send()
            .await
            .unwrap();
        let policy = decode_policy(&policy.policy_document);
        let decrypt = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Action"] == serde_json::json!(["kms:Decrypt"]))
            .cloned();
        match decrypt {
            Some(statement) => {
                assert!(decrypts, "{parameter}: {policy}");
                let condition = &statement["Condition"]["StringEquals"];
                assert_eq!(condition["kms:ViaService"], "ssm.us-east-1.amazonaws.com");
                assert_eq!(
                    condition["kms:EncryptionContext:PARAMETER_ARN"],
                    arn.as_str()
                );
            }
            None => assert!(!decrypts, "{parameter}: no kms:Decrypt in {policy}"),
        }
        tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    }
}

/// The defect: a secret of the pipeline's deleted out of band with a recovery window (the
/// console's default) blocks its name for up to 30 days, so every apply waited out its timeout
/// recreating it. The next apply restores it, with the configured value.
#[tokio::test(flavor = "multi_thread")]
async fn a_secret_deleted_with_a_recovery_window_is_restored_by_the_next_apply() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let tf = Terraform::new("restore-secret", &moto);
    tf.write(&pipeline(
        "vault",
        "  timeouts {\n    update = \"1m\"\n  }\n",
    ));
    tf.apply();
    let state = tf.resource_values("nami_webhook_pipeline.this");
    let arn = state["store_uri_secret_arn"].as_str().unwrap().to_owned();
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    secrets
        .delete_secret()
        .secret_id(&arn)
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();

    let (code, output) = tf.plan();
    assert_eq!(code, 2, "{output}");
    tf.apply();
    let repaired = tf.resource_values("nami_webhook_pipeline.this");
    assert_eq!(
        repaired["store_uri_secret_arn"],
        arn.as_str(),
        "the same secret, restored"
    );
    let secret = secrets
        .describe_secret()
        .secret_id(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(secret.deleted_date, None);
    let value = secrets
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .unwrap()
        .secret_string;
    assert_eq!(
        value.as_deref(),
        Some("mongodb://db.internal:27017/?directConnection=true")
    );
    let (code, output) = tf.plan();
    assert_eq!(code, 0, "{output}");
}

/// `store.mongodb_uri_secret_arn`: the connection string stays in the user's secret — out of the
/// state and out of the function's configuration; the function reads exactly that secret, its
/// egress follows the ports the secret's connection string names, and moving from a connection
/// string given by value deletes the pipeline's own secret.
#[tokio::test(flavor = "multi_thread")]
async fn a_connection_string_in_the_users_secret_stays_out_of_the_state() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let (vpc_id, subnets) = user_network(&ec2, 50).await;
    let uri = "mongodb://app:s3cr3t-pw@db.internal:27018/?replicaSet=rs0";
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let user_arn = crate::support::user_secret(&sdk, "team/mongodb-uri", uri).await;
    let network = format!(
        "  network {{\n    vpc_id = \"{vpc_id}\"\n    subnet_ids = [\"{}\", \"{}\"]\n  }}\n",
        subnets[0], subnets[1]
    );
    let tf = Terraform::new("uri-secret", &moto);
    tf.write(&pipeline("ledger", &network));
    tf.apply();
    let own = tf.resource_values("nami_webhook_pipeline.this")["store_uri_secret_arn"]
        .as_str()
        .unwrap()
        .to_owned();

    tf.write(&pipeline("ledger", &network).replace(
        "mongodb_uri = \"mongodb://db.internal:27017/?directConnection=true\"",
        &format!("mongodb_uri_secret_arn = \"{user_arn}\""),
    ));
    tf.apply();
    let state = tf.resource_values("nami_webhook_pipeline.this");
    assert_eq!(state["store_uri_secret_arn"], serde_json::Value::Null);
    assert!(
        secrets
            .describe_secret()
            .secret_id(&own)
            .send()
            .await
            .is_err(),
        "the pipeline's own secret is gone"
    );
    let state_text = tf.ok(&["state", "pull"]);
    assert!(
        !state_text.contains("s3cr3t-pw"),
        "the connection string is in the state"
    );

    let env = function_environment(&sdk, "nami-ledger-post-queue").await;
    assert_eq!(env["NAMI_MONGODB_URI_SECRET_ARN"], user_arn);
    assert!(!format!("{env:?}").contains("s3cr3t-pw"));
    let iam = aws_sdk_iam::Client::new(&sdk);
    let policy = iam
        .get_role_policy()
        .role_name("nami-ledger-post-queue")
        .policy_name("nami")
        .send()
        .await
        .unwrap();
    let reads: Vec<String> = (decode_policy(&policy.policy_document)["Statement"]
        .as_array()
        .unwrap()
        .iter())
    .filter(|s| s["Action"].to_string().contains("secretsmanager:"))
    .map(|s| s["Resource"].as_str().unwrap().to_owned())
    .collect();
    assert_eq!(reads, std::slice::from_ref(&user_arn));
    // Egress: HTTPS, and the port the secret's connection string names.
    let function_group = state["security_group_id"].as_str().unwrap();
    assert_eq!(
        egress(&ec2, function_group).await,
        vec![
            (443, "0.0.0.0/0".to_owned()),
            (27018, "0.0.0.0/0".to_owned())
        ]
    );
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
    assert_eq!(
        imported["store"]["mongodb_uri_secret_arn"],
        user_arn.as_str()
    );
    let (code, output) = tf.plan();
    assert_eq!(code, 0, "{output}");

    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        secrets
            .describe_secret()
            .secret_id(&user_arn)
            .send()
            .await
            .is_ok(),
        "the user's secret is never touched"
    );
}
