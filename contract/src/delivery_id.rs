//! The delivery id: the sender's own id for a webhook, so that its retries deduplicate.

use std::collections::BTreeMap;

use crate::scheme::Scheme;

/// Longest id taken from a request; longer ones fall back to the request id.
pub const MAX_ID_LENGTH: usize = 512;

/// Where a pipeline reads the delivery id from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryIdRule {
    /// A request header (lower-cased name).
    Header(String),
    /// A JSON pointer into the body (RFC 6901), e.g. `/id`.
    JsonPointer(String),
}

impl DeliveryIdRule {
    /// Parses `header:<name>` or `json:<pointer>`.
    pub fn parse(text: &str) -> Option<Self> {
        let (kind, rest) = text.trim().split_once(':')?;
        match kind {
            "header" if !rest.trim().is_empty() => {
                Some(DeliveryIdRule::Header(rest.trim().to_ascii_lowercase()))
            }
            "json" if rest.starts_with('/') => Some(DeliveryIdRule::JsonPointer(rest.to_owned())),
            _ => None,
        }
    }

    /// The rule a scheme implies when none is configured.
    pub fn for_scheme(scheme: &Scheme) -> Option<Self> {
        match scheme {
            Scheme::Github => Some(DeliveryIdRule::Header("x-github-delivery".into())),
            Scheme::Shopify => Some(DeliveryIdRule::Header("x-shopify-webhook-id".into())),
            Scheme::StandardWebhooks => Some(DeliveryIdRule::Header("webhook-id".into())),
            Scheme::Stripe => Some(DeliveryIdRule::JsonPointer("/id".into())),
            Scheme::Slack | Scheme::Hmac(_) | Scheme::None => None,
        }
    }

    /// How the rule is recorded in [`crate::envelope::Envelope::id_source`].
    pub fn source(&self) -> String {
        match self {
            DeliveryIdRule::Header(name) => format!("header:{name}"),
            DeliveryIdRule::JsonPointer(pointer) => format!("json:{pointer}"),
        }
    }

    /// The id this rule finds in a request, if it finds a usable one.
    pub fn find(
        &self,
        headers: &BTreeMap<String, String>,
        json: Option<&serde_json::Value>,
    ) -> Option<String> {
        let id = match self {
            DeliveryIdRule::Header(name) => headers.get(name).map(|v| v.trim().to_owned()),
            DeliveryIdRule::JsonPointer(pointer) => match json?.pointer(pointer)? {
                serde_json::Value::String(text) => Some(text.clone()),
                serde_json::Value::Number(number) => Some(number.to_string()),
                _ => None,
            },
        }?;
        (!id.is_empty() && id.len() <= MAX_ID_LENGTH).then_some(id)
    }
}

/// The `id_source` recorded when the id is API Gateway's request id.
pub const REQUEST_ID_SOURCE: &str = "request_id";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_rules() {
        assert_eq!(
            DeliveryIdRule::parse("header:X-Request-Id"),
            Some(DeliveryIdRule::Header("x-request-id".into()))
        );
        assert_eq!(
            DeliveryIdRule::parse("json:/data/id"),
            Some(DeliveryIdRule::JsonPointer("/data/id".into()))
        );
        for bad in ["", "header:", "json:id", "query:x", "id"] {
            assert_eq!(DeliveryIdRule::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn each_scheme_has_its_senders_default_and_records_its_source() {
        let defaults: Vec<(&str, Option<String>)> = [
            Scheme::Github,
            Scheme::Shopify,
            Scheme::StandardWebhooks,
            Scheme::Stripe,
            Scheme::Slack,
            Scheme::None,
        ]
        .iter()
        .map(|scheme| {
            (
                scheme.name(),
                DeliveryIdRule::for_scheme(scheme).map(|rule| rule.source()),
            )
        })
        .collect();
        assert_eq!(
            defaults,
            [
                ("github", Some("header:x-github-delivery".to_owned())),
                ("shopify", Some("header:x-shopify-webhook-id".to_owned())),
                ("standard-webhooks", Some("header:webhook-id".to_owned())),
                ("stripe", Some("json:/id".to_owned())),
                ("slack", None),
                ("none", None),
            ]
        );
    }

    #[test]
    fn finds_ids_in_headers_and_json() {
        let headers =
            BTreeMap::from([("x-github-delivery".to_owned(), "72d3162e-cc78".to_owned())]);
        let github = DeliveryIdRule::for_scheme(&Scheme::Github).unwrap();
        assert_eq!(
            github.find(&headers, None).as_deref(),
            Some("72d3162e-cc78")
        );
        let body = json!({"id": "evt_1", "n": 42, "obj": {}, "data": {"object": {"id": 7}}});
        let stripe = DeliveryIdRule::for_scheme(&Scheme::Stripe).unwrap();
        assert_eq!(stripe.find(&headers, Some(&body)).as_deref(), Some("evt_1"));
        assert_eq!(
            DeliveryIdRule::JsonPointer("/data/object/id".into())
                .find(&headers, Some(&body))
                .as_deref(),
            Some("7")
        );
        assert_eq!(
            DeliveryIdRule::JsonPointer("/obj".into()).find(&headers, Some(&body)),
            None
        );
        assert_eq!(stripe.find(&headers, None), None);
        let long = json!({"id": "x".repeat(MAX_ID_LENGTH + 1)});
        assert_eq!(stripe.find(&headers, Some(&long)), None);
    }
}
