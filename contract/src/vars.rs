//! Names of the environment variables the provider sets on the functions and the functions read.

/// The pipeline's name (both functions).
pub const PIPELINE: &str = "NAMI_PIPELINE";
/// URL of the SQS queue the pre-queue function sends to.
pub const QUEUE_URL: &str = "NAMI_QUEUE_URL";
/// The queue's MaximumMessageSize in bytes; larger envelopes get a 413.
pub const MAX_MESSAGE_BYTES: &str = "NAMI_MAX_MESSAGE_BYTES";
/// Signature scheme: github, stripe, slack, shopify, standard-webhooks, hmac or none.
pub const SIGNATURE_SCHEME: &str = "NAMI_SIGNATURE_SCHEME";
/// The signing secret itself.
pub const SIGNATURE_SECRET: &str = "NAMI_SIGNATURE_SECRET";
/// ARN of a Secrets Manager secret or SSM parameter holding the signing secret.
pub const SIGNATURE_SECRET_ARN: &str = "NAMI_SIGNATURE_SECRET_ARN";
/// Allowed distance between a signed timestamp and now, in seconds.
pub const SIGNATURE_TOLERANCE_SECONDS: &str = "NAMI_SIGNATURE_TOLERANCE_SECONDS";
/// Seconds a signed body, once accepted, is refused (409) under another delivery id.
pub const REPLAY_WINDOW_SECONDS: &str = "NAMI_REPLAY_WINDOW_SECONDS";
/// The DynamoDB table recording accepted signed bodies (with a replay window).
pub const REPLAY_TABLE: &str = "NAMI_REPLAY_TABLE";
/// `hmac` scheme: the header carrying the signature.
pub const SIGNATURE_HEADER: &str = "NAMI_SIGNATURE_HEADER";
/// `hmac` scheme: sha256 (default) or sha1.
pub const SIGNATURE_ALGORITHM: &str = "NAMI_SIGNATURE_ALGORITHM";
/// `hmac` scheme: hex (default) or base64.
pub const SIGNATURE_ENCODING: &str = "NAMI_SIGNATURE_ENCODING";
/// `hmac` scheme: text before the signature, such as `sha256=`.
pub const SIGNATURE_PREFIX: &str = "NAMI_SIGNATURE_PREFIX";
/// Where the delivery id comes from: `header:<name>` or `json:<pointer>`.
pub const DELIVERY_ID: &str = "NAMI_DELIVERY_ID";
/// MongoDB connection string (post-queue).
pub const MONGODB_URI: &str = "NAMI_MONGODB_URI";
/// ARN of a Secrets Manager secret or SSM parameter holding the MongoDB URI.
pub const MONGODB_URI_SECRET_ARN: &str = "NAMI_MONGODB_URI_SECRET_ARN";
/// ARN of a Secrets Manager secret or SSM parameter holding the password of the user the MongoDB
/// URI names (the managed store's writer): the URI itself then carries no secret.
pub const MONGODB_PASSWORD_SECRET_ARN: &str = "NAMI_MONGODB_PASSWORD_SECRET_ARN";
/// Database name (default `nami`).
pub const MONGODB_DATABASE: &str = "NAMI_MONGODB_DATABASE";
/// Collection name (default: the pipeline's name).
pub const MONGODB_COLLECTION: &str = "NAMI_MONGODB_COLLECTION";
/// Server selection timeout in milliseconds; keep it well below the function timeout.
pub const MONGODB_TIMEOUT_MS: &str = "NAMI_MONGODB_TIMEOUT_MS";
