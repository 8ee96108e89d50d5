//! The envelope: what the pre-queue function puts on the queue and the post-queue function stores.
//!
//! It is Nami's data contract. Its JSON Schema is generated from these types into
//! `docs/envelope.schema.json` (`make schema`), and a test fails when that file is stale.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of the envelope layout; bumped on any incompatible change.
pub const ENVELOPE_VERSION: u32 = 1;

/// Header names whose values are replaced by [`REDACTED`] before anything is stored.
pub const REDACTED_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-amz-security-token",
];

/// The value that stands in for a redacted header.
pub const REDACTED: &str = "[redacted]";

/// One received webhook, as queued and as stored (stored with `_id` = `id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "Nami webhook envelope")]
pub struct Envelope {
    /// Layout version of this envelope (currently 1).
    pub version: u32,
    /// Delivery id: the sender's id when it sends one (so retries deduplicate), else the
    /// API Gateway request id. Stored as MongoDB `_id`.
    pub id: String,
    /// Where `id` came from: `header:<name>`, `json:<pointer>` or `request_id`.
    pub id_source: String,
    /// The pipeline that received the webhook.
    pub pipeline: String,
    /// When the pre-queue function accepted the webhook (UTC, millisecond precision).
    #[serde(with = "millis_rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub received_at: DateTime<Utc>,
    /// HTTP method, upper case.
    pub method: String,
    /// Request path as API Gateway saw it.
    pub path: String,
    /// Query string parameters; every value of a repeated parameter is kept, in order.
    pub query: BTreeMap<String, Vec<String>>,
    /// The caller's IP address, when API Gateway reports it.
    pub source_ip: Option<String>,
    /// Request headers with lower-cased names; repeated headers joined with `", "`;
    /// credentials (`authorization`, `cookie`, `x-api-key`, …) replaced by `"[redacted]"`.
    pub headers: BTreeMap<String, String>,
    /// The request body.
    pub body: Body,
    /// Which signature scheme checked the request, and its result.
    pub signature: SignatureCheck,
    /// Fields the pipeline's custom logic added (its handlers' hooks), stored as they are;
    /// absent when there are none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// The request body: always the exact bytes, plus a parsed view when the content allows one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Body {
    /// The `content-type` header, if any.
    pub content_type: Option<String>,
    /// Length of the raw body in bytes.
    pub size: usize,
    /// SHA-256 of the raw body, lower-case hex: a delivery id seen again with another digest is a
    /// conflict, not a duplicate. (An envelope queued before this field existed gets it computed
    /// when it is read.)
    #[serde(default)]
    pub sha256: String,
    /// How `raw` encodes the bytes.
    pub encoding: RawEncoding,
    /// The body's exact bytes: the text itself (`utf8`) or its base64 (`base64`).
    pub raw: String,
    /// The body parsed as JSON, when it is JSON. Present in stored documents; omitted on the
    /// queue, where it is rebuilt from `raw` (so a body counts once against the message limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<serde_json::Value>,
    /// The body parsed as a form (`application/x-www-form-urlencoded`), when it is one.
    /// Present in stored documents; omitted on the queue, like `json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<BTreeMap<String, Vec<String>>>,
}

/// Encoding of `raw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawEncoding {
    /// The body is valid UTF-8 and `raw` is that text.
    Utf8,
    /// The body is binary and `raw` is its standard base64 encoding.
    Base64,
}

/// The outcome of signature verification recorded with the webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SignatureCheck {
    /// Scheme name (`github`, `stripe`, `slack`, `shopify`, `standard-webhooks`, `hmac`, `none`).
    pub scheme: String,
    /// `true` when the signature was verified; `false` only with scheme `none`.
    pub verified: bool,
}

impl Body {
    /// Builds the body view of `bytes`, parsing JSON or form content when it is that.
    pub fn new(bytes: &[u8], content_type: Option<&str>) -> Self {
        let (encoding, raw) = match std::str::from_utf8(bytes) {
            Ok(text) => (RawEncoding::Utf8, text.to_owned()),
            Err(_) => (RawEncoding::Base64, BASE64.encode(bytes)),
        };
        Body {
            content_type: content_type.map(str::to_owned),
            size: bytes.len(),
            sha256: sha256_hex(bytes),
            encoding,
            raw,
            json: json_view(bytes, content_type),
            form: form_view(bytes, content_type),
        }
    }

    /// The exact bytes that were received (borrowed from `raw` when it is the text itself).
    pub fn raw_bytes(&self) -> Result<Cow<'_, [u8]>, base64::DecodeError> {
        match self.encoding {
            RawEncoding::Utf8 => Ok(Cow::Borrowed(self.raw.as_bytes())),
            RawEncoding::Base64 => BASE64.decode(&self.raw).map(Cow::Owned),
        }
    }
}

/// Whether a body of `content_type` holding `bytes` has a JSON view (when it parses): its media
/// type is `application/json` or `*+json`, or it has none and starts like an object or an array.
pub fn has_json_view(bytes: &[u8], content_type: Option<&str>) -> bool {
    match media_type(content_type).as_deref() {
        Some(mt) => mt == "application/json" || mt.ends_with("+json"),
        None => looks_like_json(bytes),
    }
}

/// The media type of a `content-type` value, lower-cased, without parameters.
fn media_type(content_type: Option<&str>) -> Option<String> {
    content_type
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
}

/// SHA-256 of `bytes` as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The body parsed as JSON, when it has a JSON view and parses.
fn json_view(bytes: &[u8], content_type: Option<&str>) -> Option<serde_json::Value> {
    has_json_view(bytes, content_type)
        .then(|| serde_json::from_slice(bytes).ok())
        .flatten()
}

/// The body parsed as a form, when its media type is `application/x-www-form-urlencoded`.
fn form_view(bytes: &[u8], content_type: Option<&str>) -> Option<BTreeMap<String, Vec<String>>> {
    (media_type(content_type).as_deref() == Some("application/x-www-form-urlencoded")).then(|| {
        let mut fields: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in form_urlencoded::parse(bytes) {
            fields
                .entry(name.into_owned())
                .or_default()
                .push(value.into_owned());
        }
        fields
    })
}

fn looks_like_json(bytes: &[u8]) -> bool {
    matches!(
        bytes.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{') | Some(b'[')
    )
}

impl Envelope {
    /// The envelope as an SQS message body: without the parsed body views (rebuilt from `raw` on
    /// the way out), and with every character SQS refuses (U+FFFE, U+FFFF; control characters are
    /// already escaped by JSON) written as `\uXXXX`.
    pub fn to_message_body(&self) -> String {
        let mut value = serde_json::to_value(self).expect("an envelope always serializes");
        if let Some(body) = value
            .get_mut("body")
            .and_then(serde_json::Value::as_object_mut)
        {
            body.remove("json");
            body.remove("form");
        }
        escape_sqs_forbidden(value.to_string())
    }

    /// Parses an SQS message body back into an envelope, rebuilding the parsed body views and
    /// checking the body against its declared size and digest.
    pub fn from_message_body(message: &str) -> Result<Self, EnvelopeError> {
        Self::read_message_body(message, true)
    }

    /// As [`Envelope::from_message_body`], but leaves `body.json` unset: for a reader that writes
    /// the JSON view straight from `body.raw` (see [`has_json_view`]) instead of building a tree.
    pub fn from_message_body_without_json(message: &str) -> Result<Self, EnvelopeError> {
        Self::read_message_body(message, false)
    }

    fn read_message_body(message: &str, with_json: bool) -> Result<Self, EnvelopeError> {
        let mut envelope: Envelope = serde_json::from_str(message)?;
        let body = &envelope.body;
        let bytes = body.raw_bytes()?;
        if bytes.len() != body.size {
            return Err(EnvelopeError::SizeMismatch {
                declared: body.size,
                actual: bytes.len(),
            });
        }
        let digest = sha256_hex(&bytes);
        if !body.sha256.is_empty() && body.sha256 != digest {
            return Err(EnvelopeError::DigestMismatch {
                declared: body.sha256.clone(),
                actual: digest,
            });
        }
        let content_type = body.content_type.as_deref();
        let json = with_json.then(|| json_view(&bytes, content_type)).flatten();
        let form = form_view(&bytes, content_type);
        drop(bytes);
        (envelope.body.sha256, envelope.body.json, envelope.body.form) = (digest, json, form);
        Ok(envelope)
    }
}

/// A queue message that is not a well-formed envelope.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON of the envelope's shape.
    #[error("not an envelope: {0}")]
    Json(#[from] serde_json::Error),
    /// `raw` is marked base64 but does not decode.
    #[error("body.raw is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// `raw` does not have the declared size.
    #[error("body.size is {declared} but body.raw holds {actual} bytes")]
    SizeMismatch {
        /// The size the envelope states.
        declared: usize,
        /// The size of the decoded bytes.
        actual: usize,
    },
    /// `raw` does not have the declared SHA-256.
    #[error("body.sha256 is {declared} but body.raw hashes to {actual}")]
    DigestMismatch {
        /// The digest the envelope states.
        declared: String,
        /// The digest of the decoded bytes.
        actual: String,
    },
}

/// Lower-cases header names, joins repeated values and redacts credentials.
pub fn normalize_headers<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> BTreeMap<String, String> {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in pairs {
        let name = name.to_ascii_lowercase();
        let value = String::from_utf8_lossy(value);
        headers
            .entry(name)
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    headers
}

/// Replaces the values of credential headers by [`REDACTED`].
pub fn redact_headers(headers: &mut BTreeMap<String, String>) {
    for name in REDACTED_HEADERS {
        if let Some(value) = headers.get_mut(*name) {
            *value = REDACTED.to_owned();
        }
    }
}

/// SQS accepts `#x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF`. JSON text from serde
/// already escapes control characters; the two non-characters left can only sit inside strings,
/// where `\uFFFE` / `\uFFFF` mean the same.
fn escape_sqs_forbidden(json: String) -> String {
    if !json.contains(['\u{FFFE}', '\u{FFFF}']) {
        return json;
    }
    json.replace('\u{FFFE}', "\\ufffe")
        .replace('\u{FFFF}', "\\uffff")
}

/// Serializes timestamps as RFC 3339 UTC with milliseconds (`2026-11-23T12:00:00.123Z`).
mod millis_rfc3339 {
    use super::{DateTime, Deserialize, SecondsFormat, Utc};
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        at: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// The envelope's JSON Schema, as published in `docs/envelope.schema.json`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Envelope);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_body_is_parsed_and_raw_kept_exactly() {
        let bytes = br#"{ "id": "evt_1",  "amount": 12 }"#;
        let body = Body::new(bytes, Some("application/json; charset=utf-8"));
        assert_eq!(body.encoding, RawEncoding::Utf8);
        assert_eq!(body.json.as_ref().unwrap()["amount"], 12);
        assert_eq!(*body.raw_bytes().unwrap(), bytes[..]);
        assert_eq!(body.size, bytes.len());
    }

    #[test]
    fn vendor_json_and_untyped_json_are_parsed() {
        assert!(
            Body::new(b"{\"a\":1}", Some("application/vnd.api+json"))
                .json
                .is_some()
        );
        assert!(Body::new(b"  [1,2]", None).json.is_some());
        assert!(Body::new(b"{\"a\":1}", Some("text/plain")).json.is_none());
        // Without a content type only an object or an array counts as JSON, not a bare scalar.
        assert!(Body::new(b"123", None).json.is_none());
        assert!(Body::new(b"\"text\"", None).json.is_none());
    }

    #[test]
    fn invalid_json_is_kept_raw_without_a_parsed_view() {
        let body = Body::new(b"{not json", Some("application/json"));
        assert!(body.json.is_none());
        assert_eq!(body.raw, "{not json");
    }

    #[test]
    fn form_body_keeps_repeated_fields_in_order() {
        let bytes = b"token=abc&text=hello+world&channel=C1&channel=C2&empty=";
        let body = Body::new(bytes, Some("application/x-www-form-urlencoded"));
        let form = body.form.unwrap();
        assert_eq!(form["text"], vec!["hello world"]);
        assert_eq!(form["channel"], vec!["C1", "C2"]);
        assert_eq!(form["empty"], vec![""]);
        assert!(body.json.is_none());
    }

    #[test]
    fn binary_body_round_trips_through_base64() {
        let bytes: Vec<u8> = (0..=255u8).rev().collect();
        let body = Body::new(&bytes, Some("application/octet-stream"));
        assert_eq!(body.encoding, RawEncoding::Base64);
        assert_eq!(*body.raw_bytes().unwrap(), bytes[..]);
    }

    #[test]
    fn empty_body() {
        let body = Body::new(b"", None);
        assert_eq!(
            (body.size, body.raw.as_str(), body.encoding),
            (0, "", RawEncoding::Utf8)
        );
        assert!(body.json.is_none() && body.form.is_none());
    }

    #[test]
    fn headers_are_lowercased_joined_and_redacted() {
        let mut headers = normalize_headers([
            ("Content-Type", b"application/json".as_slice()),
            ("X-Forwarded-For", b"1.1.1.1".as_slice()),
            ("x-forwarded-for", b"2.2.2.2".as_slice()),
            ("Authorization", b"Bearer secret".as_slice()),
        ]);
        redact_headers(&mut headers);
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["x-forwarded-for"], "1.1.1.1, 2.2.2.2");
        assert_eq!(headers["authorization"], REDACTED);
    }

    fn sample(raw: &[u8]) -> Envelope {
        Envelope {
            version: ENVELOPE_VERSION,
            id: "d1".into(),
            id_source: "request_id".into(),
            pipeline: "p".into(),
            received_at: DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
            method: "POST".into(),
            path: "/".into(),
            query: BTreeMap::new(),
            source_ip: None,
            headers: BTreeMap::new(),
            body: Body::new(raw, Some("text/plain")),
            signature: SignatureCheck {
                scheme: "none".into(),
                verified: false,
            },
            fields: Default::default(),
        }
    }

    #[test]
    fn message_body_round_trips_including_characters_sqs_refuses() {
        let text = "a\u{FFFF}b\u{FFFE}c\u{0001}\u{10FFFF}";
        let envelope = sample(text.as_bytes());
        let message = envelope.to_message_body();
        assert!(!message.contains(['\u{FFFE}', '\u{FFFF}', '\u{0001}']));
        let back = Envelope::from_message_body(&message).unwrap();
        assert_eq!(back, envelope);
        assert_eq!(*back.body.raw_bytes().unwrap(), *text.as_bytes());
    }

    #[test]
    fn the_queue_carries_the_body_once_and_views_are_rebuilt() {
        let body = format!("{{\"blob\":\"{}\"}}", "z".repeat(10_000));
        let mut envelope = sample(body.as_bytes());
        envelope.body = Body::new(body.as_bytes(), Some("application/json"));
        let message = envelope.to_message_body();
        assert!(
            message.len() < 10_600,
            "body counted once: {} bytes",
            message.len()
        );
        let back = Envelope::from_message_body(&message).unwrap();
        assert!(back.body.json.is_some());
        assert_eq!(back, envelope);
    }

    #[test]
    fn a_reader_that_writes_the_json_view_itself_gets_every_other_view() {
        let json = Body::new(br#"{"a":1}"#, Some("application/json"));
        let form = Body::new(b"a=1&a=2", Some("application/x-www-form-urlencoded"));
        for body in [json, form] {
            let mut envelope = sample(body.raw.as_bytes());
            envelope.body = body;
            let message = envelope.to_message_body();
            let back = Envelope::from_message_body_without_json(&message).unwrap();
            assert!(back.body.json.is_none());
            envelope.body.json = None;
            assert_eq!(back, envelope);
        }
        assert!(has_json_view(
            b"{}",
            Some("Application/JSON; charset=utf-8")
        ));
        assert!(has_json_view(b"", Some("application/cloudevents+json")));
        assert!(has_json_view(b" [1]", None) && !has_json_view(b"1", None));
        assert!(!has_json_view(b"{}", Some("text/plain")));
        let mut tampered = sample(b"abc");
        tampered.body.sha256 = "0".repeat(64);
        assert!(matches!(
            Envelope::from_message_body_without_json(&tampered.to_message_body()),
            Err(EnvelopeError::DigestMismatch { .. })
        ));
    }

    #[test]
    fn malformed_messages_are_refused() {
        let mut envelope = sample(b"abc");
        envelope.body.size = 4;
        assert!(matches!(
            Envelope::from_message_body(&envelope.to_message_body()),
            Err(EnvelopeError::SizeMismatch {
                declared: 4,
                actual: 3
            })
        ));
        assert!(matches!(
            Envelope::from_message_body("{}"),
            Err(EnvelopeError::Json(_))
        ));
        let mut tampered = sample(b"abc");
        tampered.body.raw = "abd".into();
        assert!(matches!(
            Envelope::from_message_body(&tampered.to_message_body()),
            Err(EnvelopeError::DigestMismatch { .. })
        ));
    }

    #[test]
    fn the_body_digest_is_the_sha256_of_the_raw_bytes_and_filled_in_for_older_messages() {
        let envelope = sample(b"abc");
        assert_eq!(
            envelope.body.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut older: serde_json::Value =
            serde_json::from_str(&envelope.to_message_body()).unwrap();
        older["body"].as_object_mut().unwrap().remove("sha256");
        let back = Envelope::from_message_body(&older.to_string()).unwrap();
        assert_eq!(back.body.sha256, envelope.body.sha256);
    }

    #[test]
    fn received_at_is_millisecond_rfc3339() {
        let message = sample(b"").to_message_body();
        assert!(
            message.contains(r#""received_at":"2023-11-14T22:13:20.123Z""#),
            "{message}"
        );
    }
}
