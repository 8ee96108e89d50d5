//! The modules under `modules/`, each tested by its own `tests/*.tftest.hcl` with the real
//! `terraform test` against moto (`make testmodules`, part of `make test`): every run applies,
//! asserts (through the provider's own data sources where it reads back) and destroys; after
//! the last, nothing of the modules' pipelines is left in moto.

use std::path::Path;

use nami_harness::aws::{leftovers, sdk};
use nami_harness::terraform::Terraform;
use nami_harness::{Moto, workspace_root};

use crate::support::user_network;

/// Copies `from` into `to`, folders included (no `.terraform` a local run left).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(".terraform") {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// Runs `terraform test` in a copy of `modules/<module>` (with the helper modules the tests
/// name by relative path) against `moto`, with `vars`; returns its output.
fn terraform_test(module: &str, moto: &Moto, vars: &[String]) -> String {
    let root = workspace_root()
        .join("target/acc")
        .join(format!("modules-{module}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    copy_tree(&workspace_root().join("modules"), &root.join("modules"));
    copy_tree(
        &workspace_root().join("tests/terraform"),
        &root.join("tests/terraform"),
    );
    let tf = Terraform::at(root.join("modules").join(module), &moto.endpoint());
    tf.ok(&["init", "-no-color"]);
    let endpoint = format!("endpoint={}", moto.endpoint());
    let mut args = vec!["test", "-no-color", "-var", endpoint.as_str()];
    for var in vars {
        args.extend(["-var", var.as_str()]);
    }
    let output = tf.run(&args);
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "terraform test in modules/{module}:\n{text}"
    );
    text
}

/// `terraform validate` of `modules/<module>/examples/<example>` (one that needs only the nami
/// provider), in a copy.
fn validate_example(module: &str, example: &str, moto: &Moto) {
    let root = workspace_root()
        .join("target/acc")
        .join(format!("example-{module}-{example}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    copy_tree(&workspace_root().join("modules"), &root.join("modules"));
    let folder = root
        .join("modules")
        .join(module)
        .join("examples")
        .join(example);
    let tf = Terraform::at(folder, &moto.endpoint());
    tf.ok(&["init", "-no-color"]);
    tf.ok(&["validate", "-no-color"]);
}

/// The number of passed runs `terraform test` reports ("Success! N passed, 0 failed.").
fn passed(output: &str) -> usize {
    (output.lines())
        .find_map(|line| line.strip_prefix("Success! "))
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no summary in:\n{output}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_sources_passes_its_terraform_tests_and_leaves_nothing() {
    let moto = Moto::start().unwrap();
    let output = terraform_test("webhook-sources", &moto, &[]);
    assert_eq!(passed(&output), 18, "{output}");
    assert_eq!(leftovers(&sdk(&moto).await).await, Vec::<String>::new());
    validate_example("webhook-sources", "basic", &moto);
}

#[tokio::test(flavor = "multi_thread")]
async fn existing_network_passes_its_terraform_tests_and_leaves_nothing() {
    let moto = Moto::start().unwrap();
    let aws = sdk(&moto).await;
    let (vpc_id, subnet_ids) = user_network(&aws_sdk_ec2::Client::new(&aws), 31).await;
    let subnets = serde_json::to_string(&subnet_ids).unwrap();
    // A store the team runs in the VPC: the provider reads its connection string at apply.
    let team_store = crate::support::user_secret(
        &aws,
        "team-mongo",
        "mongodb://mongo.internal:27017/?replicaSet=rs0",
    )
    .await;
    let output = terraform_test(
        "existing-network",
        &moto,
        &[
            format!("vpc_id={vpc_id}"),
            format!("private_subnet_ids={subnets}"),
            format!("team_store_secret_arn={team_store}"),
        ],
    );
    assert_eq!(passed(&output), 6, "{output}");
    assert_eq!(leftovers(&aws).await, Vec::<String>::new());
}

/// The names declared as `<kind> "<name>"` in `.tf` source `text`.
fn declared(text: &str, kind: &str) -> Vec<String> {
    let opening = format!("{kind} \"");
    (text.lines())
        .filter_map(|line| line.strip_prefix(&opening)?.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn each_modules_readme_lists_exactly_its_inputs_and_outputs() {
    for module in ["webhook-sources", "existing-network"] {
        let folder = workspace_root().join("modules").join(module);
        let read = |file: &str| std::fs::read_to_string(folder.join(file)).unwrap();
        let readme = read("README.md");
        let listed: Vec<&str> = (readme.lines())
            .filter_map(|line| line.strip_prefix("| `")?.split('`').next())
            .collect();
        let mut expected = declared(&read("variables.tf"), "variable");
        expected.extend(declared(&read("outputs.tf"), "output"));
        let mut listed_sorted: Vec<String> = listed.iter().map(|s| (*s).to_owned()).collect();
        listed_sorted.sort();
        expected.sort();
        assert_eq!(
            listed_sorted, expected,
            "modules/{module}/README.md's tables"
        );
    }
}
