//! The functions' IAM roles, least privilege: the pre-queue role may only send to its queue;
//! the post-queue role may only receive, delete and read attributes on it, manage its VPC network
//! interfaces, and write its own logs. No wildcard actions.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Context;
use crate::artifacts::Function;
use crate::aws::{AwsError, Clients, OptionalNotFound, aws_error, object_tags};

/// Name of the inline policy on each role.
const POLICY_NAME: &str = "nami";

/// What a role's policy grants access to.
#[derive(Debug, Clone)]
pub struct Grants<'a> {
    pub queue_arn: &'a str,
    /// The signing secret's ARN, when the pre-queue function reads it at start.
    pub secret_arn: Option<&'a str>,
    /// Whether the post-queue function runs in a VPC.
    pub in_vpc: bool,
}

/// Tags in IAM's form.
fn iam_tags(
    tags: &BTreeMap<String, String>,
    operation: &'static str,
) -> Result<Vec<aws_sdk_iam::types::Tag>, AwsError> {
    tags.iter()
        .map(|(key, value)| {
            aws_sdk_iam::types::Tag::builder()
                .key(key)
                .value(value)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AwsError::Api {
            operation,
            code: None,
            message: e.to_string(),
        })
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
    let tags = iam_tags(
        &object_tags(ctx.clients, ctx.tags, ctx.name),
        "iam:CreateRole",
    )?;
    let role = ctx
        .clients
        .iam
        .create_role()
        .role_name(ctx.object_name(function.slug()))
        .assume_role_policy_document(trust.to_string())
        .description(format!(
            "Nami pipeline {}: {} function",
            ctx.name,
            function.slug()
        ))
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(aws_error("iam:CreateRole"))?
        .role;
    Ok(role.map(|r| r.arn).unwrap_or_default())
}

/// Writes (or rewrites) the inline policy of `function`'s role.
pub async fn put_policy(
    ctx: Context<'_>,
    function: Function,
    role_arn: &str,
    grants: &Grants<'_>,
) -> Result<(), AwsError> {
    let account = role_arn.split(':').nth(4).unwrap_or_default();
    let document = policy(
        function,
        &ctx.clients.region,
        account,
        &ctx.object_name(function.slug()),
        grants,
    );
    ctx.clients
        .iam
        .put_role_policy()
        .role_name(ctx.object_name(function.slug()))
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
            if let Some(arn) = grants.secret_arn {
                let action = if arn.contains(":secretsmanager:") {
                    "secretsmanager:GetSecretValue"
                } else {
                    "ssm:GetParameter"
                };
                statements.push(json!({ "Effect": "Allow", "Action": [action], "Resource": arn }));
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

/// Sets `tags` on `function`'s role and removes the keys in `removed`.
pub async fn retag_role(
    clients: &Clients,
    pipeline: &str,
    function: Function,
    tags: &BTreeMap<String, String>,
    removed: &[String],
) -> Result<(), AwsError> {
    let name = super::object_name(pipeline, function.slug());
    let tags = iam_tags(tags, "iam:TagRole")?;
    clients
        .iam
        .tag_role()
        .role_name(&name)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(aws_error("iam:TagRole"))?;
    if !removed.is_empty() {
        clients
            .iam
            .untag_role()
            .role_name(&name)
            .set_tag_keys(Some(removed.to_vec()))
            .send()
            .await
            .map_err(aws_error("iam:UntagRole"))?;
    }
    Ok(())
}

/// Deletes `function`'s role and its inline policy; missing ones are already deleted.
pub async fn delete_role(
    clients: &Clients,
    pipeline: &str,
    function: Function,
) -> Result<(), AwsError> {
    let name = super::object_name(pipeline, function.slug());
    clients
        .iam
        .delete_role_policy()
        .role_name(&name)
        .policy_name(POLICY_NAME)
        .send()
        .await
        .map_err(aws_error("iam:DeleteRolePolicy"))
        .found()?;
    clients
        .iam
        .delete_role()
        .role_name(&name)
        .send()
        .await
        .map_err(aws_error("iam:DeleteRole"))
        .found()?;
    Ok(())
}

/// The ARN of `function`'s role, if it exists.
pub async fn find_role(
    clients: &Clients,
    pipeline: &str,
    function: Function,
) -> Result<Option<String>, AwsError> {
    Ok(clients
        .iam
        .get_role()
        .role_name(super::object_name(pipeline, function.slug()))
        .send()
        .await
        .map_err(aws_error("iam:GetRole"))
        .found()?
        .and_then(|output| output.role.map(|role| role.arn)))
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
