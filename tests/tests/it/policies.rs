//! Every IAM policy the provider can write, checked by an outside tool: parliament (PyPI, pinned
//! in the project's Python tools). moto does not evaluate IAM, so this is where an over-grant or
//! a malformed statement would show.
//!
//! Two findings are known false positives, explained here and allowed exactly, nothing else:
//! - a trust policy has no `Resource` (IAM forbids one there), which parliament calls MALFORMED;
//! - `lambda:SourceFunctionArn` is not in EC2's list of condition keys, yet it is the key Lambda
//!   adds to every call made with a function's credentials from its code, and AWS documents the
//!   deny on it for exactly these network-interface actions (parliament: UNKNOWN_CONDITION_FOR_ACTION).
//!
//! (Statement ids with hyphens are another known false positive of parliament's; the provider
//! writes no statement ids.)

use std::io::Write as _;
use std::process::{Command, Stdio};

use nami_contract::naming::Function;
use nami_harness::venv_bin;
use serde_json::Value;
use terraform_provider_nami::components::iam::{self, Grants, NetworkGrant};

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";
const VOLUME: &str = "vol-0123456789abcdef0";

/// parliament's findings for `policy`, one JSON object each.
fn parliament(policy: &Value) -> Vec<Value> {
    let mut child = Command::new(venv_bin("parliament"))
        .arg("--json")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("parliament runs (make setup installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(policy.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.trim().is_empty(), "parliament failed: {stderr}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("a finding per line"))
        .collect()
}

fn known_false_positive(finding: &Value, trust: bool) -> bool {
    let detail = finding["detail"].as_str().unwrap_or_default();
    match finding["issue"].as_str() {
        Some("MALFORMED") => {
            trust && detail == "Statement contains neither Resource nor NotResource"
        }
        Some("UNKNOWN_CONDITION_FOR_ACTION") => {
            detail.starts_with("Unknown condition lambda:SourceFunctionArn for action ec2:")
        }
        _ => false,
    }
}

/// Every (name, policy, is a trust policy) the provider can write.
fn every_policy() -> Vec<(String, Value, bool)> {
    let subnets = vec!["subnet-0a1b2c3d".to_owned(), "subnet-0e1f2a3b".to_owned()];
    let network = NetworkGrant {
        subnet_ids: &subnets,
        security_group_id: "sg-0123456789abcdef0",
    };
    let queue_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:nami-orders");
    let secrets = [
        None,
        Some(format!(
            "arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:github-AbCdEf"
        )),
        Some(format!(
            "arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/nami/github"
        )),
    ];
    let store_secret = |part: &str| {
        format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:nami-orders-store-{part}-AbCdEf")
    };
    let (root, writer) = (store_secret("root"), store_secret("writer"));
    let replay_table = format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/nami-orders-replay");
    let mut policies = vec![
        ("trust".to_owned(), iam::trust_policy(Some(ACCOUNT)), true),
        ("store trust".to_owned(), iam::store_trust_policy(), true),
        (
            "store".to_owned(),
            iam::store_policy(&[&root, &writer]),
            false,
        ),
        (
            "shared store".to_owned(),
            iam::shared_store_policy(
                &format!(
                    "arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:nami-store-team-root-AbCdEf"
                ),
                "team",
            ),
            false,
        ),
        (
            "snapshots trust".to_owned(),
            iam::snapshot_trust_policy(),
            true,
        ),
        (
            "snapshots".to_owned(),
            iam::snapshot_policy(REGION, ACCOUNT, VOLUME, "orders"),
            false,
        ),
    ];
    for function in Function::ALL {
        for secret in &secrets {
            // The managed store (its writer secret, in a VPC) or not.
            for (placement, store_secret) in [
                (None, None),
                (Some(network), None),
                (Some(network), Some(writer.as_str())),
            ] {
                let grants = Grants {
                    queue_arn: &queue_arn,
                    secret_arn: secret.as_deref(),
                    secret_customer_key: secret.is_some(),
                    store_secret_arn: store_secret,
                    store_secret_customer_key: store_secret.is_some() && secret.is_some(),
                    replay_table_arn: Some(&replay_table),
                    network: placement,
                };
                let name = format!(
                    "{} (secret {:?}, in a VPC: {}, managed store: {})",
                    function.slug(),
                    secret,
                    placement.is_some(),
                    store_secret.is_some()
                );
                let function_name = format!("nami-orders-{}", function.slug());
                let policy = iam::policy(function, REGION, ACCOUNT, &function_name, &grants);
                policies.push((name, policy, false));
            }
        }
    }
    policies
}

#[test]
fn parliament_finds_nothing_in_any_policy_the_provider_writes() {
    let mut unexpected = Vec::new();
    for (name, policy, trust) in every_policy() {
        for finding in parliament(&policy) {
            if !known_false_positive(&finding, trust) {
                unexpected.push(format!("{name}: {finding}"));
            }
        }
    }
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
}

#[test]
fn parliament_does_find_an_over_grant() {
    // The check itself can fail: the VPC statement as it was (every interface action on "*").
    let over_grant = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface"],
            "Resource": "*"
        }]
    });
    let findings = parliament(&over_grant);
    assert!(
        findings.iter().any(|f| f["issue"] == "RESOURCE_STAR"),
        "{findings:?}"
    );
}

#[test]
fn the_snapshot_role_may_snapshot_only_its_volume_and_delete_only_its_snapshots() {
    let policy = iam::snapshot_policy(REGION, ACCOUNT, VOLUME, "orders");
    let statements = policy["Statement"].as_array().unwrap();
    let granting = |action: &str| -> Vec<&Value> {
        (statements.iter())
            .filter(|s| s["Action"].as_array().unwrap().iter().any(|a| a == action))
            .collect()
    };
    let [create] = granting("ec2:CreateSnapshot")[..] else {
        panic!("one statement creates snapshots")
    };
    assert_eq!(
        create["Resource"],
        serde_json::json!([
            format!("arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{VOLUME}"),
            format!("arn:aws:ec2:{REGION}::snapshot/*"),
        ])
    );
    let [delete] = granting("ec2:DeleteSnapshot")[..] else {
        panic!("one statement deletes snapshots")
    };
    assert_eq!(
        delete["Condition"],
        serde_json::json!({ "StringEquals": { "aws:ResourceTag/nami:pipeline": "orders" } })
    );
    // Nothing but the reads names every resource.
    for statement in statements.iter().filter(|s| s["Resource"] == "*") {
        for action in statement["Action"].as_array().unwrap() {
            assert!(
                action.as_str().unwrap().starts_with("ec2:Describe"),
                "{action}"
            );
        }
    }
}

#[test]
fn a_shared_store_reads_only_its_root_secret_and_the_secrets_tagged_with_its_name() {
    let root =
        format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:nami-store-team-root-AbCdEf");
    let policy = iam::shared_store_policy(&root, "team");
    let statements = policy["Statement"].as_array().unwrap();
    let reads: Vec<&Value> = (statements.iter())
        .filter(|s| s["Action"] == serde_json::json!(["secretsmanager:GetSecretValue"]))
        .collect();
    assert_eq!(reads.len(), 2);
    assert_eq!(reads[0]["Resource"], serde_json::json!([root]));
    assert!(reads[0].get("Condition").is_none());
    assert_eq!(
        reads[1]["Resource"],
        serde_json::json!([format!(
            "arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:nami-*"
        )])
    );
    assert_eq!(
        reads[1]["Condition"],
        serde_json::json!({ "StringEquals": { "secretsmanager:ResourceTag/nami:store": "team" } })
    );
    // Listing takes no resource; nothing else is granted.
    let others: Vec<&Value> = (statements.iter())
        .filter(|s| s["Action"] != serde_json::json!(["secretsmanager:GetSecretValue"]))
        .collect();
    assert_eq!(others.len(), 1);
    assert_eq!(
        others[0]["Action"],
        serde_json::json!(["secretsmanager:ListSecrets"])
    );
    assert_eq!(others[0]["Resource"], "*");
}
