//! The `nami` provider: its configuration block (shaped like the AWS provider's) and `configure`,
//! which builds the AWS clients every resource shares.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_sts::config::Credentials;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{
    Attribute, AttributeConstraint, AttributeType, Block, Description, NestedBlock, Schema,
};
use tf_provider::value::{Value, ValueEmpty};
use tf_provider::{Diagnostics, DynamicDataSource, DynamicResource, Provider, map};

use crate::aws::{Clients, Endpoints, aws_error};
use crate::data_sources::{PipelineDataSource, PipelinesDataSource};
use crate::model::{Num, Str, StrMap};
use crate::mongodb_store::MongodbStoreResource;
use crate::pipeline::PipelineResource;

/// Services whose endpoint can be overridden in `endpoints {}`.
pub const ENDPOINT_SERVICES: [&str; 13] = [
    "apigateway",
    "ec2",
    "iam",
    "lambda",
    "sqs",
    "sts",
    "ssm",
    "secretsmanager",
    "dynamodb",
    "dlm",
    "logs",
    "cloudwatch",
    "s3",
];

/// The provider block.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProviderConfig {
    /// AWS region.
    pub region: Str,
    /// Named profile of the shared config files.
    pub profile: Str,
    /// Access key id.
    pub access_key: Str,
    /// Secret access key.
    pub secret_key: Str,
    /// Session token.
    pub token: Str,
    /// Skip the STS check at configure.
    pub skip_credentials_validation: Value<bool>,
    /// Most retries of a throttled or failed AWS call.
    pub max_retries: Num,
    /// Per-service endpoint URLs.
    #[serde(with = "crate::model::optional_block")]
    pub endpoints: Value<BTreeMap<String, Str>>,
    /// Tags added to every object.
    #[serde(with = "crate::model::optional_block")]
    pub default_tags: Value<DefaultTags>,
}

/// `default_tags { tags = {...} }`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DefaultTags {
    /// The tags.
    pub tags: StrMap,
}

/// The provider, holding the clients `configure` builds.
#[derive(Debug, Clone, Default)]
pub struct NamiProvider {
    clients: Arc<OnceLock<Clients>>,
}

fn attribute(attr_type: AttributeType, description: &str) -> Attribute {
    Attribute {
        attr_type,
        description: Description::markdown(description),
        constraint: AttributeConstraint::Optional,
        ..Default::default()
    }
}

/// The provider block's schema.
pub fn schema() -> Schema {
    let secret = |description: &str| Attribute {
        sensitive: true,
        ..attribute(AttributeType::String, description)
    };
    let endpoints = Block {
        description: Description::markdown(
            "Custom endpoint URLs per service, e.g. a local emulator. Unset services use AWS's.",
        ),
        attributes: ENDPOINT_SERVICES
            .iter()
            .map(|service| {
                (
                    (*service).to_owned(),
                    attribute(
                        AttributeType::String,
                        &format!("Endpoint URL for {service}."),
                    ),
                )
            })
            .collect(),
        ..Default::default()
    };
    let default_tags = Block {
        description: Description::markdown("Tags added to every AWS object the provider creates."),
        attributes: map! { "tags" => attribute(AttributeType::Map(AttributeType::String.into()), "Tags to add.") },
        ..Default::default()
    };
    Schema {
        version: 1,
        block: Block {
            description: Description::markdown(
                "Nami: webhook-ingestion pipelines on AWS. Configured like the AWS provider.",
            ),
            attributes: map! {
                "region" => attribute(AttributeType::String, "AWS region. Default: from the environment or profile (`AWS_REGION`, `~/.aws/config`)."),
                "profile" => attribute(AttributeType::String, "Named profile of the shared config and credentials files."),
                "access_key" => secret("Access key id. Default: the standard credential chain."),
                "secret_key" => secret("Secret access key."),
                "token" => secret("Session token of temporary credentials."),
                "skip_credentials_validation" => attribute(AttributeType::Bool, "Skip the STS GetCallerIdentity check at start. Default `false`."),
                "max_retries" => attribute(AttributeType::Number, "Most retries of a throttled or failed AWS call. Default 5.")
            },
            blocks: map! {
                "endpoints" => NestedBlock::Optional(endpoints),
                "default_tags" => NestedBlock::Optional(default_tags)
            },
            ..Default::default()
        },
    }
}

impl NamiProvider {
    /// A provider whose resources share one set of clients.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Provider for NamiProvider {
    type Config<'a> = ProviderConfig;
    type MetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(schema())
    }

    async fn configure<'a>(
        &self,
        diags: &mut Diagnostics,
        _terraform_version: String,
        config: Self::Config<'a>,
    ) -> Option<()> {
        let text = |value: &Str| value.as_ref_option().cloned();
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = text(&config.region) {
            loader = loader.region(Region::new(region));
        }
        if let Some(profile) = text(&config.profile) {
            loader = loader.profile_name(profile);
        }
        match (text(&config.access_key), text(&config.secret_key)) {
            (Some(access_key), Some(secret_key)) => {
                loader = loader.credentials_provider(Credentials::new(
                    access_key,
                    secret_key,
                    text(&config.token),
                    None,
                    "nami-provider",
                ));
            }
            (None, None) => {}
            _ => {
                diags.root_error(
                    "Incomplete credentials",
                    "set both access_key and secret_key, or neither",
                );
                return None;
            }
        }
        let retries = config
            .max_retries
            .as_ref_option()
            .copied()
            .unwrap_or(5)
            .clamp(0, 100) as u32;
        loader = loader.retry_config(RetryConfig::standard().with_max_attempts(retries + 1));
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            diags.root_error(
                "No region",
                "set region in the provider block, or AWS_REGION",
            );
            return None;
        }

        let endpoints_map = config
            .endpoints
            .as_ref_option()
            .cloned()
            .unwrap_or_default();
        for (service, url) in &endpoints_map {
            if let Some(url) = url.as_ref_option() {
                if !(url.starts_with("http://") || url.starts_with("https://"))
                    || url.len() < "http://x".len()
                {
                    diags.error(
                        "Invalid endpoint URL",
                        format!("{url:?} is not an http:// or https:// URL"),
                        tf_provider::AttributePath::new("endpoints")
                            .index(0)
                            .attribute(service.clone()),
                    );
                }
            }
        }
        if !diags.errors.is_empty() {
            return None;
        }
        let endpoint = |service: &str| {
            endpoints_map
                .get(service)
                .and_then(|v| v.as_ref_option().cloned())
        };
        let endpoints = Endpoints {
            apigateway: endpoint("apigateway"),
            ec2: endpoint("ec2"),
            iam: endpoint("iam"),
            lambda: endpoint("lambda"),
            sqs: endpoint("sqs"),
            sts: endpoint("sts"),
            ssm: endpoint("ssm"),
            secretsmanager: endpoint("secretsmanager"),
            dynamodb: endpoint("dynamodb"),
            dlm: endpoint("dlm"),
            logs: endpoint("logs"),
            cloudwatch: endpoint("cloudwatch"),
        };
        let default_tags = config
            .default_tags
            .as_ref_option()
            .map(|d| crate::model::string_map(&d.tags))
            .unwrap_or_default();
        let clients = Clients::new(&sdk, &endpoints, default_tags);

        if !config
            .skip_credentials_validation
            .as_ref_option()
            .copied()
            .unwrap_or(false)
        {
            if let Err(error) = clients
                .sts
                .get_caller_identity()
                .send()
                .await
                .map_err(aws_error("sts:GetCallerIdentity"))
            {
                diags.root_error("Invalid AWS credentials", error.to_string());
                return None;
            }
        }
        // Terraform configures a provider process once; a second configure keeps the first clients.
        let _ = self.clients.set(clients);
        Some(())
    }

    fn get_resources(
        &self,
        _diags: &mut Diagnostics,
    ) -> Option<HashMap<String, Box<dyn DynamicResource>>> {
        Some(map! {
            "webhook_pipeline" => PipelineResource::new(self.clients.clone()),
            "mongodb_store" => MongodbStoreResource::new(self.clients.clone())
        })
    }

    fn get_data_sources(
        &self,
        _diags: &mut Diagnostics,
    ) -> Option<HashMap<String, Box<dyn DynamicDataSource>>> {
        Some(map! {
            "webhook_pipeline" => PipelineDataSource::new(self.clients.clone()),
            "webhook_pipelines" => PipelinesDataSource::new(self.clients.clone())
        })
    }
}
