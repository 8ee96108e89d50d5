//! AWS SDK access to moto for tests and the demo.

use aws_config::{Region, SdkConfig};
use aws_sdk_sqs::config::Credentials;

use crate::Moto;

/// SDK configuration for moto.
pub async fn sdk(moto: &Moto) -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto.endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "testing", "testing", None, None, "nami-acc",
        ))
        .load()
        .await
}

/// Every AWS object whose name starts with `nami-` in moto: what a destroy must leave empty.
pub async fn leftovers(sdk: &SdkConfig) -> Vec<String> {
    let mut found = Vec::new();
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let queues = sqs
        .list_queues()
        .queue_name_prefix("nami-")
        .send()
        .await
        .unwrap();
    found.extend(
        queues
            .queue_urls
            .unwrap_or_default()
            .into_iter()
            .map(|u| format!("queue {u}")),
    );
    let lambda = aws_sdk_lambda::Client::new(sdk);
    let functions = lambda.list_functions().send().await.unwrap();
    found.extend(
        functions
            .functions
            .unwrap_or_default()
            .into_iter()
            .filter_map(|f| f.function_name)
            .map(|n| format!("function {n}")),
    );
    let mappings = lambda.list_event_source_mappings().send().await.unwrap();
    found.extend(
        mappings
            .event_source_mappings
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.uuid)
            .map(|u| format!("mapping {u}")),
    );
    let iam = aws_sdk_iam::Client::new(sdk);
    let roles = iam.list_roles().send().await.unwrap();
    found.extend(
        roles
            .roles
            .into_iter()
            .map(|r| r.role_name)
            .filter(|n| n.starts_with("nami-"))
            .map(|n| format!("role {n}")),
    );
    let profiles = iam.list_instance_profiles().send().await.unwrap();
    found.extend(
        profiles
            .instance_profiles
            .into_iter()
            .map(|p| p.instance_profile_name)
            .filter(|n| n.starts_with("nami-"))
            .map(|n| format!("instance profile {n}")),
    );
    let apis = aws_sdk_apigateway::Client::new(sdk)
        .get_rest_apis()
        .send()
        .await
        .unwrap();
    found.extend(
        apis.items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|a| a.name)
            .map(|n| format!("rest api {n}")),
    );
    let secrets = aws_sdk_secretsmanager::Client::new(sdk)
        .list_secrets()
        .send()
        .await
        .unwrap();
    found.extend(
        secrets
            .secret_list
            .unwrap_or_default()
            .into_iter()
            .filter(|secret| secret.deleted_date.is_none())
            .filter_map(|secret| secret.name)
            .filter(|name| name.starts_with("nami-"))
            .map(|name| format!("secret {name}")),
    );
    let tables = aws_sdk_dynamodb::Client::new(sdk)
        .list_tables()
        .send()
        .await
        .unwrap();
    found.extend(
        (tables.table_names.unwrap_or_default().into_iter())
            .filter(|name| name.starts_with("nami-"))
            .map(|name| format!("table {name}")),
    );
    // Data Lifecycle Manager policies have no name: the provider's describe themselves by it.
    let policies = aws_sdk_dlm::Client::new(sdk)
        .get_lifecycle_policies()
        .send()
        .await
        .unwrap();
    found.extend(
        (policies.policies.unwrap_or_default().into_iter())
            .filter_map(|policy| policy.description)
            .filter(|description| description.starts_with("nami-"))
            .map(|description| format!("snapshot policy {description}")),
    );
    let log_groups = aws_sdk_cloudwatchlogs::Client::new(sdk)
        .describe_log_groups()
        .log_group_name_prefix("/aws/lambda/nami-")
        .send()
        .await
        .unwrap();
    found.extend(
        (log_groups.log_groups.unwrap_or_default().into_iter())
            .filter_map(|group| group.log_group_name)
            .map(|name| format!("log group {name}")),
    );
    let alarms = aws_sdk_cloudwatch::Client::new(sdk)
        .describe_alarms()
        .alarm_name_prefix("nami-")
        .send()
        .await
        .unwrap();
    found.extend(
        (alarms.metric_alarms.unwrap_or_default().into_iter())
            .filter_map(|alarm| alarm.alarm_name)
            .map(|name| format!("alarm {name}")),
    );
    let dashboards = aws_sdk_cloudwatch::Client::new(sdk)
        .list_dashboards()
        .dashboard_name_prefix("nami-")
        .send()
        .await
        .unwrap();
    found.extend(
        (dashboards.dashboard_entries.unwrap_or_default().into_iter())
            .filter_map(|dashboard| dashboard.dashboard_name)
            .map(|name| format!("dashboard {name}")),
    );
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let named = |tags: Option<Vec<aws_sdk_ec2::types::Tag>>| {
        tags.unwrap_or_default()
            .into_iter()
            .find(|t| t.key.as_deref() == Some("Name"))
            .and_then(|t| t.value)
            .filter(|name| name.starts_with("nami-"))
    };
    let instances = ec2.describe_instances().send().await.unwrap();
    for instance in instances
        .reservations
        .unwrap_or_default()
        .into_iter()
        .flat_map(|r| r.instances.unwrap_or_default())
    {
        let state = instance.state.and_then(|s| s.name);
        if state != Some(aws_sdk_ec2::types::InstanceStateName::Terminated) {
            found.extend(named(instance.tags).map(|n| format!("instance {n}")));
        }
    }
    let volumes = ec2.describe_volumes().send().await.unwrap();
    found.extend(
        volumes
            .volumes
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| named(v.tags))
            .map(|n| format!("volume {n}")),
    );
    let vpcs = ec2.describe_vpcs().send().await.unwrap();
    found.extend(
        vpcs.vpcs
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| named(v.tags))
            .map(|n| format!("vpc {n}")),
    );
    let subnets = ec2.describe_subnets().send().await.unwrap();
    found.extend(
        subnets
            .subnets
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| named(s.tags))
            .map(|n| format!("subnet {n}")),
    );
    let endpoints = ec2.describe_vpc_endpoints().send().await.unwrap();
    found.extend(
        (endpoints.vpc_endpoints.unwrap_or_default().into_iter())
            // EC2 spells its states in lower case; the SDK's enum in upper case.
            .filter(|e| {
                !e.state
                    .as_ref()
                    .is_some_and(|s| s.as_str().eq_ignore_ascii_case("deleted"))
            })
            .filter_map(|e| named(e.tags))
            .map(|n| format!("interface endpoint {n}")),
    );
    let gateways = ec2.describe_internet_gateways().send().await.unwrap();
    found.extend(
        gateways
            .internet_gateways
            .unwrap_or_default()
            .into_iter()
            .filter_map(|g| named(g.tags))
            .map(|n| format!("internet gateway {n}")),
    );
    let tables = ec2.describe_route_tables().send().await.unwrap();
    found.extend(
        tables
            .route_tables
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| named(t.tags))
            .map(|n| format!("route table {n}")),
    );
    let groups = ec2.describe_security_groups().send().await.unwrap();
    found.extend(
        groups
            .security_groups
            .unwrap_or_default()
            .into_iter()
            .filter_map(|g| g.group_name)
            .filter(|n| n.starts_with("nami-"))
            .map(|n| format!("security group {n}")),
    );
    found
}

/// Messages in a queue, visible or in flight (SQS's approximate counts).
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<u64, aws_sdk_sqs::Error> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await?
        .attributes
        .unwrap_or_default();
    Ok(attributes
        .values()
        .filter_map(|v| v.parse::<u64>().ok())
        .sum())
}

/// Takes every visible message off a queue (each stays invisible for five minutes); returns
/// their bodies.
pub async fn receive_all(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let messages = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(300)
            .send()
            .await
            .expect("ReceiveMessage")
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            return bodies;
        }
        bodies.extend(messages.into_iter().filter_map(|m| m.body));
    }
}

/// Decodes an IAM policy document (IAM returns them URL-encoded).
pub fn decode_policy(document: &str) -> serde_json::Value {
    let bytes = document.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(
                std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                16,
            ) {
                decoded.push(byte);
                i += 3;
                continue;
            }
        }
        decoded.push(bytes[i]);
        i += 1;
    }
    serde_json::from_slice(&decoded)
        .unwrap_or_else(|_| serde_json::from_str(document).expect("a policy document"))
}
