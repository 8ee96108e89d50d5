//! The pipeline's IAM roles, least privilege. The functions': the pre-queue role may only send to
//! its queue (and read its signing secret); the post-queue role may only receive, delete and read
//! attributes on it, read the managed store's writer password, manage network interfaces in its
//! own subnets and security group (for Lambda, never for the function's code), and write its own
//! logs. No wildcard actions; only `ec2:DescribeNetworkInterfaces`, which has no resource type,
//! names `*`. Trust: Lambda, for this account only. The managed store's: its instance (through
//! an instance profile of the same name) may only read the store's two password secrets. The
//! snapshots' (with `store.snapshot_retention_days`): Data Lifecycle Manager may only snapshot
//! the data volume and delete the pipeline's own snapshots.

use std::collections::BTreeMap;

use nami_contract::naming::{Function, PIPELINE_TAG, Part, lambda_log_group, object_name};
use nami_contract::secret_arn::SecretStore;
use serde_json::{Value, json};

use super::Context;
use crate::aws::{AwsError, Clients, OptionalNotFound, TagChange, aws_error, returned};
use crate::model::PipelineState;
use crate::ownership::{Kind, Tagged};

/// Name of the inline policy on each role.
const POLICY_NAME: &str = "nami";

/// What a role's policy grants access to.
#[derive(Debug, Clone)]
pub struct Grants<'a> {
    /// The main queue (pre-queue: send; post-queue: receive and delete).
    pub queue_arn: &'a str,
    /// The signing secret's ARN, when the pre-queue function reads it at start.
    pub secret_arn: Option<&'a str>,
    /// Whether that secret is encrypted with a customer-managed KMS key (the function then needs
    /// `kms:Decrypt` for it, through its store only).
    pub secret_customer_key: bool,
    /// The secret the post-queue function reads at start: the connection string's, or the
    /// managed store's writer password.
    pub store_secret_arn: Option<&'a str>,
    /// Whether that secret is the user's under a customer-managed KMS key.
    pub store_secret_customer_key: bool,
    /// The replay window's table, which the pre-queue function writes.
    pub replay_table_arn: Option<&'a str>,
    /// Where the post-queue function's network interfaces go, when it runs in a VPC.
    pub network: Option<NetworkGrant<'a>>,
}

/// The subnets and security group the post-queue function's network interfaces use.
#[derive(Debug, Clone, Copy)]
pub struct NetworkGrant<'a> {
    /// The function's subnets.
    pub subnet_ids: &'a [String],
    /// The function's security group.
    pub security_group_id: &'a str,
}

/// The network-interface actions Lambda performs with a VPC function's execution role.
const INTERFACE_ACTIONS: [&str; 5] = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
];

/// Tags in IAM's form.
fn iam_tags(tags: &BTreeMap<String, String>) -> Vec<aws_sdk_iam::types::Tag> {
    tags.iter()
        .filter_map(|(key, value)| {
            // The builder fails only without a key or value, and both are always given.
            aws_sdk_iam::types::Tag::builder()
                .key(key)
                .value(value)
                .build()
                .ok()
        })
        .collect()
}

fn role_name(pipeline: &str, function: Function) -> String {
    object_name(pipeline, Part::Function(function))
}

/// The name in a role's ARN (`arn:aws:iam::<account>:role/<path/><name>`).
fn name_in(role_arn: &str) -> &str {
    role_arn.rsplit('/').next().unwrap_or(role_arn)
}

/// Who may assume a function's role: Lambda, and once the account is known (from the role's
/// ARN), Lambda acting for this account only (`aws:SourceAccount`, against the confused deputy).
pub fn trust_policy(account: Option<&str>) -> Value {
    let mut statement = json!({
        "Effect": "Allow",
        "Principal": { "Service": "lambda.amazonaws.com" },
        "Action": "sts:AssumeRole"
    });
    if let Some(account) = account {
        statement["Condition"] = json!({ "StringEquals": { "aws:SourceAccount": account } });
    }
    json!({ "Version": "2012-10-17", "Statement": [statement] })
}

/// The account in an IAM ARN (`arn:aws:iam::<account>:role/…`).
pub fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|account| !account.is_empty())
}

/// Creates the role `function` runs as (trust: Lambda; [`put_trust`] narrows it to the account).
/// Returns its ARN.
pub async fn create_role(ctx: Context<'_>, function: Function) -> Result<String, AwsError> {
    let description = format!("{}: {} function", ctx.describe(), function.slug());
    let name = role_name(ctx.name, function);
    create_named_role(ctx, &name, &trust_policy(None), &description).await
}

/// Writes (or rewrites) the inline policy of the role `role_arn`.
async fn put_inline_policy(
    ctx: Context<'_>,
    role_arn: &str,
    document: &Value,
) -> Result<(), AwsError> {
    ctx.clients
        .iam
        .put_role_policy()
        .role_name(name_in(role_arn))
        .policy_name(POLICY_NAME)
        .policy_document(document.to_string())
        .send()
        .await
        .map_err(aws_error("iam:PutRolePolicy"))?;
    Ok(())
}

/// Creates role `name` with `trust`, tagged as the pipeline's. Returns its ARN.
async fn create_named_role(
    ctx: Context<'_>,
    name: &str,
    trust: &Value,
    description: &str,
) -> Result<String, AwsError> {
    let role = ctx
        .clients
        .iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .description(description)
        .set_tags(Some(iam_tags(&ctx.object_tags())))
        .send()
        .await
        .map_err(aws_error("iam:CreateRole"))?
        .role;
    returned("iam:CreateRole", role.map(|r| r.arn))
}

/// Writes (or rewrites) the role's trust policy, for this account only.
pub async fn put_trust(ctx: Context<'_>, role_arn: &str) -> Result<(), AwsError> {
    ctx.clients
        .iam
        .update_assume_role_policy()
        .role_name(name_in(role_arn))
        .policy_document(trust_policy(account_of(role_arn)).to_string())
        .send()
        .await
        .map_err(aws_error("iam:UpdateAssumeRolePolicy"))?;
    Ok(())
}

/// Writes (or rewrites) the inline policy of `function`'s role.
pub async fn put_policy(
    ctx: Context<'_>,
    function: Function,
    role_arn: &str,
    grants: &Grants<'_>,
) -> Result<(), AwsError> {
    let account = account_of(role_arn).unwrap_or_default();
    let function_name = object_name(ctx.name, Part::Function(function));
    let document = policy(
        function,
        &ctx.clients.region,
        account,
        &function_name,
        grants,
    );
    put_inline_policy(ctx, role_arn, &document).await
}

/// The least-privilege policy of `function`.
pub fn policy(
    function: Function,
    region: &str,
    account: &str,
    function_name: &str,
    grants: &Grants<'_>,
) -> Value {
    // The group is the pipeline's (made before the function): the function writes streams in it
    // and makes no group.
    let log_group = lambda_log_group(function_name);
    let logs = json!({
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": format!("arn:aws:logs:{region}:{account}:log-group:{log_group}:*")
    });
    let mut statements = vec![logs];
    match function {
        Function::PreQueue => {
            statements.push(json!({ "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": grants.queue_arn }));
            statements.extend(read_statements(
                grants.secret_arn,
                grants.secret_customer_key,
            ));
            if let Some(arn) = grants.replay_table_arn {
                statements.push(
                    json!({ "Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": arn }),
                );
            }
        }
        Function::PostQueue => {
            statements.push(json!({
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                "Resource": grants.queue_arn
            }));
            statements.extend(read_statements(
                grants.store_secret_arn,
                grants.store_secret_customer_key,
            ));
            if let Some(network) = grants.network {
                statements.extend(interface_statements(
                    region,
                    account,
                    function_name,
                    network,
                ));
            }
        }
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// Reading the secret `arn` (a Secrets Manager secret or an SSM parameter), and decrypting it when
/// it is under a customer-managed key.
fn read_statements(arn: Option<&str>, customer_key: bool) -> Vec<Value> {
    let Some((arn, store)) = arn.and_then(|arn| Some((arn, SecretStore::of_arn(arn)?))) else {
        return Vec::new();
    };
    let mut statements =
        vec![json!({ "Effect": "Allow", "Action": [store.read_action()], "Resource": arn })];
    if customer_key {
        statements.push(decrypt_statement(store, arn));
    }
    statements
}

/// `kms:Decrypt` of the secret `arn` only: any key of its account and region, but only through its
/// store (`kms:ViaService`) and only under its encryption context (the secret's own ARN).
fn decrypt_statement(store: SecretStore, arn: &str) -> Value {
    let mut parts = arn.split(':');
    let (region, account) = (
        parts.nth(3).unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    json!({
        "Effect": "Allow",
        "Action": ["kms:Decrypt"],
        "Resource": format!("arn:aws:kms:{region}:{account}:key/*"),
        "Condition": {
            "StringEquals": {
                "kms:ViaService": format!("{}.{region}.amazonaws.com", store.service()),
                format!("kms:EncryptionContext:{}", store.encryption_context_key()): arn
            }
        }
    })
}

/// What Lambda needs to place a function's network interfaces in `network`, and nothing more:
/// creating them names the pipeline's subnets and group; the other interface actions act on
/// interfaces only; describing has no resource type. A deny keeps the function's own code (whose
/// calls carry `lambda:SourceFunctionArn`) from using any of them.
fn interface_statements(
    region: &str,
    account: &str,
    function_name: &str,
    network: NetworkGrant<'_>,
) -> Vec<Value> {
    let ec2 = |kind: &str, id: &str| format!("arn:aws:ec2:{region}:{account}:{kind}/{id}");
    let interfaces = ec2("network-interface", "*");
    let mut create_on = vec![
        interfaces.clone(),
        ec2("security-group", network.security_group_id),
    ];
    create_on.extend(network.subnet_ids.iter().map(|id| ec2("subnet", id)));
    vec![
        json!({ "Effect": "Allow", "Action": ["ec2:DescribeNetworkInterfaces"], "Resource": "*" }),
        json!({ "Effect": "Allow", "Action": ["ec2:CreateNetworkInterface"], "Resource": create_on }),
        json!({
            "Effect": "Allow",
            "Action": [
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses"
            ],
            "Resource": interfaces
        }),
        json!({
            "Effect": "Deny",
            "Action": INTERFACE_ACTIONS,
            "Resource": "*",
            "Condition": {
                "ArnEquals": {
                    "lambda:SourceFunctionArn":
                        format!("arn:aws:lambda:{region}:{account}:function:{function_name}")
                }
            }
        }),
    ]
}

/// Who may assume the managed store's role: EC2, for the instance its instance profile is given
/// to. (EC2 sets no `aws:SourceAccount` when it assumes an instance profile's role, so the
/// condition the functions' trust carries would lock the instance out; the profile, which only
/// this pipeline's instance gets, is what scopes it.)
pub fn store_trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "ec2.amazonaws.com" },
            "Action": "sts:AssumeRole"
        }]
    })
}

/// The managed store's policy: read exactly its password secrets, nothing else.
pub fn store_policy(secret_arns: &[&str]) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": secret_arns
        }]
    })
}

/// A shared store's policy: read its root secret, and the secrets its tenants tagged with its
/// name (`nami:store`: each pipeline's database user password, named `nami-…` in the root
/// secret's account and region), found by listing (which takes no resource).
pub fn shared_store_policy(root_secret_arn: &str, store: &str) -> Value {
    let mut parts = root_secret_arn.split(':');
    let (region, account) = (
        parts.nth(3).unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": [root_secret_arn]
            },
            {
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": [format!("arn:aws:secretsmanager:{region}:{account}:secret:nami-*")],
                "Condition": {
                    "StringEquals": {
                        format!("secretsmanager:ResourceTag/{}", nami_contract::naming::STORE_TAG): store
                    }
                }
            },
            {
                "Effect": "Allow",
                "Action": ["secretsmanager:ListSecrets"],
                "Resource": "*"
            }
        ]
    })
}

/// Writes (or rewrites) a shared store's role policy ([`shared_store_policy`]).
pub async fn put_shared_store_policy(
    ctx: Context<'_>,
    role_arn: &str,
    root_secret_arn: &str,
) -> Result<(), AwsError> {
    let policy = shared_store_policy(root_secret_arn, ctx.owner_name());
    put_inline_policy(ctx, role_arn, &policy).await
}

/// Creates the managed store's role. Returns its ARN.
pub async fn create_store_role(ctx: Context<'_>) -> Result<String, AwsError> {
    let description = format!("{}: the managed store's instance", ctx.describe());
    let name = ctx.object_name(Part::Store);
    create_named_role(ctx, &name, &store_trust_policy(), &description).await
}

/// Writes (or rewrites) the store role's policy: read `secret_arns`.
pub async fn put_store_policy(
    ctx: Context<'_>,
    role_arn: &str,
    secret_arns: &[&str],
) -> Result<(), AwsError> {
    put_inline_policy(ctx, role_arn, &store_policy(secret_arns)).await
}

/// Who may assume the snapshot policy's role: Data Lifecycle Manager. (As for the role AWS itself
/// makes for it, `AWSDataLifecycleManagerDefaultRole`, no source condition: DLM documents none it
/// sets. The policy below is what scopes the role: this pipeline's data volume and snapshots.)
pub fn snapshot_trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "dlm.amazonaws.com" },
            "Action": "sts:AssumeRole"
        }]
    })
}

/// The snapshot policy's role policy: snapshot the data volume `volume_id` (only it), tag the
/// snapshots it makes, delete only snapshots tagged as this pipeline's (DLM adds the tag), and
/// the reads DLM needs (EC2's `Describe*` take no resource).
pub fn snapshot_policy(region: &str, account: &str, volume_id: &str, pipeline: &str) -> Value {
    let snapshots = format!("arn:aws:ec2:{region}::snapshot/*");
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ec2:CreateSnapshot"],
                "Resource": [
                    format!("arn:aws:ec2:{region}:{account}:volume/{volume_id}"),
                    snapshots,
                ]
            },
            {
                "Effect": "Allow",
                "Action": ["ec2:CreateTags"],
                "Resource": snapshots
            },
            {
                "Effect": "Allow",
                "Action": ["ec2:DeleteSnapshot"],
                "Resource": snapshots,
                "Condition": { "StringEquals": { format!("aws:ResourceTag/{PIPELINE_TAG}"): pipeline } }
            },
            {
                "Effect": "Allow",
                "Action": ["ec2:DescribeVolumes", "ec2:DescribeInstances", "ec2:DescribeSnapshots"],
                "Resource": "*"
            }
        ]
    })
}

/// Creates the role the snapshot policy runs as. Returns its ARN.
pub async fn create_snapshot_role(ctx: Context<'_>) -> Result<String, AwsError> {
    let description = format!("{}: daily snapshots of the data volume", ctx.describe());
    let name = ctx.object_name(Part::Snapshots);
    create_named_role(ctx, &name, &snapshot_trust_policy(), &description).await
}

/// Writes (or rewrites) the snapshot role's policy, for data volume `volume_id`.
pub async fn put_snapshot_policy(
    ctx: Context<'_>,
    role_arn: &str,
    volume_id: &str,
) -> Result<(), AwsError> {
    let account = account_of(role_arn).ok_or_else(|| {
        AwsError::Unusable(format!("no account in the snapshot role's ARN {role_arn}"))
    })?;
    let policy = snapshot_policy(&ctx.clients.region, account, volume_id, ctx.name);
    put_inline_policy(ctx, role_arn, &policy).await
}

/// Makes the instance profile of the store's role (same name) exist and hold the role. Returns
/// the profile's name, for `RunInstances`.
pub async fn ensure_instance_profile(ctx: Context<'_>, role_arn: &str) -> Result<String, AwsError> {
    let iam = &ctx.clients.iam;
    let name = name_in(role_arn).to_owned();
    let found = iam
        .get_instance_profile()
        .instance_profile_name(&name)
        .send()
        .await
        .map_err(aws_error("iam:GetInstanceProfile"))
        .found()?
        .and_then(|output| output.instance_profile);
    let profile = match found {
        Some(profile) => profile,
        None => iam
            .create_instance_profile()
            .instance_profile_name(&name)
            .set_tags(Some(iam_tags(&ctx.object_tags())))
            .send()
            .await
            .map_err(aws_error("iam:CreateInstanceProfile"))?
            .instance_profile
            .ok_or(AwsError::Unusable(
                "iam:CreateInstanceProfile returned no profile".into(),
            ))?,
    };
    if !profile.roles.iter().any(|role| role.role_name == name) {
        iam.add_role_to_instance_profile()
            .instance_profile_name(&name)
            .role_name(&name)
            .send()
            .await
            .map_err(aws_error("iam:AddRoleToInstanceProfile"))?;
    }
    Ok(name)
}

/// Deletes the store's role with its instance profile; missing ones are already deleted.
pub async fn delete_store_role(clients: &Clients, role_arn: &str) -> Result<(), AwsError> {
    let name = name_in(role_arn);
    let iam = &clients.iam;
    crate::aws::delete(
        "iam:RemoveRoleFromInstanceProfile",
        iam.remove_role_from_instance_profile()
            .instance_profile_name(name)
            .role_name(name)
            .send(),
    )
    .await?;
    crate::aws::delete(
        "iam:DeleteInstanceProfile",
        iam.delete_instance_profile()
            .instance_profile_name(name)
            .send(),
    )
    .await?;
    delete_role(clients, role_arn).await
}

/// Applies a tag change to the role `role_arn`.
pub async fn retag(clients: &Clients, role_arn: &str, change: &TagChange) -> Result<(), AwsError> {
    let name = name_in(role_arn);
    change
        .apply(
            async |tags| {
                clients
                    .iam
                    .tag_role()
                    .role_name(name)
                    .set_tags(Some(iam_tags(tags)))
                    .send()
                    .await
                    .map_err(aws_error("iam:TagRole"))
            },
            async |removed| {
                clients
                    .iam
                    .untag_role()
                    .role_name(name)
                    .set_tag_keys(Some(removed.to_vec()))
                    .send()
                    .await
                    .map_err(aws_error("iam:UntagRole"))
            },
        )
        .await
}

/// Deletes the role `role_arn` and its inline policy; missing ones are already deleted.
pub async fn delete_role(clients: &Clients, role_arn: &str) -> Result<(), AwsError> {
    let name = name_in(role_arn);
    let iam = &clients.iam;
    crate::aws::delete(
        "iam:DeleteRolePolicy",
        iam.delete_role_policy()
            .role_name(name)
            .policy_name(POLICY_NAME)
            .send(),
    )
    .await?;
    crate::aws::delete("iam:DeleteRole", iam.delete_role().role_name(name).send()).await
}

/// The roles answering to `pipeline`'s names, with their tags (see [`crate::ownership`]).
pub async fn inventory(clients: &Clients, pipeline: &str) -> Result<Vec<Tagged>, AwsError> {
    let named = async |part: Part| -> Result<Option<Tagged>, AwsError> {
        let role = clients
            .iam
            .get_role()
            .role_name(object_name(pipeline, part))
            .send()
            .await
            .map_err(aws_error("iam:GetRole"))
            .found()?
            .and_then(|output| output.role);
        Ok(role.map(|role| {
            let tags = role.tags.unwrap_or_default();
            let kind = match part {
                Part::Function(function) => Kind::Role(function),
                Part::Snapshots => Kind::SnapshotRole,
                _ => Kind::StoreRole,
            };
            Tagged::new(
                kind,
                role.arn,
                tags.into_iter().map(|tag| (tag.key, tag.value)),
            )
        }))
    };
    let (pre, post, store, snapshots) = tokio::try_join!(
        named(Part::Function(Function::PreQueue)),
        named(Part::Function(Function::PostQueue)),
        named(Part::Store),
        named(Part::Snapshots),
    )?;
    Ok((pre.into_iter().chain(post).chain(store).chain(snapshots)).collect())
}

/// Writes the role's ARN into `state` (cleared when the role is gone).
pub fn read_back(function: Function, arn: Option<String>, state: &mut PipelineState) {
    let arn = crate::model::value_of(arn);
    match function {
        Function::PreQueue => state.pre_queue_role_arn = arn,
        Function::PostQueue => state.post_queue_role_arn = arn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBNETS: [&str; 2] = ["subnet-0a", "subnet-0b"];

    fn grants(subnets: &[String]) -> Grants<'_> {
        Grants {
            queue_arn: "arn:aws:sqs:us-east-1:1:nami-p",
            secret_arn: None,
            secret_customer_key: false,
            store_secret_arn: None,
            store_secret_customer_key: false,
            replay_table_arn: None,
            network: Some(NetworkGrant {
                subnet_ids: subnets,
                security_group_id: "sg-0f",
            }),
        }
    }

    #[test]
    fn a_function_writes_only_to_its_own_log_group_and_makes_none() {
        let subnets: Vec<String> = SUBNETS.map(str::to_owned).to_vec();
        for function in Function::ALL {
            let name = object_name("p", Part::Function(function));
            let policy = policy(function, "us-east-1", "1", &name, &grants(&subnets));
            let logs: Vec<&Value> = (policy["Statement"].as_array().unwrap().iter())
                .filter(|s| s.to_string().contains("logs:"))
                .collect();
            assert_eq!(logs.len(), 1, "{policy}");
            assert_eq!(
                logs[0]["Action"],
                json!(["logs:CreateLogStream", "logs:PutLogEvents"])
            );
            assert_eq!(
                logs[0]["Resource"],
                format!(
                    "arn:aws:logs:us-east-1:1:log-group:{}:*",
                    nami_contract::naming::log_group_name("p", function)
                )
            );
        }
    }

    #[test]
    fn policies_are_least_privilege_without_wildcard_actions() {
        let subnets: Vec<String> = SUBNETS.map(str::to_owned).to_vec();
        let grants = grants(&subnets);
        for function in [Function::PreQueue, Function::PostQueue] {
            let policy = policy(function, "us-east-1", "1", "nami-p-x", &grants);
            for statement in policy["Statement"].as_array().unwrap() {
                for action in statement["Action"].as_array().unwrap() {
                    assert!(!action.as_str().unwrap().contains('*'), "{action}");
                }
            }
        }
        let pre = policy(
            Function::PreQueue,
            "us-east-1",
            "1",
            "nami-p-pre-queue",
            &grants,
        )
        .to_string();
        assert!(
            pre.contains("sqs:SendMessage")
                && !pre.contains("sqs:ReceiveMessage")
                && !pre.contains("ec2:")
        );
    }

    #[test]
    fn a_vpc_function_manages_interfaces_only_in_its_subnets_and_group_and_never_from_its_code() {
        let subnets: Vec<String> = SUBNETS.map(str::to_owned).to_vec();
        let policy = policy(
            Function::PostQueue,
            "us-east-1",
            "123456789012",
            "nami-p-post-queue",
            &grants(&subnets),
        );
        let statements = policy["Statement"].as_array().unwrap();
        let allowing = |action: &str| -> Vec<&Value> {
            statements
                .iter()
                .filter(|s| s["Effect"] == "Allow")
                .filter(|s| s["Action"].as_array().unwrap().iter().any(|a| a == action))
                .collect()
        };
        // Only DescribeNetworkInterfaces (no resource type) names "*".
        for statement in statements.iter().filter(|s| s["Effect"] == "Allow") {
            if statement["Resource"] == "*" {
                assert_eq!(
                    statement["Action"],
                    json!(["ec2:DescribeNetworkInterfaces"])
                );
            }
        }
        let arn = |kind: &str, id: &str| format!("arn:aws:ec2:us-east-1:123456789012:{kind}/{id}");
        assert_eq!(
            allowing("ec2:CreateNetworkInterface")[0]["Resource"],
            json!([
                arn("network-interface", "*"),
                arn("security-group", "sg-0f"),
                arn("subnet", "subnet-0a"),
                arn("subnet", "subnet-0b")
            ])
        );
        assert_eq!(
            allowing("ec2:DeleteNetworkInterface")[0]["Resource"],
            json!(arn("network-interface", "*"))
        );
        let deny = statements.iter().find(|s| s["Effect"] == "Deny").unwrap();
        assert_eq!(deny["Action"], json!(INTERFACE_ACTIONS));
        assert_eq!(
            deny["Condition"]["ArnEquals"]["lambda:SourceFunctionArn"],
            "arn:aws:lambda:us-east-1:123456789012:function:nami-p-post-queue"
        );

        let outside = Grants {
            network: None,
            ..grants(&subnets)
        };
        let policy = super::policy(Function::PostQueue, "us-east-1", "1", "f", &outside);
        assert!(!policy.to_string().contains("ec2:"));
    }

    #[test]
    fn a_secret_under_a_customer_key_is_decrypted_only_through_its_store_and_context() {
        let subnets = Vec::new();
        for (arn, service, context) in [
            (
                "arn:aws:secretsmanager:eu-west-1:210987654321:secret:gh-AbCdEf",
                "secretsmanager.eu-west-1.amazonaws.com",
                "kms:EncryptionContext:SecretARN",
            ),
            (
                "arn:aws:ssm:eu-west-1:210987654321:parameter/nami/gh",
                "ssm.eu-west-1.amazonaws.com",
                "kms:EncryptionContext:PARAMETER_ARN",
            ),
        ] {
            let grants = Grants {
                secret_arn: Some(arn),
                secret_customer_key: true,
                network: None,
                ..grants(&subnets)
            };
            let policy = policy(Function::PreQueue, "us-east-1", "1", "f", &grants);
            let decrypt = policy["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["Action"] == json!(["kms:Decrypt"]))
                .unwrap()
                .clone();
            assert_eq!(
                decrypt["Resource"],
                "arn:aws:kms:eu-west-1:210987654321:key/*"
            );
            assert_eq!(
                decrypt["Condition"]["StringEquals"]["kms:ViaService"],
                service
            );
            assert_eq!(decrypt["Condition"]["StringEquals"][context], arn);
            let default_key = Grants {
                secret_customer_key: false,
                ..grants.clone()
            };
            let policy = super::policy(Function::PreQueue, "us-east-1", "1", "f", &default_key);
            assert!(!policy.to_string().contains("kms:"), "{policy}");
        }
    }

    #[test]
    fn the_trust_names_lambda_and_once_known_the_account() {
        assert_eq!(
            account_of("arn:aws:iam::123456789012:role/nami-p-pre-queue"),
            Some("123456789012")
        );
        let trust = trust_policy(Some("123456789012"));
        let statement = &trust["Statement"][0];
        assert_eq!(statement["Principal"]["Service"], "lambda.amazonaws.com");
        assert_eq!(
            statement["Condition"]["StringEquals"]["aws:SourceAccount"],
            "123456789012"
        );
        assert!(
            trust_policy(None)["Statement"][0]
                .get("Condition")
                .is_none()
        );
    }
}
