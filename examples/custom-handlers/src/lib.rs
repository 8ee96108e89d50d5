//! This pipeline's own rules, run inside Nami's functions (see `nami_handlers::hooks`):
//!
//! - GitHub's `ping` (sent when a webhook is set up) is answered 204 and not stored.
//! - Every other event is stored with the event's name in `fields.event`, and `issues` events go
//!   to the collection `issues`; the rest to the pipeline's own.
//! - Each message carries the event's name as the SQS attribute `github_event`, and its
//!   repository as its message group, so one busy repository does not hold up the others.

use nami_handlers::envelope::Envelope;
use nami_handlers::hooks::{Destination, MessageOptions, Reply, Verdict};

/// The header GitHub names the event in.
const EVENT_HEADER: &str = "x-github-event";

/// Before enqueueing: pings answered, the event's name recorded, the repository its group.
pub fn before_enqueue(envelope: &mut Envelope, message: &mut MessageOptions) -> Verdict {
    let event = envelope.headers.get(EVENT_HEADER).cloned();
    match event.as_deref() {
        Some("ping") => return Verdict::Answer(Reply::no_content()),
        Some(name) => {
            envelope.fields.insert("event".to_owned(), name.into());
            // A name SQS would refuse is simply not copied: the field above still has it.
            let _ = message.set_attribute("github_event", name);
        }
        None => {}
    }
    let repository = (envelope.body.json.as_ref())
        .and_then(|body| body.pointer("/repository/full_name"))
        .and_then(|name| name.as_str());
    if let Some(repository) = repository {
        let _ = message.set_group_id(repository);
    }
    Verdict::Enqueue
}

/// Before storing: `issues` events in their own collection.
pub fn before_store(envelope: &mut Envelope) -> Destination {
    match envelope
        .fields
        .get("event")
        .and_then(|event| event.as_str())
    {
        Some("issues") => Destination::Collection("issues".to_owned()),
        _ => Destination::Configured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(event: Option<&str>) -> Envelope {
        let mut envelope =
            Envelope::from_message_body(&serde_json::json!({
                "version": 1, "id": "d1", "id_source": "header:x-github-delivery",
                "pipeline": "gh", "received_at": "2026-12-04T00:00:00.000Z",
                "method": "POST", "path": "/webhook", "query": {}, "source_ip": null,
                "headers": {},
                "body": {"content_type": null, "size": 2, "sha256": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "encoding": "utf8", "raw": "{}"},
                "signature": {"scheme": "github", "verified": true}
            }).to_string())
            .unwrap();
        if let Some(event) = event {
            envelope
                .headers
                .insert(EVENT_HEADER.to_owned(), event.to_owned());
        }
        envelope
    }

    #[test]
    fn pings_are_answered_and_other_events_named_and_routed() {
        let mut options = MessageOptions::default();
        let mut ping = envelope(Some("ping"));
        assert_eq!(
            before_enqueue(&mut ping, &mut options),
            Verdict::Answer(Reply::no_content())
        );

        let mut issue = envelope(Some("issues"));
        issue.body.json = Some(serde_json::json!({"repository": {"full_name": "octo/hello"}}));
        let mut options = MessageOptions::default();
        assert_eq!(before_enqueue(&mut issue, &mut options), Verdict::Enqueue);
        assert_eq!(issue.fields["event"], "issues");
        assert_eq!(options.attributes()["github_event"], "issues");
        assert_eq!(options.group_id(), Some("octo/hello"));
        assert_eq!(
            before_store(&mut issue),
            Destination::Collection("issues".to_owned())
        );

        let mut push = envelope(Some("push"));
        let mut options = MessageOptions::default();
        assert_eq!(before_enqueue(&mut push, &mut options), Verdict::Enqueue);
        assert_eq!(options.group_id(), None, "no repository in the body");
        assert_eq!(before_store(&mut push), Destination::Configured);

        let mut unnamed = envelope(None);
        let mut options = MessageOptions::default();
        assert_eq!(before_enqueue(&mut unnamed, &mut options), Verdict::Enqueue);
        assert!(unnamed.fields.is_empty());
        assert_eq!(options, MessageOptions::default());
    }
}
