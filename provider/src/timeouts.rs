//! The `timeouts` block: how long create, update and delete may take.

use std::time::Duration;

use tf_provider::schema::{AttributeConstraint, AttributeType, Block};

use crate::check::{Checker, at};
use tf_provider::value::Value;

use crate::model::{Str, TimeoutsBlock};
use crate::schema::attribute;

/// Every operation's default bound.
pub const DEFAULT: &str = "30m";

/// The `timeouts` block's schema.
pub fn schema() -> Block {
    let default = format!("Default `{DEFAULT}`.");
    let text = |description: &str| {
        attribute(
            AttributeType::String,
            AttributeConstraint::Optional,
            description,
        )
    };
    crate::schema::block(
        "How long create, update and delete may take (`90s`, `30m`, `1h`), including waits for AWS propagation.",
        vec![
            ("create", text(&default)),
            ("update", text(&default)),
            ("delete", text(&default)),
        ],
    )
}

fn entries(block: &TimeoutsBlock) -> [(&'static str, &Str); 3] {
    [
        ("create", &block.create),
        ("update", &block.update),
        ("delete", &block.delete),
    ]
}

/// Checks every duration given in a resource's `timeouts` block.
pub fn validate(timeouts: &Value<TimeoutsBlock>, check: &mut Checker<'_>) {
    let Some(timeouts) = timeouts.as_ref_option() else {
        return;
    };
    for (attribute, value) in entries(timeouts) {
        if let Some(text) = value.as_ref_option() {
            check.that(
                parse_duration(text).is_some(),
                at("timeouts", attribute),
                "Invalid duration",
                format!("{text:?}: use a number with s, m or h, such as 90s, 30m or 1h"),
            );
        }
    }
}

/// Parses `90s`, `30m`, `1h`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let number: u64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => number,
        "m" => number.checked_mul(60)?,
        "h" => number.checked_mul(3600)?,
        _ => return None,
    };
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

/// The bounds of create, update and delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Create.
    pub create: Duration,
    /// Update.
    pub update: Duration,
    /// Delete.
    pub delete: Duration,
}

impl Timeouts {
    /// The timeouts a resource's `timeouts` block sets, the default for unset ones.
    pub fn of(timeouts: &Value<TimeoutsBlock>) -> Timeouts {
        let fallback = parse_duration(DEFAULT).expect("the default is a duration");
        let [create, update, delete] = match timeouts.as_ref_option() {
            Some(block) => entries(block).map(|(_, value)| {
                value
                    .as_ref_option()
                    .and_then(|text| parse_duration(text))
                    .unwrap_or(fallback)
            }),
            None => [fallback; 3],
        };
        Timeouts {
            create,
            update,
            delete,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        for bad in ["", "m", "10", "0s", "5d", "99999999999999999999h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn unset_timeouts_take_the_default() {
        let timeouts = Timeouts::of(&Value::Value(TimeoutsBlock {
            delete: Value::Value("90s".into()),
            ..Default::default()
        }));
        assert_eq!(timeouts.delete, Duration::from_secs(90));
        assert_eq!(timeouts.create, Duration::from_secs(1800));
    }
}
