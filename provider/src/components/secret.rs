//! The Secrets Manager secrets a pipeline owns ([`Part::SECRETS`]): the signing secret given by
//! value (`signature.secret`, `nami-<name>-signing-secret`), whose ARN is all the pre-queue
//! function's environment holds, the store connection string given by value
//! (`store.mongodb_uri`, `nami-<name>-store-uri`), likewise for the post-queue function, and the
//! managed store's two generated passwords (root, for the
//! operator; writer, for the post-queue function), which only Secrets Manager ever holds — never
//! the state. Each reader's role may read exactly its secrets. A secret given by ARN is the
//! user's and never touched.

use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use nami_contract::naming::{Part, object_name};
use nami_contract::secret_arn::SecretStore;

use super::Context;
use crate::aws::{
    AwsError, Clients, OptionalNotFound, TagChange, aws_error, has_code_and_message, retry_while,
    returned,
};
use crate::model::PipelineState;
use crate::ownership::{Kind, Tagged};

fn sm_tags(tags: &std::collections::BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect()
}

/// What a secret of the pipeline's holds, for its description.
fn purpose(part: Part) -> &'static str {
    match part {
        Part::StoreRootSecret => {
            "the managed store's root password (for the operator; read by the store instance)"
        }
        Part::StoreWriterSecret => {
            "the password of the managed store's writer (read by the store instance and the post-queue function)"
        }
        Part::StoreUriSecret => "the store's connection string (read by the post-queue function)",
        _ => "the webhook signing secret (read by its pre-queue function)",
    }
}

/// Creates the secret `part` holding `value`. Returns its ARN. A secret of the pipeline's under
/// that name deleted with a recovery window (out of band: a destroy deletes without one) is
/// restored instead, with `value` and the pipeline's tags; one a destroy force-deleted moments ago
/// blocks the name for a while: that is waited out.
pub async fn create(ctx: Context<'_>, part: Part, value: &str) -> Result<String, AwsError> {
    let name = ctx.object_name(part);
    let scheduled = has_code_and_message("InvalidRequestException", "scheduled for deletion");
    retry_while(&scheduled, ctx.deadline, || async {
        let created = ctx
            .clients
            .secretsmanager
            .create_secret()
            .name(&name)
            .description(format!("{}: {}", ctx.describe(), purpose(part)))
            .secret_string(value)
            .set_tags(Some(sm_tags(&ctx.object_tags())))
            .send()
            .await
            .map_err(aws_error("secretsmanager:CreateSecret"));
        match created {
            Ok(output) => returned("secretsmanager:CreateSecret", output.arn),
            // (AWS says "scheduled for deletion"; moto, that it exists.)
            Err(error) if scheduled(&error) || error.code() == Some("ResourceExistsException") => {
                match restore(ctx, &name, value).await? {
                    Some(arn) => Ok(arn),
                    None => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    })
    .await
}

/// Restores secret `name` when it is the pipeline's and awaits deletion, holding `value` and the
/// pipeline's tags. `None` when there is no such secret, it is someone else's, or it cannot be
/// restored (a force-deletion in progress).
async fn restore(ctx: Context<'_>, name: &str, value: &str) -> Result<Option<String>, AwsError> {
    let sm = &ctx.clients.secretsmanager;
    let found = sm
        .describe_secret()
        .secret_id(name)
        .send()
        .await
        .map_err(aws_error("secretsmanager:DescribeSecret"))
        .found()?;
    let Some(secret) = found.filter(|secret| secret.deleted_date.is_some()) else {
        return Ok(None);
    };
    let owner = (secret.tags.unwrap_or_default().into_iter())
        .find(|tag| tag.key.as_deref() == Some(ctx.owner_tag()))
        .and_then(|tag| tag.value);
    let Some(arn) = secret
        .arn
        .filter(|_| owner.as_deref() == Some(ctx.owner_name()))
    else {
        return Ok(None);
    };
    let restored = sm.restore_secret().secret_id(&arn).send().await;
    if restored.is_err() {
        return Ok(None);
    }
    converge(ctx.clients, &arn, value).await?;
    let tags = TagChange {
        tags: ctx.object_tags(),
        removed: Vec::new(),
    };
    retag(ctx.clients, &arn, &tags).await?;
    Ok(Some(arn))
}

/// The ARN of the secret named `name`, or `None` when there is none (or it awaits deletion).
pub async fn arn_named(clients: &Clients, name: &str) -> Result<Option<String>, AwsError> {
    let found = clients
        .secretsmanager
        .describe_secret()
        .secret_id(name)
        .send()
        .await
        .map_err(aws_error("secretsmanager:DescribeSecret"))
        .found()?;
    Ok(found
        .filter(|secret| secret.deleted_date.is_none())
        .and_then(|secret| secret.arn))
}

/// The secret's value, or `None` when the secret does not exist.
pub async fn value(clients: &Clients, arn: &str) -> Result<Option<String>, AwsError> {
    Ok(clients
        .secretsmanager
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(aws_error("secretsmanager:GetSecretValue"))
        .found()?
        .and_then(|output| output.secret_string))
}

/// The value of the user's secret or SSM parameter `arn` (read with decryption).
pub async fn user_value(clients: &Clients, arn: &str) -> Result<String, AwsError> {
    let value = match SecretStore::of_arn(arn) {
        Some(SecretStore::SecretsManager) => value(clients, arn).await?,
        Some(SecretStore::Parameter) => clients
            .ssm
            .get_parameter()
            .name(arn)
            .with_decryption(true)
            .send()
            .await
            .map_err(aws_error("ssm:GetParameter"))?
            .parameter
            .and_then(|parameter| parameter.value),
        None => None,
    };
    value.ok_or_else(|| AwsError::Unusable(format!("{arn}: no such secret, or it holds no text")))
}

/// Whether the user's secret `arn` is encrypted with a customer-managed KMS key, so the function
/// needs `kms:Decrypt` for it. A secret that cannot be described (no permission to) counts as one:
/// the grant is scoped to that secret's encryption context either way.
pub async fn uses_customer_key(clients: &Clients, arn: &str) -> bool {
    let Some(store) = SecretStore::of_arn(arn) else {
        return false;
    };
    let key_id = match store {
        SecretStore::SecretsManager => clients
            .secretsmanager
            .describe_secret()
            .secret_id(arn)
            .send()
            .await
            .map_err(aws_error("secretsmanager:DescribeSecret"))
            .found()
            .map(|found| found.map(|secret| secret.kms_key_id)),
        SecretStore::Parameter => {
            let name = arn.split_once(":parameter").map_or("", |(_, name)| name);
            clients
                .ssm
                .describe_parameters()
                .parameter_filters(
                    aws_sdk_ssm::types::ParameterStringFilter::builder()
                        .key("Name")
                        .values(name)
                        .build()
                        .expect("a key is set"),
                )
                .send()
                .await
                .map_err(aws_error("ssm:DescribeParameters"))
                .map(|output| {
                    let parameter = output.parameters.unwrap_or_default().into_iter().next();
                    parameter.map(|parameter| parameter.key_id)
                })
        }
    };
    match key_id {
        // Not there (the function will say so at start), or under the store's own key.
        Ok(None) | Ok(Some(None)) => false,
        Ok(Some(Some(key))) => key != store.default_key_alias(),
        Err(_) => true,
    }
}

/// Makes the secret hold `wanted`, unless it does already.
pub async fn converge(clients: &Clients, arn: &str, wanted: &str) -> Result<(), AwsError> {
    if value(clients, arn).await?.as_deref() == Some(wanted) {
        return Ok(());
    }
    clients
        .secretsmanager
        .put_secret_value()
        .secret_id(arn)
        .secret_string(wanted)
        .send()
        .await
        .map_err(aws_error("secretsmanager:PutSecretValue"))?;
    Ok(())
}

/// Deletes the secret at once (no recovery window: its value is the configuration's); a missing
/// one is already deleted.
pub async fn delete(clients: &Clients, arn: &str) -> Result<(), AwsError> {
    crate::aws::delete(
        "secretsmanager:DeleteSecret",
        clients
            .secretsmanager
            .delete_secret()
            .secret_id(arn)
            .force_delete_without_recovery(true)
            .send(),
    )
    .await
}

/// Applies a tag change to the secret.
pub async fn retag(clients: &Clients, arn: &str, change: &TagChange) -> Result<(), AwsError> {
    change
        .apply(
            async |tags| {
                clients
                    .secretsmanager
                    .tag_resource()
                    .secret_id(arn)
                    .set_tags(Some(sm_tags(tags)))
                    .send()
                    .await
                    .map_err(aws_error("secretsmanager:TagResource"))
            },
            async |removed| {
                clients
                    .secretsmanager
                    .untag_resource()
                    .secret_id(arn)
                    .set_tag_keys(Some(removed.to_vec()))
                    .send()
                    .await
                    .map_err(aws_error("secretsmanager:UntagResource"))
            },
        )
        .await
}

/// A password generated for the managed store (256 random bits, hex: nothing a connection
/// string or a shell would need to quote).
pub fn generate_password() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The pipeline's secrets that exist under their names, with their tags.
pub async fn inventory(clients: &Clients, pipeline: &str) -> Result<Vec<Tagged>, AwsError> {
    let names = Part::SECRETS.map(|part| (object_name(pipeline, part), part));
    let mut filter = Filter::builder().key(FilterNameStringType::Name);
    for (name, _) in &names {
        filter = filter.values(name);
    }
    let output = clients
        .secretsmanager
        .list_secrets()
        .filters(filter.build())
        .send()
        .await
        .map_err(aws_error("secretsmanager:ListSecrets"))?;
    Ok(output
        .secret_list
        .unwrap_or_default()
        .into_iter()
        .filter(|secret| secret.deleted_date.is_none())
        .filter_map(|secret| {
            // The name filter matches prefixes: keep the exact names only.
            let name = secret.name.as_deref()?;
            let (_, part) = names.iter().find(|(wanted, _)| wanted == name)?;
            let tags = secret
                .tags
                .unwrap_or_default()
                .into_iter()
                .filter_map(|tag| Some((tag.key?, tag.value?)));
            Some(Tagged::new(Kind::Secret(*part), secret.arn?, tags))
        })
        .collect())
}

/// Writes what Secrets Manager holds for a value the configuration gives (`part`: the signing
/// secret or the store's connection string) into `state`: the secret's ARN (cleared when it is
/// gone) and the value it holds (so a change outside Terraform shows in the plan).
pub fn read_back(part: Part, arn: Option<&str>, live: Option<String>, state: &mut PipelineState) {
    use crate::model::block;
    let arn = crate::model::value_of(arn.map(str::to_owned));
    let (arn_slot, value) = match part {
        Part::StoreUriSecret => (
            &mut state.store_uri_secret_arn,
            &mut block(&mut state.store).mongodb_uri,
        ),
        _ => (
            &mut state.signing_secret_arn,
            &mut block(&mut state.signature).secret,
        ),
    };
    *arn_slot = arn;
    if let (true, Some(live)) = (value.is_value(), live) {
        *value = tf_provider::value::Value::Value(live);
    }
}
