//! Custom logic: the places where a pipeline's own Rust code runs inside the two functions,
//! without weakening what they promise.
//!
//! - [`BeforeEnqueue`] runs in the pre-queue function on each webhook **after** its signature
//!   verified (and its replay check passed), on the envelope about to be enqueued. It may change
//!   the envelope (add fields, rewrite the body's parsed view, pick the delivery id), or answer
//!   the sender itself without enqueueing ([`Verdict::Answer`]: a 2xx — e.g. GitHub's `ping`
//!   → 204 — or a 4xx). A 2xx that enqueues is still only sent once the queue has the message.
//! - [`BeforeStore`] runs in the post-queue function on each envelope before it is stored: it
//!   may change what is stored and choose the collection ([`Destination`]).
//! - Nothing a hook does can skip the signature check, answer 2xx for a webhook the queue did not
//!   take, or answer 5xx/3xx in the pipeline's name ([`Reply::new`] refuses them).
//!
//! The default functions are this library with [`NoHooks`].

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

/// Custom logic run on each verified webhook before it is enqueued (see the module's docs).
pub trait BeforeEnqueue: Send + Sync {
    /// Changes `envelope` in place and says whether to enqueue it.
    fn before_enqueue(&self, envelope: &mut Envelope) -> Verdict;
}

/// No custom logic: every verified webhook is enqueued as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoHooks;

impl BeforeEnqueue for NoHooks {
    fn before_enqueue(&self, _envelope: &mut Envelope) -> Verdict {
        Verdict::Enqueue
    }
}

/// A closure is a hook.
impl<F> BeforeEnqueue for F
where
    F: Fn(&mut Envelope) -> Verdict + Send + Sync,
{
    fn before_enqueue(&self, envelope: &mut Envelope) -> Verdict {
        self(envelope)
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
}
