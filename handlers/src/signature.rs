//! Webhook signature verification: fail closed, constant-time comparison.
//!
//! Every scheme computes one HMAC over what its sender signs and checks each signature the request
//! carries with [`Mac::verify_slice`], which compares in constant time. A request is accepted only
//! when one signature matches and, for timestamped schemes, its timestamp is within the tolerance
//! (either side of now: stale and future timestamps are both refused).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

/// Default tolerance for timestamped schemes (the contract's).
pub const DEFAULT_TOLERANCE_SECONDS: u64 = nami_contract::limits::TOLERANCE_SECONDS
    .default
    .unsigned_abs();

/// Why a request's signature was refused. Every variant answers 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A header the scheme needs is absent.
    #[error("missing header {0}")]
    MissingHeader(String),
    /// A header is present but not in the scheme's format.
    #[error("malformed header {header}: {reason}")]
    MalformedHeader {
        /// The header.
        header: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The signed timestamp is further from now than the tolerance.
    #[error("timestamp in {header} is more than {tolerance_seconds} s from now")]
    TimestampOutOfTolerance {
        /// The header carrying the timestamp.
        header: String,
        /// The tolerance it exceeded.
        tolerance_seconds: u64,
    },
    /// No signature in the request matches the body and secret.
    #[error("signature does not match")]
    Mismatch,
}

pub use nami_contract::scheme::{
    HmacAlgorithm, HmacScheme, Scheme, SchemeConfigError, SignatureEncoding,
};

/// A secret's key bytes. Its `Debug` never shows them.
#[derive(Clone)]
struct Key(Vec<u8>);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(<{} bytes redacted>)", self.0.len())
    }
}

/// Checks requests against one scheme and secret.
#[derive(Debug, Clone)]
pub struct Verifier {
    scheme: Scheme,
    key: Key,
    tolerance_seconds: u64,
}

impl Verifier {
    /// A verifier for `scheme` with `secret` (required for every scheme but `none`).
    pub fn new(
        scheme: Scheme,
        secret: Option<&str>,
        tolerance_seconds: u64,
    ) -> Result<Self, SchemeConfigError> {
        let key = match (&scheme, secret) {
            (Scheme::None, _) => Vec::new(),
            (_, None) => return Err(SchemeConfigError::MissingSecret(scheme.name())),
            (_, Some("")) => {
                return Err(SchemeConfigError::MissingSecret(scheme.name()));
            }
            (Scheme::StandardWebhooks, Some(secret)) => {
                nami_contract::scheme::standard_webhooks_key(secret)?
            }
            (_, Some(secret)) => secret.as_bytes().to_vec(),
        };
        Ok(Verifier {
            scheme,
            key: Key(key),
            tolerance_seconds,
        })
    }

    /// The scheme this verifier checks.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// Checks one request. `headers` must have lower-cased names.
    pub fn verify(
        &self,
        headers: &BTreeMap<String, String>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), SignatureError> {
        match &self.scheme {
            Scheme::None => Ok(()),
            Scheme::Github => {
                let value = header(headers, "x-hub-signature-256")?;
                let hex_signature = value
                    .strip_prefix("sha256=")
                    .ok_or_else(|| malformed("x-hub-signature-256", "expected sha256=<hex>"))?;
                let signature = decode_hex("x-hub-signature-256", hex_signature)?;
                check_any(self.mac_sha256(&[body]), [signature])
            }
            Scheme::Shopify => {
                let value = header(headers, "x-shopify-hmac-sha256")?;
                let signature = decode_base64("x-shopify-hmac-sha256", value)?;
                check_any(self.mac_sha256(&[body]), [signature])
            }
            Scheme::Stripe => {
                let value = header(headers, "stripe-signature")?;
                let mut timestamp = None;
                let mut signatures = Vec::new();
                for item in value.split(',') {
                    match item.trim().split_once('=') {
                        Some(("t", t)) => timestamp = Some(t),
                        Some(("v1", v1)) => signatures.push(decode_hex("stripe-signature", v1)?),
                        _ => {}
                    }
                }
                let timestamp =
                    timestamp.ok_or_else(|| malformed("stripe-signature", "no t= timestamp"))?;
                if signatures.is_empty() {
                    return Err(malformed("stripe-signature", "no v1= signature"));
                }
                self.check_timestamp("stripe-signature", timestamp, now)?;
                check_any(
                    self.mac_sha256(&[timestamp.as_bytes(), b".", body]),
                    signatures,
                )
            }
            Scheme::Slack => {
                let timestamp = header(headers, "x-slack-request-timestamp")?;
                let value = header(headers, "x-slack-signature")?;
                let hex_signature = value
                    .strip_prefix("v0=")
                    .ok_or_else(|| malformed("x-slack-signature", "expected v0=<hex>"))?;
                let signature = decode_hex("x-slack-signature", hex_signature)?;
                self.check_timestamp("x-slack-request-timestamp", timestamp, now)?;
                let mac = self.mac_sha256(&[b"v0:", timestamp.as_bytes(), b":", body]);
                check_any(mac, [signature])
            }
            Scheme::StandardWebhooks => {
                let id = header(headers, "webhook-id")?;
                let timestamp = header(headers, "webhook-timestamp")?;
                let value = header(headers, "webhook-signature")?;
                // Space-delimited `version,signature` pairs; only `v1` (HMAC-SHA256) is symmetric.
                let mut signatures = Vec::new();
                for entry in value.split_whitespace() {
                    if let Some(("v1", encoded)) = entry.split_once(',') {
                        signatures.push(decode_base64("webhook-signature", encoded)?);
                    }
                }
                if signatures.is_empty() {
                    return Err(malformed("webhook-signature", "no v1,<base64> signature"));
                }
                self.check_timestamp("webhook-timestamp", timestamp, now)?;
                let mac = self.mac_sha256(&[id.as_bytes(), b".", timestamp.as_bytes(), b".", body]);
                check_any(mac, signatures)
            }
            Scheme::Hmac(generic) => {
                let name = generic.header.as_str();
                let value = header(headers, name)?;
                let encoded = value
                    .strip_prefix(generic.prefix.as_str())
                    .ok_or_else(|| malformed(name, "signature prefix not found"))?;
                let signature = match generic.encoding {
                    SignatureEncoding::Hex => decode_hex(name, encoded)?,
                    SignatureEncoding::Base64 => decode_base64(name, encoded)?,
                };
                match generic.algorithm {
                    HmacAlgorithm::Sha256 => check_any(self.mac_sha256(&[body]), [signature]),
                    HmacAlgorithm::Sha1 => {
                        let mut mac = Hmac::<Sha1>::new_from_slice(&self.key.0)
                            .expect("HMAC accepts keys of any length");
                        mac.update(body);
                        check_any(mac, [signature])
                    }
                }
            }
        }
    }

    fn mac_sha256(&self, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key.0).expect("HMAC accepts keys of any length");
        for part in parts {
            mac.update(part);
        }
        mac
    }

    fn check_timestamp(
        &self,
        header: &str,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<(), SignatureError> {
        let seconds = i64::from_str(value.trim())
            .map_err(|_| malformed(header, "timestamp is not a whole number of seconds"))?;
        let skew = now.timestamp().abs_diff(seconds);
        if skew > self.tolerance_seconds {
            return Err(SignatureError::TimestampOutOfTolerance {
                header: header.to_owned(),
                tolerance_seconds: self.tolerance_seconds,
            });
        }
        Ok(())
    }
}

/// Accepts when any candidate matches; each comparison is constant-time.
fn check_any<M: Mac + Clone>(
    mac: M,
    candidates: impl IntoIterator<Item = Vec<u8>>,
) -> Result<(), SignatureError> {
    let mut matched = false;
    for candidate in candidates {
        // No early exit: the time taken does not depend on which candidate matched.
        matched |= mac.clone().verify_slice(&candidate).is_ok();
    }
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn header<'a>(
    headers: &'a BTreeMap<String, String>,
    name: &str,
) -> Result<&'a str, SignatureError> {
    headers
        .get(name)
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
        .ok_or_else(|| SignatureError::MissingHeader(name.to_owned()))
}

fn malformed(header: &str, reason: &'static str) -> SignatureError {
    SignatureError::MalformedHeader {
        header: header.to_owned(),
        reason,
    }
}

fn decode_hex(header: &str, text: &str) -> Result<Vec<u8>, SignatureError> {
    hex::decode(text.trim()).map_err(|_| malformed(header, "signature is not hex"))
}

fn decode_base64(header: &str, text: &str) -> Result<Vec<u8>, SignatureError> {
    BASE64
        .decode(text.trim())
        .map_err(|_| malformed(header, "signature is not base64"))
}

#[cfg(test)]
mod tests {
    //! Vectors: GitHub, Slack and Standard Webhooks publish theirs (used verbatim). Stripe and
    //! Shopify publish the algorithm only; their values were computed once with Python's stdlib
    //! `hmac` from the documented signed-content formats and frozen here.
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
            .collect()
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    fn verifier(scheme: Scheme, secret: &str) -> Verifier {
        Verifier::new(scheme, Some(secret), DEFAULT_TOLERANCE_SECONDS).unwrap()
    }

    // --- GitHub (docs.github.com, "Validating webhook deliveries", testing the signature)
    const GITHUB_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_valid_tampered_wrong_secret_missing() {
        let v = verifier(Scheme::Github, GITHUB_SECRET);
        let h = headers(&[("X-Hub-Signature-256", GITHUB_SIGNATURE)]);
        assert_eq!(v.verify(&h, b"Hello, World!", at(0)), Ok(()));
        assert_eq!(
            v.verify(&h, b"Hello, World?", at(0)),
            Err(SignatureError::Mismatch)
        );
        let wrong = verifier(Scheme::Github, "It's a secret to everybody");
        assert_eq!(
            wrong.verify(&h, b"Hello, World!", at(0)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v.verify(&headers(&[]), b"Hello, World!", at(0)),
            Err(SignatureError::MissingHeader("x-hub-signature-256".into()))
        );
        let sha1_style = headers(&[("X-Hub-Signature-256", "sha1=0123")]);
        assert!(matches!(
            v.verify(&sha1_style, b"Hello, World!", at(0)),
            Err(SignatureError::MalformedHeader { .. })
        ));
    }

    // --- Slack (api.slack.com, "Verifying requests from Slack", the worked example)
    const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const SLACK_TIMESTAMP: i64 = 1_531_420_618;
    const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SLACK_SIGNATURE: &str =
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn slack_headers() -> BTreeMap<String, String> {
        headers(&[
            ("X-Slack-Request-Timestamp", "1531420618"),
            ("X-Slack-Signature", SLACK_SIGNATURE),
        ])
    }

    #[test]
    fn slack_valid_tampered_wrong_secret() {
        let v = verifier(Scheme::Slack, SLACK_SECRET);
        let now = at(SLACK_TIMESTAMP + 10);
        assert_eq!(
            v.verify(&slack_headers(), SLACK_BODY.as_bytes(), now),
            Ok(())
        );
        let tampered = SLACK_BODY.replace("foobar", "foobaz");
        assert_eq!(
            v.verify(&slack_headers(), tampered.as_bytes(), now),
            Err(SignatureError::Mismatch)
        );
        let wrong = verifier(Scheme::Slack, "8f742231b10e8888abcd99yyyzzz85a6");
        assert_eq!(
            wrong.verify(&slack_headers(), SLACK_BODY.as_bytes(), now),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn slack_stale_and_future_timestamps_are_refused() {
        let v = verifier(Scheme::Slack, SLACK_SECRET);
        for now in [at(SLACK_TIMESTAMP + 301), at(SLACK_TIMESTAMP - 301)] {
            assert!(matches!(
                v.verify(&slack_headers(), SLACK_BODY.as_bytes(), now),
                Err(SignatureError::TimestampOutOfTolerance { .. })
            ));
        }
        for now in [at(SLACK_TIMESTAMP + 300), at(SLACK_TIMESTAMP - 300)] {
            assert_eq!(
                v.verify(&slack_headers(), SLACK_BODY.as_bytes(), now),
                Ok(())
            );
        }
    }

    #[test]
    fn slack_missing_timestamp() {
        let v = verifier(Scheme::Slack, SLACK_SECRET);
        let h = headers(&[("X-Slack-Signature", SLACK_SIGNATURE)]);
        assert_eq!(
            v.verify(&h, SLACK_BODY.as_bytes(), at(SLACK_TIMESTAMP)),
            Err(SignatureError::MissingHeader(
                "x-slack-request-timestamp".into()
            ))
        );
    }

    // --- Standard Webhooks (standardwebhooks.com specification test vector)
    const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SW_TIMESTAMP: i64 = 1_614_265_330;
    const SW_BODY: &str = r#"{"test": 2432232314}"#;
    const SW_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn sw_headers(signature: &str) -> BTreeMap<String, String> {
        headers(&[
            ("webhook-id", SW_ID),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", signature),
        ])
    }

    #[test]
    fn standard_webhooks_valid_and_several_signatures() {
        let v = verifier(Scheme::StandardWebhooks, SW_SECRET);
        let now = at(SW_TIMESTAMP);
        assert_eq!(
            v.verify(&sw_headers(SW_SIGNATURE), SW_BODY.as_bytes(), now),
            Ok(())
        );
        // Key rotation: several signatures, one valid, in any position.
        let several = format!("v1,Zm9vYmFyYmF6 {SW_SIGNATURE} v1a,ignoredasymmetric");
        assert_eq!(
            v.verify(&sw_headers(&several), SW_BODY.as_bytes(), now),
            Ok(())
        );
        let none_valid = "v1,Zm9vYmFyYmF6 v1,YmF6YmFyZm9v";
        assert_eq!(
            v.verify(&sw_headers(none_valid), SW_BODY.as_bytes(), now),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn standard_webhooks_tampered_id_body_and_time() {
        let v = verifier(Scheme::StandardWebhooks, SW_SECRET);
        let now = at(SW_TIMESTAMP);
        let mut other_id = sw_headers(SW_SIGNATURE);
        other_id.insert("webhook-id".into(), "msg_other".into());
        assert_eq!(
            v.verify(&other_id, SW_BODY.as_bytes(), now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v.verify(&sw_headers(SW_SIGNATURE), br#"{"test": 2432232315}"#, now),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            v.verify(
                &sw_headers(SW_SIGNATURE),
                SW_BODY.as_bytes(),
                at(SW_TIMESTAMP + 3600)
            ),
            Err(SignatureError::TimestampOutOfTolerance { .. })
        ));
    }

    #[test]
    fn standard_webhooks_secret_with_or_without_prefix_and_invalid() {
        let bare = verifier(Scheme::StandardWebhooks, &SW_SECRET["whsec_".len()..]);
        assert_eq!(
            bare.verify(
                &sw_headers(SW_SIGNATURE),
                SW_BODY.as_bytes(),
                at(SW_TIMESTAMP)
            ),
            Ok(())
        );
        assert_eq!(
            Verifier::new(Scheme::StandardWebhooks, Some("whsec_not base64!"), 300).unwrap_err(),
            SchemeConfigError::InvalidStandardWebhooksSecret
        );
    }

    // --- Stripe (docs.stripe.com, "Verify webhook signatures manually")
    const STRIPE_SECRET: &str = "whsec_test_secret_nami";
    const STRIPE_BODY: &str = r#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"payment_intent.succeeded"}"#;
    const STRIPE_V1: &str = "79c82164ca6de63b67e5f93dc0c05a29f07e4f29207035033b435eb309c3dc9b";

    fn stripe_headers(value: &str) -> BTreeMap<String, String> {
        headers(&[("Stripe-Signature", value)])
    }

    #[test]
    fn stripe_valid_several_signatures_and_tampered() {
        let v = verifier(Scheme::Stripe, STRIPE_SECRET);
        let now = at(1_700_000_100);
        let one = format!("t=1700000000,v1={STRIPE_V1}");
        assert_eq!(
            v.verify(&stripe_headers(&one), STRIPE_BODY.as_bytes(), now),
            Ok(())
        );
        let several = format!(
            "t=1700000000,v1={},v1={STRIPE_V1},v0=6ffbb59b2300aae63f27",
            "ab".repeat(32)
        );
        assert_eq!(
            v.verify(&stripe_headers(&several), STRIPE_BODY.as_bytes(), now),
            Ok(())
        );
        // The timestamp is signed: changing it breaks the signature even within tolerance.
        let moved = format!("t=1700000001,v1={STRIPE_V1}");
        assert_eq!(
            v.verify(&stripe_headers(&moved), STRIPE_BODY.as_bytes(), now),
            Err(SignatureError::Mismatch)
        );
        let tampered = STRIPE_BODY.replace("succeeded", "failed");
        assert_eq!(
            v.verify(&stripe_headers(&one), tampered.as_bytes(), now),
            Err(SignatureError::Mismatch)
        );
        let wrong = verifier(Scheme::Stripe, "whsec_other");
        assert_eq!(
            wrong.verify(&stripe_headers(&one), STRIPE_BODY.as_bytes(), now),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_valid_signature_counts_in_any_position_and_a_truncated_one_never() {
        // The valid signature first, a wrong one after it (Stripe, then Standard Webhooks).
        let stripe = verifier(Scheme::Stripe, STRIPE_SECRET);
        let first = format!("t=1700000000,v1={STRIPE_V1},v1={}", "ab".repeat(32));
        assert_eq!(
            stripe.verify(
                &stripe_headers(&first),
                STRIPE_BODY.as_bytes(),
                at(1_700_000_000)
            ),
            Ok(())
        );
        let standard = verifier(Scheme::StandardWebhooks, SW_SECRET);
        let first = format!("{SW_SIGNATURE} v1,Zm9vYmFyYmF6");
        assert_eq!(
            standard.verify(&sw_headers(&first), SW_BODY.as_bytes(), at(SW_TIMESTAMP)),
            Ok(())
        );
        // A prefix of the valid signature (half of it, one byte short) or a longer one: refused.
        let github = verifier(Scheme::Github, GITHUB_SECRET);
        let hex = GITHUB_SIGNATURE.strip_prefix("sha256=").unwrap();
        for candidate in [&hex[..32], &hex[..62], &format!("{hex}00")] {
            let value = format!("sha256={candidate}");
            assert_eq!(
                github.verify(
                    &headers(&[("X-Hub-Signature-256", &value)]),
                    b"Hello, World!",
                    at(0)
                ),
                Err(SignatureError::Mismatch),
                "{candidate}"
            );
        }
    }

    #[test]
    fn the_tolerance_includes_its_last_second_either_side() {
        let v = verifier(Scheme::Stripe, STRIPE_SECRET);
        let one = format!("t=1700000000,v1={STRIPE_V1}");
        for now in [at(1_700_000_000 + 300), at(1_700_000_000 - 300)] {
            assert_eq!(
                v.verify(&stripe_headers(&one), STRIPE_BODY.as_bytes(), now),
                Ok(())
            );
        }
    }

    #[test]
    fn stripe_timestamps_and_malformed_headers() {
        let v = verifier(Scheme::Stripe, STRIPE_SECRET);
        let one = format!("t=1700000000,v1={STRIPE_V1}");
        for now in [at(1_700_000_000 + 301), at(1_700_000_000 - 301)] {
            assert!(matches!(
                v.verify(&stripe_headers(&one), STRIPE_BODY.as_bytes(), now),
                Err(SignatureError::TimestampOutOfTolerance { .. })
            ));
        }
        let now = at(1_700_000_000);
        for bad in [
            format!("v1={STRIPE_V1}"),
            "t=1700000000".to_owned(),
            format!("t=soon,v1={STRIPE_V1}"),
        ] {
            assert!(
                matches!(
                    v.verify(&stripe_headers(&bad), STRIPE_BODY.as_bytes(), now),
                    Err(SignatureError::MalformedHeader { .. })
                ),
                "{bad}"
            );
        }
    }

    // --- Shopify (shopify.dev, "Verify webhooks": base64 HMAC-SHA256 of the raw body)
    #[test]
    fn shopify_valid_tampered_and_wrong_secret() {
        let body = br#"{"id":820982911946154508,"email":"jon@example.com"}"#;
        let h = headers(&[(
            "X-Shopify-Hmac-Sha256",
            "OyPgXx5/9cEz97dK2TRGOh+JKxjl66ogMsJ9csjsN9I=",
        )]);
        assert_eq!(
            verifier(Scheme::Shopify, "shpss_nami_test_secret").verify(&h, body, at(0)),
            Ok(())
        );
        assert_eq!(
            verifier(Scheme::Shopify, "shpss_other").verify(&h, body, at(0)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verifier(Scheme::Shopify, "shpss_nami_test_secret").verify(&h, b"{}", at(0)),
            Err(SignatureError::Mismatch)
        );
    }

    // --- Generic hmac
    fn generic(settings: &[(&str, &str)]) -> Scheme {
        let settings: BTreeMap<&str, &str> = settings.iter().copied().collect();
        Scheme::parse("hmac", |name| settings.get(name).map(|v| (*v).to_owned())).unwrap()
    }

    #[test]
    fn generic_hmac_sha1_hex_with_prefix_vs_sha256_base64() {
        let sha1 = verifier(
            generic(&[
                ("header", "X-Signature"),
                ("algorithm", "sha1"),
                ("prefix", "sha1="),
            ]),
            "k3y",
        );
        let h = headers(&[(
            "X-Signature",
            "sha1=e10dd497e214d3c12496ef4a215a79532e324e2a",
        )]);
        assert_eq!(sha1.verify(&h, b"payload", at(0)), Ok(()));
        assert_eq!(
            sha1.verify(&h, b"payloaD", at(0)),
            Err(SignatureError::Mismatch)
        );
        // The same header checked as sha256 does not match: algorithms are not interchangeable.
        let as_sha256 = verifier(
            generic(&[("header", "X-Signature"), ("prefix", "sha1=")]),
            "k3y",
        );
        assert_eq!(
            as_sha256.verify(&h, b"payload", at(0)),
            Err(SignatureError::Mismatch)
        );

        let sha256 = verifier(
            generic(&[("header", "X-Sig"), ("encoding", "base64")]),
            "k3y",
        );
        let h = headers(&[("X-Sig", "9TnjJm9ESCJnalPlGJspsCPUAd20TGpju9vL/g7iHMs=")]);
        assert_eq!(sha256.verify(&h, b"payload", at(0)), Ok(()));
        let no_prefix = headers(&[("X-Signature", "e10dd497e214d3c12496ef4a215a79532e324e2a")]);
        assert!(matches!(
            sha1.verify(&no_prefix, b"payload", at(0)),
            Err(SignatureError::MalformedHeader { .. })
        ));
    }

    #[test]
    fn configuration_fails_closed() {
        let nothing = |_: &str| None;
        assert_eq!(
            Scheme::parse("githib", nothing),
            Err(SchemeConfigError::UnknownScheme("githib".into()))
        );
        assert_eq!(
            Scheme::parse("", nothing),
            Err(SchemeConfigError::UnknownScheme("".into()))
        );
        assert_eq!(
            Scheme::parse("hmac", nothing),
            Err(SchemeConfigError::MissingHmacHeader)
        );
        assert!(matches!(
            Scheme::parse("hmac", |n| (n == "header")
                .then(|| "x".into())
                .or((n == "algorithm").then(|| "md5".into()))),
            Err(SchemeConfigError::InvalidSetting {
                setting: "algorithm",
                ..
            })
        ));
        assert_eq!(
            Verifier::new(Scheme::Github, None, 300).unwrap_err(),
            SchemeConfigError::MissingSecret("github")
        );
        assert_eq!(
            Verifier::new(Scheme::Slack, Some(""), 300).unwrap_err(),
            SchemeConfigError::MissingSecret("slack")
        );
        let none = Verifier::new(Scheme::None, None, 300).unwrap();
        assert_eq!(none.verify(&headers(&[]), b"anything", at(0)), Ok(()));
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let v = verifier(Scheme::Github, GITHUB_SECRET);
        let shown = format!("{v:?}");
        assert!(!shown.contains("Secret to Everybody"), "{shown}");
        assert!(shown.contains("Key(<26 bytes redacted>)"), "{shown}");
    }
}
