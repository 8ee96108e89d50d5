//! `nami_mongodb_store` as terraform-provider-aws tests a resource: basic (every object checked
//! through the SDK), import-verify, update in place and by a new instance, disappears (an
//! instance terminated out of band is made again), and destroy leaving nothing but what
//! `retain_volume` keeps.

use nami_harness::Moto;

use crate::support::{Terraform, leftovers, sdk, user_network};

/// A store named `name` with `settings` inside its block.
fn store(name: &str, settings: &str) -> String {
    format!("resource \"nami_mongodb_store\" \"this\" {{\n  name = \"{name}\"\n{settings}}}\n")
}

/// The instance's type, data volume attachment and subnet.
async fn instance(ec2: &aws_sdk_ec2::Client, instance_id: &str) -> aws_sdk_ec2::types::Instance {
    ec2.describe_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .unwrap()
        .reservations
        .unwrap()
        .remove(0)
        .instances
        .unwrap()
        .remove(0)
}

/// The device the volume is attached at on `instance_id`, if it is.
async fn attached_at(ec2: &aws_sdk_ec2::Client, volume_id: &str) -> Option<(String, String)> {
    let volume = ec2
        .describe_volumes()
        .volume_ids(volume_id)
        .send()
        .await
        .unwrap()
        .volumes
        .unwrap()
        .remove(0);
    let attachment = volume.attachments?.into_iter().next()?;
    Some((attachment.instance_id?, attachment.device?))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_is_made_locked_down_imported_identically_and_destroyed_keeping_its_volume() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let tf = Terraform::new("store-basic", &moto);
    tf.write(&store("main", "  tags = { service = \"billing\" }\n"));
    tf.apply();
    let state = tf.resource_values("nami_mongodb_store.this");

    // Its own network, its group, its instance with the data volume at /dev/sdf.
    let instance_id = state["instance_id"].as_str().unwrap();
    let found = instance(&ec2, instance_id).await;
    assert_eq!(found.vpc_id.as_deref(), state["vpc_id"].as_str());
    assert_eq!(
        found.private_ip_address.as_deref(),
        state["private_ip"].as_str()
    );
    let metadata = found.metadata_options.unwrap();
    assert_eq!(
        metadata.http_tokens,
        Some(aws_sdk_ec2::types::HttpTokensState::Required)
    );
    assert!(found.key_name.is_none(), "no key pair");
    let tags: std::collections::BTreeMap<_, _> = (found.tags.unwrap().into_iter())
        .map(|t| (t.key.unwrap(), t.value.unwrap()))
        .collect();
    assert_eq!(tags["Name"], "nami-store-main");
    assert_eq!(tags["nami:store"], "main");
    assert_eq!(tags["nami:owner"], state["owner_token"].as_str().unwrap());
    assert_eq!(tags["team"], "platform", "the provider's default tags");
    assert_eq!(tags["service"], "billing");
    assert!(
        !tags.contains_key("nami:pipeline"),
        "a store, not a pipeline"
    );
    let volume_id = state["data_volume_id"].as_str().unwrap();
    assert_eq!(
        attached_at(&ec2, volume_id).await,
        Some((instance_id.to_owned(), "/dev/sdf".to_owned()))
    );
    // The group admits nothing until a pipeline admits its function.
    let group = ec2
        .describe_security_groups()
        .group_ids(state["security_group_id"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .security_groups
        .unwrap()
        .remove(0);
    assert_eq!(group.group_name.as_deref(), Some("nami-store-main"));
    assert!(group.ip_permissions.unwrap_or_default().is_empty());
    // The user data reads the root secret, names no writer and holds no password.
    let user_data = ec2
        .describe_instance_attribute()
        .instance_id(instance_id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap()
        .user_data
        .unwrap()
        .value
        .unwrap();
    use base64::Engine as _;
    let script = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(user_data)
            .unwrap(),
    )
    .unwrap();
    let root_secret = state["root_secret_arn"].as_str().unwrap();
    assert!(script.contains(&format!("ROOT_SECRET_ARN='{root_secret}'")));
    assert!(
        script.contains("WRITER_SECRET_ARN=''"),
        "no writer of its own"
    );
    assert!(
        script.contains("STORE_NAME='main'"),
        "its tenants found by its name"
    );
    // Its role reads its root secret and the secrets tagged with its name.
    let iam = aws_sdk_iam::Client::new(&sdk);
    let role = "nami-store-main";
    let listed = iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap();
    let document = iam
        .get_role_policy()
        .role_name(role)
        .policy_name(&listed.policy_names[0])
        .send()
        .await
        .unwrap()
        .policy_document;
    assert_eq!(
        crate::support::decode_policy(&document),
        terraform_provider_nami::components::iam::shared_store_policy(root_secret, "main")
    );
    let password = aws_sdk_secretsmanager::Client::new(&sdk)
        .get_secret_value()
        .secret_id(root_secret)
        .send()
        .await
        .unwrap()
        .secret_string
        .unwrap();
    assert!(!script.contains(&password));
    assert!(!serde_json::to_string(&state).unwrap().contains(&password));

    // Import by name: the identical state, and an empty plan.
    tf.ok(&["state", "rm", "nami_mongodb_store.this"]);
    tf.ok(&["import", "-no-color", "nami_mongodb_store.this", "main"]);
    assert_eq!(tf.resource_values("nami_mongodb_store.this"), state);
    let (code, plan) = tf.plan();
    assert_eq!(code, 0, "plan after import must be empty:\n{plan}");

    // Destroy keeps the data volume, marked retained, and nothing else.
    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(
        leftovers(&sdk).await,
        vec!["volume nami-store-main-data".to_owned()]
    );
    let volume = ec2
        .describe_volumes()
        .volume_ids(volume_id)
        .send()
        .await
        .unwrap()
        .volumes
        .unwrap()
        .remove(0);
    assert!(
        (volume.tags.unwrap().iter()).any(|t| t.key.as_deref() == Some("nami:retained")),
        "marked retained"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_instance_type_keeps_the_volume_and_a_terminated_instance_is_made_again() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let (vpc_id, subnets) = user_network(&ec2, 33).await;
    let network = format!(
        "  retain_volume = false\n  network {{\n    vpc_id     = \"{vpc_id}\"\n    subnet_ids = {}\n  }}\n",
        serde_json::to_string(&subnets).unwrap()
    );
    let tf = Terraform::new("store-update", &moto);
    tf.write(&store("shared", &network));
    tf.apply();
    let before = tf.resource_values("nami_mongodb_store.this");
    assert_eq!(before["vpc_id"], vpc_id);
    assert!(
        before["internet_gateway_id"].is_null(),
        "the user's network"
    );
    // Import finds every subnet it was given (its group records them), not just the instance's.
    assert_eq!(before["subnet_ids"], serde_json::json!(subnets));
    tf.ok(&["state", "rm", "nami_mongodb_store.this"]);
    tf.ok(&["import", "-no-color", "nami_mongodb_store.this", "shared"]);
    assert_eq!(tf.resource_values("nami_mongodb_store.this"), before);
    let volume_id = before["data_volume_id"].as_str().unwrap().to_owned();

    // A bigger volume and another instance type: the volume grows, a new instance gets it.
    tf.write(&store(
        "shared",
        &format!("  instance_type = \"t3.medium\"\n  volume_size = 40\n{network}"),
    ));
    tf.apply();
    let after = tf.resource_values("nami_mongodb_store.this");
    assert_ne!(after["instance_id"], before["instance_id"]);
    assert_eq!(after["data_volume_id"], volume_id.as_str());
    let new_instance = after["instance_id"].as_str().unwrap();
    assert_eq!(
        instance(&ec2, new_instance).await.instance_type,
        Some(aws_sdk_ec2::types::InstanceType::T3Medium)
    );
    assert_eq!(
        attached_at(&ec2, &volume_id).await,
        Some((new_instance.to_owned(), "/dev/sdf".to_owned()))
    );
    let (code, plan) = tf.plan();
    assert_eq!(code, 0, "{plan}");

    // Terminated out of band: the plan shows a new instance, the apply makes it.
    ec2.terminate_instances()
        .instance_ids(new_instance)
        .send()
        .await
        .unwrap();
    let (code, plan) = tf.plan();
    assert_eq!(code, 2, "{plan}");
    assert!(plan.contains("instance_id"), "{plan}");
    tf.apply();
    let repaired = tf.resource_values("nami_mongodb_store.this");
    assert_ne!(repaired["instance_id"], after["instance_id"]);
    assert_eq!(repaired["data_volume_id"], volume_id.as_str());

    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(leftovers(&sdk).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_store_settings_fail_at_plan_naming_the_attribute() {
    let moto = Moto::start().unwrap();
    let tf = Terraform::new("store-validation", &moto);
    tf.write(&store("ok", ""));
    tf.ok(&["init", "-no-color"]);
    for (body, expected) in [
        (store("Main", ""), "Invalid store name"),
        (store(&"s".repeat(35), ""), "Invalid store name"),
        (store("main", "  volume_size = 4\n"), "4 is outside 8–16384"),
        (
            store("main", "  snapshot_retention_days = 0\n"),
            "0 is outside 1–36500",
        ),
        (
            store(
                "main",
                "  network {\n    vpc_id     = \"my-vpc\"\n    subnet_ids = []\n  }\n",
            ),
            "Subnets required",
        ),
    ] {
        tf.write(&body);
        let errors = tf.fails(&["plan", "-no-color"]);
        assert!(errors.contains(expected), "{expected}: {errors}");
    }
    // A pipeline in a shared store: a database the store makes users on, and no other store.
    for (store_block, expected) in [
        (
            "shared = \"team\"\n    database = \"admin\"",
            "Invalid database for a shared store",
        ),
        (
            "shared = \"team\"\n    mongodb_uri = \"mongodb://db:27017\"",
            "Conflicting stores",
        ),
        (
            "shared = \"team\"\n    instance_type = \"t3.large\"",
            "set it on the nami_mongodb_store",
        ),
    ] {
        tf.write(&format!(
            "resource \"nami_webhook_pipeline\" \"this\" {{\n  name = \"p\"\n  signature {{\n    scheme = \"github\"\n    secret = \"s\"\n  }}\n  store {{\n    {store_block}\n  }}\n}}\n"
        ));
        let errors = tf.fails(&["plan", "-no-color"]);
        assert!(errors.contains(expected), "{expected}: {errors}");
    }
    // No pipeline may take a store's names.
    tf.write(
        r#"
resource "nami_webhook_pipeline" "this" {
  name = "store-main"
  signature {
    scheme = "github"
    secret = "s"
  }
  store {
    mongodb_uri = "mongodb://db.internal:27017/"
  }
}
"#,
    );
    let errors = tf.fails(&["plan", "-no-color"]);
    assert!(errors.contains("kept for nami_mongodb_store"), "{errors}");
}

/// A pipeline storing into shared store `store` (`store` as HCL: a reference or a quoted name).
fn tenant(label: &str, name: &str, store: &str) -> String {
    format!(
        r#"
resource "nami_webhook_pipeline" "{label}" {{
  name = "{name}"
  signature {{
    scheme = "github"
    secret = "gh-secret"
  }}
  store {{
    shared     = {store}
    database   = "webhooks"
  }}
}}
"#
    )
}

/// The store group's inbound rules: (port, source group).
async fn admitted(ec2: &aws_sdk_ec2::Client, group_id: &str) -> Vec<(i32, String)> {
    let group = ec2
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
        .unwrap()
        .security_groups
        .unwrap()
        .remove(0);
    let mut rules: Vec<(i32, String)> = (group.ip_permissions.unwrap_or_default().into_iter())
        .flat_map(|rule| {
            let port = rule.from_port.unwrap_or_default();
            (rule.user_id_group_pairs.unwrap_or_default().into_iter())
                .filter_map(move |pair| Some((port, pair.group_id?)))
        })
        .collect();
    rules.sort();
    rules
}

#[tokio::test(flavor = "multi_thread")]
async fn pipelines_share_a_store_each_as_its_own_user_and_the_store_outlives_them() {
    use crate::support::function_environment;
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);

    // The store in one configuration, its pipelines in another (as teams often split them).
    let stores = Terraform::new("shared-store", &moto);
    stores.write(&store("team", "  retain_volume = false\n"));
    stores.apply();
    let team = stores.resource_values("nami_mongodb_store.this");
    let pipelines = Terraform::new("shared-pipelines", &moto);
    pipelines.write(&format!(
        "{}{}",
        tenant("github", "github-events", "\"team\""),
        tenant("stripe", "stripe-events", "\"team\"")
    ));
    pipelines.apply();

    let store_group = team["security_group_id"].as_str().unwrap();
    let mut function_groups = Vec::new();
    for (label, name) in [("github", "github-events"), ("stripe", "stripe-events")] {
        let state = pipelines.resource_values(&format!("nami_webhook_pipeline.{label}"));
        // In the store's network, as its own database user, with its own password.
        assert_eq!(state["vpc_id"], team["vpc_id"], "{label}");
        assert_eq!(state["subnet_ids"], team["subnet_ids"], "{label}");
        assert!(state["instance_id"].is_null(), "no instance of its own");
        let env = function_environment(&sdk, &format!("nami-{name}-post-queue")).await;
        assert_eq!(
            env["NAMI_MONGODB_URI"],
            format!(
                "mongodb://nami-{name}@{}:27017/?authSource=webhooks&directConnection=true",
                team["private_ip"].as_str().unwrap()
            )
        );
        let writer = state["store_writer_secret_arn"].as_str().unwrap();
        assert_eq!(env["NAMI_MONGODB_PASSWORD_SECRET_ARN"], writer);
        let tags: std::collections::BTreeMap<String, String> = (secrets
            .describe_secret()
            .secret_id(writer)
            .send()
            .await
            .unwrap()
            .tags
            .unwrap()
            .into_iter())
        .map(|tag| (tag.key.unwrap(), tag.value.unwrap()))
        .collect();
        assert_eq!(tags["nami:store"], "team");
        assert_eq!(tags["nami:store-user"], format!("nami-{name}"));
        assert_eq!(tags["nami:store-database"], "webhooks");
        assert_eq!(tags["nami:pipeline"], name);
        function_groups.push(state["security_group_id"].as_str().unwrap().to_owned());
    }
    // The store's group admits both functions, on MongoDB's port only.
    let mut expected: Vec<(i32, String)> = (function_groups.iter())
        .map(|g| (27017, g.clone()))
        .collect();
    expected.sort();
    assert_eq!(admitted(&ec2, store_group).await, expected);
    let (code, plan) = pipelines.plan();
    assert_eq!(code, 0, "{plan}");

    // Import reads a pipeline's shared store back.
    let github = pipelines.resource_values("nami_webhook_pipeline.github");
    pipelines.ok(&["state", "rm", "nami_webhook_pipeline.github"]);
    pipelines.ok(&[
        "import",
        "-no-color",
        "nami_webhook_pipeline.github",
        "github-events",
    ]);
    assert_eq!(
        pipelines.resource_values("nami_webhook_pipeline.github"),
        github
    );
    let (code, plan) = pipelines.plan();
    assert_eq!(code, 0, "plan after import must be empty:\n{plan}");

    // The store refuses to go while pipelines use it, naming them, and deletes nothing.
    let refused = stores.fails(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        refused.contains("used by pipelines github-events, stripe-events"),
        "{refused}"
    );
    assert!(
        instance(&ec2, team["instance_id"].as_str().unwrap())
            .await
            .state
            .is_some()
    );

    // A pipeline leaves: its rule and its user's secret go, the store and the other stay.
    pipelines.write(&tenant("stripe", "stripe-events", "\"team\""));
    pipelines.apply();
    let stripe_group =
        pipelines.resource_values("nami_webhook_pipeline.stripe")["security_group_id"]
            .as_str()
            .unwrap()
            .to_owned();
    assert_eq!(
        admitted(&ec2, store_group).await,
        vec![(27017, stripe_group)]
    );
    pipelines.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(admitted(&ec2, store_group).await, Vec::new());
    stores.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(leftovers(&sdk).await, Vec::<String>::new());
}

/// The migration the guide describes: a pipeline's inline store becomes a shared store by moving
/// its data volume — the pipeline is destroyed keeping the volume, a store adopts it, and the
/// pipeline (same name, same database) joins the store.
#[tokio::test(flavor = "multi_thread")]
async fn an_inline_stores_volume_becomes_a_shared_stores_with_its_data() {
    let moto = Moto::start().unwrap();
    let sdk = sdk(&moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let tf = Terraform::new("store-migration", &moto);
    let inline = r#"
resource "nami_webhook_pipeline" "github" {
  name = "github-events"
  signature {
    scheme = "github"
    secret = "gh-secret"
  }
  store {
    database = "webhooks"
  }
}
"#;
    tf.write(inline);
    tf.apply();
    let before = tf.resource_values("nami_webhook_pipeline.github");
    let volume_id = before["data_volume_id"].as_str().unwrap().to_owned();

    // 1. The pipeline goes, its volume stays (retain_volume, the default).
    tf.ok(&[
        "apply",
        "-destroy",
        "-auto-approve",
        "-no-color",
        "-target=nami_webhook_pipeline.github",
    ]);
    assert_eq!(attached_at(&ec2, &volume_id).await, None, "released");

    // 2. A store adopts the volume; the pipeline joins it, on the same database.
    tf.write(&format!(
        r#"
resource "nami_mongodb_store" "main" {{
  name          = "main"
  volume_id     = "{volume_id}"
  retain_volume = false
}}
{}"#,
        tenant("github", "github-events", "nami_mongodb_store.main.id")
    ));
    tf.apply();
    let store = tf.resource_values("nami_mongodb_store.main");
    assert_eq!(
        store["data_volume_id"],
        volume_id.as_str(),
        "the data moved with it"
    );
    assert_eq!(
        attached_at(&ec2, &volume_id).await,
        Some((
            store["instance_id"].as_str().unwrap().to_owned(),
            "/dev/sdf".to_owned()
        ))
    );
    let after = tf.resource_values("nami_webhook_pipeline.github");
    assert_eq!(after["store"]["database"], "webhooks");
    assert_eq!(after["store"]["shared"], "main");
    let (code, plan) = tf.plan();
    assert_eq!(code, 0, "{plan}");

    tf.ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(leftovers(&sdk).await, Vec::<String>::new());
}
