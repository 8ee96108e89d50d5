//! Function start-up: how memory is given back, then read the environment, fetch secrets once,
//! build the clients once.
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

/// Allocations of this size and above are mapped on their own and unmapped when freed (glibc's
/// default threshold, kept fixed).
pub const LARGE_ALLOCATION_BYTES: std::ffi::c_int = 128 * 1024;

/// Makes every allocation of [`LARGE_ALLOCATION_BYTES`] or more go back to the system when freed.
/// glibc otherwise raises that threshold to the largest block freed so far (up to 32 MB), so
/// after one large event the buffers of the next stay in the heap, and the heap keeps what each
/// batch left: the post-queue function's peak grew 3–6 MB over ten 1,000-record batches. Call it
/// first in `main`; `false` where the C library has no such setting (not glibc).
pub fn return_large_allocations() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets a parameter of the allocator; it is thread-safe.
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, LARGE_ALLOCATION_BYTES) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
