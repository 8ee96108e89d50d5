//! The replay guard of schemes without a signed timestamp (github, shopify, hmac): a signed body,
//! once accepted, is refused under another delivery id for the replay window — a captured request
//! replayed with a fresh (unsigned) delivery id is not stored as a new verified event, while the
//! sender's own retries (the same delivery id) still go through.
//!
//! The signature of these schemes is an HMAC of the body alone, so "the same signature" is "the
//! same signed body": the record is keyed by the body's SHA-256 (the envelope's `body.sha256`).
//! The adapter is one conditional `PutItem` to a DynamoDB table shared by every environment of
//! the function, with a TTL attribute (DynamoDB deletes expired items lazily, so the condition
//! also treats an expired record as absent).

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use nami_contract::replay::{DELIVERY_ID, EXPIRES_AT, KEY};

/// What the guard knows about a signed body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not seen within the window, or seen under the same delivery id (a retry): accept.
    First,
    /// Accepted within the window under another delivery id: refuse.
    Replayed,
}

/// The guard could not answer (its table is unreachable): the request is not accepted.
#[derive(Debug, thiserror::Error)]
#[error("replay check failed: {0}")]
pub struct ReplayError(pub String);

/// Records accepted signed bodies and recognizes replays.
pub trait ReplayGuard {
    /// Records `body_sha256` as accepted under `delivery_id` at `now`, unless it was accepted
    /// within the window under another delivery id.
    fn check(
        &self,
        body_sha256: &str,
        delivery_id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Seen, ReplayError>> + Send;
}

/// No replay window: every verified request is new.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoReplayGuard;

impl ReplayGuard for NoReplayGuard {
    async fn check(&self, _: &str, _: &str, _: DateTime<Utc>) -> Result<Seen, ReplayError> {
        Ok(Seen::First)
    }
}

/// A guard when one is configured; none: every verified request is new.
impl<G: ReplayGuard + Sync> ReplayGuard for Option<G> {
    async fn check(
        &self,
        body_sha256: &str,
        delivery_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Seen, ReplayError> {
        match self {
            Some(guard) => guard.check(body_sha256, delivery_id, now).await,
            None => Ok(Seen::First),
        }
    }
}

/// The guard on a DynamoDB table (`nami-<pipeline>-replay`).
#[derive(Debug, Clone)]
pub struct DynamoReplayGuard {
    client: aws_sdk_dynamodb::Client,
    table: String,
    window: Duration,
}

impl DynamoReplayGuard {
    /// The guard on `table`, refusing replays for `window`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: String, window: Duration) -> Self {
        DynamoReplayGuard {
            client,
            table,
            window,
        }
    }
}

impl ReplayGuard for DynamoReplayGuard {
    async fn check(
        &self,
        body_sha256: &str,
        delivery_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Seen, ReplayError> {
        let now_seconds = now.timestamp();
        let window = i64::try_from(self.window.as_secs()).unwrap_or(i64::MAX);
        let expires_at = now_seconds.saturating_add(window);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY, AttributeValue::S(body_sha256.to_owned()))
            .item(DELIVERY_ID, AttributeValue::S(delivery_id.to_owned()))
            .item(EXPIRES_AT, AttributeValue::N(expires_at.to_string()))
            .condition_expression("attribute_not_exists(#key) OR #id = :id OR #expires < :now")
            .expression_attribute_names("#key", KEY)
            .expression_attribute_names("#id", DELIVERY_ID)
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_values(":id", AttributeValue::S(delivery_id.to_owned()))
            .expression_attribute_values(":now", AttributeValue::N(now_seconds.to_string()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(Seen::First),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(Seen::Replayed)
            }
            Err(error) => Err(ReplayError(
                aws_sdk_dynamodb::error::DisplayErrorContext(&error).to_string(),
            )),
        }
    }
}
