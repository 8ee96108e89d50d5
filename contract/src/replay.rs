//! The replay table (`nami-<pipeline>-replay`): the provider creates it, the pre-queue function
//! writes it. One item per accepted signed body.

/// The partition key (string): the SHA-256 of the signed body, lower-case hex.
pub const KEY: &str = "body_sha256";
/// The delivery id the body was accepted under (string).
pub const DELIVERY_ID: &str = "delivery_id";
/// When the record stops counting, in seconds since the Unix epoch (number): the table's TTL
/// attribute.
pub const EXPIRES_AT: &str = "expires_at";
