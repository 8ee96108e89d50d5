//! Function start-up: read the environment, fetch secrets once, build the clients once.
//!
//! Any error here fails the function's init: Lambda then reports the init error and no request
//! is ever served with a half-read configuration.

use crate::aws::load_sdk_config;
use crate::config::{self, ConfigError};
use crate::mongo::MongoStore;
use crate::post_queue::{PostQueue, PostQueueSettings};
use crate::pre_queue::{PreQueue, PreQueueSettings};
use crate::replay::DynamoReplayGuard;
use crate::sqs::SqsQueue;

/// The pre-queue function as configured by its environment.
pub async fn pre_queue_from_env()
-> Result<PreQueue<SqsQueue, Option<DynamoReplayGuard>>, ConfigError> {
    let settings = PreQueueSettings::read(&config::from_process_env())?;
    let sdk = load_sdk_config().await;
    let secret = match &settings.secret {
        Some(source) => Some(source.resolve(&sdk).await?),
        None => None,
    };
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), settings.queue_url.clone());
    let guard = (settings.replay.clone()).map(|replay| {
        DynamoReplayGuard::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            replay.table,
            replay.window,
        )
    });
    Ok(PreQueue::new(settings, secret.as_deref(), queue)?.with_replay_guard(guard))
}

/// The post-queue function as configured by its environment.
pub async fn post_queue_from_env() -> Result<PostQueue<MongoStore>, ConfigError> {
    let settings = PostQueueSettings::read(&config::from_process_env())?;
    let sdk = load_sdk_config().await;
    let uri = settings.mongodb_uri.resolve(&sdk).await?;
    let password = match &settings.mongodb_password {
        Some(source) => Some(source.resolve(&sdk).await?),
        None => None,
    };
    let store = MongoStore::connect(
        &uri,
        password.as_deref(),
        &settings.database,
        &settings.collection,
        settings.server_selection_timeout,
    )
    .await
    .map_err(|error| ConfigError::MongoUri(error.to_string()))?;
    Ok(PostQueue::new(settings.pipeline, store))
}
