//! Custom logic: the places where a pipeline's own Rust code runs inside the two functions,
//! without weakening what they promise.
//!
//! - [`BeforeEnqueue`] runs in the pre-queue function on each webhook **after** its signature
//!   verified (and its replay check passed), on the envelope about to be enqueued. It may change
//!   the envelope (add fields, rewrite the body's parsed view, pick the delivery id), or answer
//!   the sender itself without enqueueing ([`Verdict::Answer`]: a 2xx — e.g. GitHub's `ping`
//!   → 204 — or a 4xx), and choose how the message is sent ([`MessageOptions`]: a message group,
//!   SQS message attributes). A 2xx that enqueues is still only sent once the queue has the
//!   message.
//! - [`BeforeStore`] runs in the post-queue function on each envelope before it is stored: it
//!   may change what is stored and choose the collection ([`Destination`]).
//! - Nothing a hook does can skip the signature check, answer 2xx for a webhook the queue did not
//!   take, or answer 5xx/3xx in the pipeline's name ([`Reply::new`] refuses them).
//!
//! The default functions are this library with [`NoHooks`].

use std::collections::BTreeMap;

use serde_json::Value;

use crate::envelope::Envelope;

/// What the pre-queue function does with one verified webhook, as a hook decides.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Enqueue the envelope as the hook left it; the sender gets 200 once the queue has it.
    Enqueue,
    /// Answer the sender now and enqueue nothing.
    Answer(Reply),
}

/// An answer a hook gives instead of enqueueing: a 2xx (acknowledged, so the sender will not
/// send it again, and nothing is stored) or a 4xx (refused).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    status: u16,
    body: Option<Value>,
}

/// A reply the pipeline may not give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a hook may answer 2xx or 4xx, not {0}: a 5xx has the sender retry what the hook decided, and a 1xx or 3xx is no answer to a webhook"
)]
pub struct InvalidReply(pub u16);

impl Reply {
    /// A reply with `status` (2xx or 4xx) and an optional JSON body.
    pub fn new(status: u16, body: Option<Value>) -> Result<Reply, InvalidReply> {
        match status {
            200..=299 | 400..=499 => Ok(Reply { status, body }),
            other => Err(InvalidReply(other)),
        }
    }

    /// 204 No Content: acknowledged, nothing to say (a sender's ping).
    pub fn no_content() -> Reply {
        Reply {
            status: 204,
            body: None,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The JSON body, if any.
    pub fn body(&self) -> Option<&Value> {
        self.body.as_ref()
    }
}

/// How the envelope is sent to the queue, beyond its body: what a before-enqueue hook may set.
///
/// - A **message group** (`MessageGroupId`): on a standard queue SQS uses it for fair queueing —
///   one busy group (a tenant, a repository) does not hold up the others' messages.
/// - **Message attributes** (String): travel with the message to the post-queue function's
///   record, into the dead-letter queue and back out with a redrive; SQS counts them in the
///   message's size.
///
/// The setters check SQS's rules, so a message the queue would refuse is never sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageOptions {
    group_id: Option<String>,
    attributes: BTreeMap<String, String>,
}

/// The most message attributes SQS takes on one message.
pub const MAX_MESSAGE_ATTRIBUTES: usize = 10;
/// The longest message group id SQS takes.
pub const MAX_GROUP_ID_CHARS: usize = 128;
/// The longest message attribute name SQS takes.
pub const MAX_ATTRIBUTE_NAME_CHARS: usize = 256;
/// The data type of the attributes a hook sets.
pub const STRING_ATTRIBUTE_TYPE: &str = "String";

/// A message group or attribute SQS would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidMessageOption {
    /// The group id is empty, too long or has a character SQS refuses.
    #[error("message group id {0:?}: SQS takes 1 to 128 letters, digits and ASCII punctuation")]
    GroupId(String),
    /// The attribute name breaks SQS's naming rules.
    #[error("message attribute name {name:?}: {reason}")]
    AttributeName {
        /// The name.
        name: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// The attribute value is empty or has a character SQS refuses.
    #[error(
        "message attribute {name:?}: the value must be non-empty text without control characters other than tab, newline and carriage return"
    )]
    AttributeValue {
        /// The attribute's name.
        name: String,
    },
    /// An eleventh attribute.
    #[error("message attribute {0:?}: SQS takes at most 10 attributes on a message")]
    TooManyAttributes(String),
}

impl MessageOptions {
    /// Sets the message group (for fair queueing on a standard queue).
    pub fn set_group_id(&mut self, id: impl Into<String>) -> Result<(), InvalidMessageOption> {
        let id = id.into();
        let valid = (1..=MAX_GROUP_ID_CHARS).contains(&id.len())
            && id.bytes().all(|byte| byte.is_ascii_graphic());
        if !valid {
            return Err(InvalidMessageOption::GroupId(id));
        }
        self.group_id = Some(id);
        Ok(())
    }

    /// Sets the String attribute `name` to `value` (replacing one of that name).
    pub fn set_attribute(
        &mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), InvalidMessageOption> {
        let name = name.into();
        let value = value.into();
        if let Some(reason) = invalid_attribute_name(&name) {
            return Err(InvalidMessageOption::AttributeName { name, reason });
        }
        if value.is_empty() || !value.chars().all(allowed_in_message) {
            return Err(InvalidMessageOption::AttributeValue { name });
        }
        if self.attributes.len() == MAX_MESSAGE_ATTRIBUTES && !self.attributes.contains_key(&name) {
            return Err(InvalidMessageOption::TooManyAttributes(name));
        }
        self.attributes.insert(name, value);
        Ok(())
    }

    /// The message group, if one is set.
    pub fn group_id(&self) -> Option<&str> {
        self.group_id.as_deref()
    }

    /// The String attributes, by name.
    pub fn attributes(&self) -> &BTreeMap<String, String> {
        &self.attributes
    }

    /// The bytes SQS counts for the attributes in the message's size (name, type and value).
    pub fn attribute_bytes(&self) -> usize {
        (self.attributes.iter())
            .map(|(name, value)| name.len() + STRING_ATTRIBUTE_TYPE.len() + value.len())
            .sum()
    }
}

/// Why SQS refuses `name` as a message attribute name, if it does.
fn invalid_attribute_name(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if name.is_empty() || name.len() > MAX_ATTRIBUTE_NAME_CHARS {
        Some("SQS takes 1 to 256 characters")
    } else if !(name.bytes()).all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        Some("SQS takes letters, digits, _, - and . only")
    } else if lower.starts_with("aws.") || lower.starts_with("amazon.") {
        Some("names starting with AWS. or Amazon. are SQS's own")
    } else if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        Some("a period may not start or end it, nor follow another")
    } else {
        None
    }
}

/// A character SQS takes in a message (XML's characters).
fn allowed_in_message(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Custom logic run on each verified webhook before it is enqueued (see the module's docs).
pub trait BeforeEnqueue: Send + Sync {
    /// Changes `envelope` (and how it is sent, `message`) in place and says whether to enqueue
    /// it.
    fn before_enqueue(&self, envelope: &mut Envelope, message: &mut MessageOptions) -> Verdict;
}

/// No custom logic: every verified webhook is enqueued as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoHooks;

impl BeforeEnqueue for NoHooks {
    fn before_enqueue(&self, _envelope: &mut Envelope, _message: &mut MessageOptions) -> Verdict {
        Verdict::Enqueue
    }
}

/// A closure is a hook.
impl<F> BeforeEnqueue for F
where
    F: Fn(&mut Envelope, &mut MessageOptions) -> Verdict + Send + Sync,
{
    fn before_enqueue(&self, envelope: &mut Envelope, message: &mut MessageOptions) -> Verdict {
        self(envelope, message)
    }
}

/// Where a post-queue hook sends one envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// The pipeline's collection (`store.collection`).
    Configured,
    /// Another collection of the same database (its conflicts go to `<name>_conflicts`).
    Collection(String),
}

/// Custom logic run by the post-queue function on each envelope before it is stored: it may
/// change what is stored (the envelope, its [`Envelope::fields`]) and choose the collection.
/// Everything else stays as without it: a record is reported failed (and retried, then
/// dead-lettered) unless it is certainly stored.
pub trait BeforeStore: Send + Sync {
    /// Changes `envelope` in place and says where to store it.
    fn before_store(&self, envelope: &mut Envelope) -> Destination;
}

impl BeforeStore for NoHooks {
    fn before_store(&self, _envelope: &mut Envelope) -> Destination {
        Destination::Configured
    }
}

/// A closure is a hook.
impl<F> BeforeStore for F
where
    F: Fn(&mut Envelope) -> Destination + Send + Sync,
{
    fn before_store(&self, envelope: &mut Envelope) -> Destination {
        self(envelope)
    }
}

/// Why MongoDB cannot take a collection name, if it cannot (empty, `$`, NUL, `system.`).
pub fn invalid_collection(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.contains('$') {
        Some("it contains $")
    } else if name.contains('\0') {
        Some("it contains a NUL character")
    } else if name.starts_with("system.") {
        Some("it starts with system.")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hook_answers_only_2xx_or_4xx() {
        for status in [200, 204, 299, 400, 409, 422, 499] {
            assert_eq!(Reply::new(status, None).map(|r| r.status()), Ok(status));
        }
        for status in [100, 199, 301, 399, 500, 503, 600] {
            let refused = Reply::new(status, None).unwrap_err();
            assert_eq!(refused, InvalidReply(status));
            assert!(refused.to_string().contains(&status.to_string()));
        }
        assert_eq!(Reply::no_content().status(), 204);
    }

    #[test]
    fn message_options_take_only_what_sqs_takes() {
        let mut options = MessageOptions::default();
        options.set_group_id("octo-org/octo-repo").unwrap();
        assert_eq!(options.group_id(), Some("octo-org/octo-repo"));
        for refused in ["", "has space", "é", &"g".repeat(129)] {
            assert_eq!(
                options.set_group_id(refused),
                Err(InvalidMessageOption::GroupId(refused.to_owned()))
            );
        }
        assert_eq!(options.group_id(), Some("octo-org/octo-repo"), "kept");

        options.set_attribute("event", "push").unwrap();
        options.set_attribute("event.kind", "tab\there").unwrap();
        for name in [
            "",
            "AWS.x",
            "amazon.y",
            ".a",
            "a.",
            "a..b",
            "sp ace",
            &"n".repeat(257),
        ] {
            let refused = options.set_attribute(name, "v").unwrap_err();
            assert!(
                matches!(&refused, InvalidMessageOption::AttributeName { name: n, .. } if n == name),
                "{name:?}: {refused}"
            );
        }
        for value in ["", "nul\0", "bell\u{7}"] {
            assert_eq!(
                options.set_attribute("v", value),
                Err(InvalidMessageOption::AttributeValue { name: "v".into() })
            );
        }
        for n in 2..10 {
            options.set_attribute(format!("a{n}"), "x").unwrap();
        }
        assert_eq!(options.attributes().len(), 10);
        assert_eq!(
            options.set_attribute("eleventh", "x"),
            Err(InvalidMessageOption::TooManyAttributes("eleventh".into()))
        );
        options.set_attribute("event", "issues").unwrap();
        assert_eq!(
            options.attributes()["event"],
            "issues",
            "replaced, not added"
        );
        assert_eq!(
            options.attribute_bytes(),
            ("event".len() + 6 + 6) + ("event.kind".len() + 6 + 8) + 8 * (2 + 6 + 1)
        );
    }
}
