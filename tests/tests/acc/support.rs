//! Acceptance-test helpers: the harness's Terraform runner and AWS checks, configurations,
//! artifacts, policy decoding, and the destroy check through the provider's own finders.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use aws_config::SdkConfig;
pub(crate) use nami_harness::aws::{decode_policy, leftovers, sdk};
pub(crate) use nami_harness::terraform::Terraform;
use nami_harness::workspace_root;
use terraform_provider_nami::aws::{Clients, Endpoints};
use terraform_provider_nami::components::store::instance;
use terraform_provider_nami::components::{
    alarms, api, logs, mapping, network, queue, secret, security_groups,
};
use terraform_provider_nami::lookup::{find_pipeline, inventory};

/// A pipeline with an existing store, tagged, plus `extra` blocks.
pub(crate) fn pipeline(name: &str, extra: &str) -> String {
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

pub(crate) use nami_harness::record_figures;

/// A pipeline with the managed store (`store` holds the store block's settings).
pub(crate) fn managed_pipeline(name: &str, store: &str) -> String {
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

/// A copy of `function`'s installed artifact with one more file: same code, different hash.
pub(crate) fn changed_artifact(dir: &Path, function: &str) -> PathBuf {
    let original = workspace_root().join(format!("target/lambda/{function}/bootstrap.zip"));
    let mut archive = zip::ZipArchive::new(std::fs::File::open(original).unwrap()).unwrap();
    let path = dir.join(format!("custom-{function}.zip"));
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

/// Lambda's `CodeSha256` of a file.
pub(crate) fn sha256_base64(path: &Path) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::STANDARD
        .encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// A user's own VPC `10.<octet>.0.0/16` with subnets in two availability zones.
pub(crate) async fn user_network(ec2: &aws_sdk_ec2::Client, octet: u8) -> (String, Vec<String>) {
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

/// A Secrets Manager secret of the user's, `name` holding `value`: its ARN.
pub(crate) async fn user_secret(sdk: &SdkConfig, name: &str, value: &str) -> String {
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

/// The environment variables of function `name`, as Lambda reports them.
pub(crate) async fn function_environment(
    sdk: &SdkConfig,
    name: &str,
) -> std::collections::HashMap<String, String> {
    aws_sdk_lambda::Client::new(sdk)
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .unwrap()
        .environment
        .and_then(|environment| environment.variables)
        .unwrap_or_default()
}

/// The provider's own clients, pointed at moto.
pub(crate) fn provider_clients(sdk: &SdkConfig) -> Clients {
    Clients::new(sdk, &Endpoints::default(), BTreeMap::new())
}

/// Checks, with the provider's own finders, that every object `state` names is gone (the data
/// volume aside: it is retained by default; the log groups with `retain_logs`), and that no
/// pipeline of that name is found.
pub(crate) async fn assert_destroyed(sdk: &SdkConfig, state: &serde_json::Value) {
    let clients = provider_clients(sdk);
    let name = state["name"].as_str().unwrap();
    let id = |key: &str| state[key].as_str().map(str::to_owned);
    assert!(
        find_pipeline(&clients, name).await.unwrap().is_none(),
        "pipeline {name} still found"
    );
    for key in ["queue_url", "dlq_url"] {
        if let Some(url) = id(key) {
            assert!(
                queue::find(&clients, &url).await.unwrap().is_none(),
                "{key} {url} remains"
            );
        }
    }
    if state["retain_logs"].as_bool() != Some(true) {
        for key in ["pre_queue_log_group_arn", "post_queue_log_group_arn"] {
            if let Some(arn) = id(key) {
                assert!(
                    logs::find(&clients, logs::name_in(&arn))
                        .await
                        .unwrap()
                        .is_none(),
                    "{key} {arn} remains"
                );
            }
        }
    }
    if state["alarm_arns"].is_object() {
        let alarms = alarms::find(&clients, name).await.unwrap();
        assert!(alarms.is_empty(), "alarms remain: {alarms:?}");
    }
    if let Some(arn) = id("signing_secret_arn") {
        assert!(
            secret::value(&clients, &arn).await.unwrap().is_none(),
            "signing secret {arn} remains"
        );
    }
    // Everything that answers to the name, retained data volumes aside.
    let remaining: Vec<String> = inventory(&clients, name)
        .await
        .unwrap()
        .iter()
        .filter(|object| !object.is_retained())
        .map(ToString::to_string)
        .collect();
    assert!(
        remaining.is_empty(),
        "objects of {name} remain: {remaining:?}"
    );
    if let Some(uuid) = id("event_source_mapping_id") {
        assert!(
            mapping::find(&clients, &uuid).await.unwrap().is_none(),
            "mapping {uuid} remains"
        );
    }
    if let Some(api_id) = id("api_id") {
        assert!(
            api::find(&clients, &api_id).await.unwrap().is_none(),
            "REST API {api_id} remains"
        );
    }
    for key in ["security_group_id", "store_security_group_id"] {
        if let Some(group) = id(key) {
            assert!(
                security_groups::find(&clients, &group)
                    .await
                    .unwrap()
                    .is_none(),
                "{key} {group} remains"
            );
        }
    }
    if let Some(instance_id) = id("instance_id") {
        assert!(
            instance::find_instance(&clients, &instance_id)
                .await
                .unwrap()
                .is_none(),
            "instance {instance_id} remains"
        );
    }
    if let (Some(vpc_id), Some(_)) = (id("vpc_id"), id("internet_gateway_id")) {
        assert!(
            !network::vpc_exists(&clients, &vpc_id).await.unwrap(),
            "managed VPC {vpc_id} remains"
        );
    }
}
