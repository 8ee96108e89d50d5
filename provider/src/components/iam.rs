//! The functions' IAM roles, least privilege: the pre-queue role may only send to its queue;
//! the post-queue role may only receive, delete and read attributes on it, manage its VPC network
//! interfaces, and write its own logs. No wildcard actions.

use std::collections::BTreeMap;

use nami_contract::naming::{Function, Part, object_name};
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
    /// Whether the post-queue function runs in a VPC.
    pub in_vpc: bool,
}

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

/// Creates the role `function` runs as (trust: Lambda). Returns its ARN.
pub async fn create_role(ctx: Context<'_>, function: Function) -> Result<String, AwsError> {
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "lambda.amazonaws.com" },
            "Action": "sts:AssumeRole"
        }]
    });
    let role = ctx
        .clients
        .iam
        .create_role()
        .role_name(role_name(ctx.name, function))
        .assume_role_policy_document(trust.to_string())
        .description(format!(
            "Nami pipeline {}: {} function",
            ctx.name,
            function.slug()
        ))
        .set_tags(Some(iam_tags(&ctx.object_tags())))
        .send()
        .await
        .map_err(aws_error("iam:CreateRole"))?
        .role;
    returned("iam:CreateRole", role.map(|r| r.arn))
}

/// Writes (or rewrites) the inline policy of `function`'s role.
pub async fn put_policy(
    ctx: Context<'_>,
    function: Function,
    role_arn: &str,
    grants: &Grants<'_>,
) -> Result<(), AwsError> {
    let account = role_arn.split(':').nth(4).unwrap_or_default();
    let function_name = object_name(ctx.name, Part::Function(function));
    let document = policy(
        function,
        &ctx.clients.region,
        account,
        &function_name,
        grants,
    );
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

/// The least-privilege policy of `function`.
pub fn policy(
    function: Function,
    region: &str,
    account: &str,
    function_name: &str,
    grants: &Grants<'_>,
) -> Value {
    let logs = json!({
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [
            format!("arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{function_name}"),
            format!("arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{function_name}:*")
        ]
    });
    let mut statements = vec![logs];
    match function {
        Function::PreQueue => {
            statements.push(json!({ "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": grants.queue_arn }));
            if let Some((arn, store)) = grants
                .secret_arn
                .and_then(|arn| Some((arn, SecretStore::of_arn(arn)?)))
            {
                statements.push(
                    json!({ "Effect": "Allow", "Action": [store.read_action()], "Resource": arn }),
                );
            }
        }
        Function::PostQueue => {
            statements.push(json!({
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                "Resource": grants.queue_arn
            }));
            if grants.in_vpc {
                // ENI actions do not support resource-level permissions: the resource is "*", the actions are not.
                statements.push(json!({
                    "Effect": "Allow",
                    "Action": [
                        "ec2:CreateNetworkInterface",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DeleteNetworkInterface",
                        "ec2:AssignPrivateIpAddresses",
                        "ec2:UnassignPrivateIpAddresses"
                    ],
                    "Resource": "*"
                }));
            }
        }
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
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

/// Both roles answering to `pipeline`'s names, with their tags (see [`crate::ownership`]).
pub async fn inventory(clients: &Clients, pipeline: &str) -> Result<Vec<Tagged>, AwsError> {
    let named = async |function| -> Result<Option<Tagged>, AwsError> {
        let role = clients
            .iam
            .get_role()
            .role_name(role_name(pipeline, function))
            .send()
            .await
            .map_err(aws_error("iam:GetRole"))
            .found()?
            .and_then(|output| output.role);
        Ok(role.map(|role| {
            let tags = role.tags.unwrap_or_default();
            Tagged::new(
                Kind::Role(function),
                role.arn,
                tags.into_iter().map(|tag| (tag.key, tag.value)),
            )
        }))
    };
    let (pre, post) = tokio::try_join!(named(Function::PreQueue), named(Function::PostQueue))?;
    Ok(pre.into_iter().chain(post).collect())
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

    #[test]
    fn policies_are_least_privilege_without_wildcard_actions() {
        let grants = Grants {
            queue_arn: "arn:aws:sqs:us-east-1:1:nami-p",
            secret_arn: None,
            in_vpc: true,
        };
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
        let post = policy(
            Function::PostQueue,
            "us-east-1",
            "1",
            "nami-p-post-queue",
            &grants,
        )
        .to_string();
        assert!(
            post.contains("sqs:ReceiveMessage")
                && !post.contains("sqs:SendMessage")
                && post.contains("ec2:CreateNetworkInterface")
        );
    }
}
