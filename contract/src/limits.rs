//! Defaults and allowed ranges that more than one crate relies on. The provider's schema prose,
//! its plan-time validation and the functions' own fallbacks all read these constants.

use std::fmt;
use std::ops::RangeInclusive;

/// A whole-number setting: the range AWS (or Nami) allows and the value used when unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Smallest allowed value.
    pub min: i64,
    /// Largest allowed value.
    pub max: i64,
    /// The value used when the setting is not given.
    pub default: i64,
}

impl Limit {
    /// A limit from `min` to `max` with `default`.
    pub const fn new(min: i64, max: i64, default: i64) -> Self {
        assert!(min <= default && default <= max);
        Limit { min, max, default }
    }

    /// The allowed values.
    pub const fn range(&self) -> RangeInclusive<i64> {
        self.min..=self.max
    }

    /// Whether `value` is allowed.
    pub fn contains(&self, value: i64) -> bool {
        self.range().contains(&value)
    }

    /// `"<min>–<max>. Default <default>."`, for attribute descriptions.
    pub fn describe(&self) -> String {
        format!("{self}. Default {}.", self.default)
    }
}

impl fmt::Display for Limit {
    /// The range as the docs and error messages write it: `1024–1048576`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}–{}", self.min, self.max)
    }
}

/// Largest envelope the queue takes, in bytes (SQS's MaximumMessageSize); larger webhooks get a
/// 413 from the pre-queue function.
pub const MAX_MESSAGE_BYTES: Limit = Limit::new(1024, 1_048_576, 262_144);

/// How far a signed timestamp may be from now, either side, in seconds (Stripe, Slack and
/// Standard Webhooks recommend five minutes).
pub const TOLERANCE_SECONDS: Limit = Limit::new(1, 86_400, 300);

/// `replay_window_seconds`: how long a signed body, once accepted, is refused under another
/// delivery id (schemes without a signed timestamp). A minute to a week; a day is suggested.
pub const REPLAY_WINDOW_SECONDS: Limit = Limit::new(60, 604_800, 86_400);

/// The database envelopes are stored in when none is configured.
pub const DEFAULT_DATABASE: &str = "nami";

/// Suffix of the collection beside the pipeline's where conflicts go: a delivery id received again
/// with another body (`<collection>_conflicts`).
pub const CONFLICTS_SUFFIX: &str = "_conflicts";

/// The collection that holds the conflicts of `collection`.
pub fn conflicts_collection(collection: &str) -> String {
    format!("{collection}{CONFLICTS_SUFFIX}")
}

/// The post-queue function's MongoDB server-selection timeout, in milliseconds: a dead store
/// fails a batch in seconds, not at the function timeout. The provider sets a third of the
/// function's timeout, from `min` up to `default`.
pub const MONGODB_TIMEOUT_MS: Limit = Limit::new(100, 600_000, 5_000);

/// Longest pipeline name: it prefixes every AWS name (`nami-<name>-post-queue` must fit
/// the 64 characters of an IAM role name).
pub const PIPELINE_NAME_MAX_LEN: usize = 40;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_describe_their_range_and_default() {
        assert_eq!(
            MAX_MESSAGE_BYTES.describe(),
            "1024–1048576. Default 262144."
        );
        assert!(TOLERANCE_SECONDS.contains(1) && !TOLERANCE_SECONDS.contains(0));
    }
}
