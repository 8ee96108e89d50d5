//! Signature schemes as configured: their names, the generic `hmac` scheme's settings, and the
//! Standard Webhooks secret format. The pre-queue function parses its environment with these;
//! the provider validates a plan with the same parsers.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// Every scheme name, in the order the docs list them.
pub const SCHEME_NAMES: [&str; 7] = [
    "github",
    "stripe",
    "slack",
    "shopify",
    "standard-webhooks",
    "hmac",
    "none",
];

/// The `hmac` scheme's algorithm names (the first is the default).
pub const HMAC_ALGORITHMS: [&str; 2] = ["sha256", "sha1"];
/// The `hmac` scheme's encoding names (the first is the default).
pub const HMAC_ENCODINGS: [&str; 2] = ["hex", "base64"];

/// A configuration that cannot be used to verify anything: the function must not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemeConfigError {
    /// The scheme name is not one Nami knows.
    #[error(
        "unknown signature scheme {0:?}; expected one of github, stripe, slack, shopify, standard-webhooks, hmac, none"
    )]
    UnknownScheme(String),
    /// A scheme that signs needs a secret and none was given.
    #[error("signature scheme {0} needs a secret")]
    MissingSecret(&'static str),
    /// A Standard Webhooks secret is not `whsec_` followed by base64.
    #[error("standard-webhooks secret must be base64, optionally prefixed with whsec_")]
    InvalidStandardWebhooksSecret,
    /// The `hmac` scheme needs the header that carries the signature.
    #[error("signature scheme hmac needs a header name")]
    MissingHmacHeader,
    /// A setting of the `hmac` scheme has a value it does not know.
    #[error("invalid {setting} {value:?}; expected {expected}")]
    InvalidSetting {
        /// Which setting.
        setting: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
}

/// Digest of the generic `hmac` scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HmacAlgorithm {
    /// HMAC-SHA256 (the default).
    Sha256,
    /// HMAC-SHA1, for senders that still use it.
    Sha1,
}

/// Text encoding of the generic `hmac` scheme's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureEncoding {
    /// Lower-case hexadecimal (the default).
    Hex,
    /// Standard base64.
    Base64,
}

/// The generic `hmac` scheme: an HMAC of the raw body in one header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacScheme {
    /// Lower-cased header name that carries the signature.
    pub header: String,
    /// The digest.
    pub algorithm: HmacAlgorithm,
    /// How the signature is written.
    pub encoding: SignatureEncoding,
    /// Text before the signature in the header, e.g. `sha256=`; empty for none.
    pub prefix: String,
}

/// A signature scheme, as named in configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(body)>`.
    Github,
    /// Stripe: `Stripe-Signature: t=<ts>,v1=<hex HMAC-SHA256("<ts>.<body>")>[,v1=...]`.
    Stripe,
    /// Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256("v0:<ts>:<body>")>` with `X-Slack-Request-Timestamp`.
    Slack,
    /// Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(body)>`.
    Shopify,
    /// Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256("<id>.<ts>.<body>")> ...`.
    StandardWebhooks,
    /// Any sender that puts an HMAC of the raw body in one header.
    Hmac(HmacScheme),
    /// No verification. Only ever used when configured explicitly.
    None,
}

impl Scheme {
    /// Whether the scheme signs a timestamp, so a signature tolerance applies to it.
    pub fn uses_timestamp(&self) -> bool {
        matches!(
            self,
            Scheme::Stripe | Scheme::Slack | Scheme::StandardWebhooks
        )
    }

    /// The scheme's configuration name.
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::Github => "github",
            Scheme::Stripe => "stripe",
            Scheme::Slack => "slack",
            Scheme::Shopify => "shopify",
            Scheme::StandardWebhooks => "standard-webhooks",
            Scheme::Hmac(_) => "hmac",
            Scheme::None => "none",
        }
    }

    /// Builds a scheme from its name; `hmac` reads its settings through `setting`
    /// (`header`, `algorithm`, `encoding`, `prefix`).
    pub fn parse(
        name: &str,
        setting: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SchemeConfigError> {
        Ok(match name.trim() {
            "github" => Scheme::Github,
            "stripe" => Scheme::Stripe,
            "slack" => Scheme::Slack,
            "shopify" => Scheme::Shopify,
            "standard-webhooks" => Scheme::StandardWebhooks,
            "none" => Scheme::None,
            "hmac" => {
                let header = setting("header")
                    .filter(|h| !h.trim().is_empty())
                    .ok_or(SchemeConfigError::MissingHmacHeader)?
                    .trim()
                    .to_ascii_lowercase();
                let algorithm = match setting("algorithm").as_deref().unwrap_or("sha256") {
                    "sha256" => HmacAlgorithm::Sha256,
                    "sha1" => HmacAlgorithm::Sha1,
                    other => {
                        return Err(SchemeConfigError::InvalidSetting {
                            setting: "algorithm",
                            value: other.into(),
                            expected: "sha256 or sha1",
                        });
                    }
                };
                let encoding = match setting("encoding").as_deref().unwrap_or("hex") {
                    "hex" => SignatureEncoding::Hex,
                    "base64" => SignatureEncoding::Base64,
                    other => {
                        return Err(SchemeConfigError::InvalidSetting {
                            setting: "encoding",
                            value: other.into(),
                            expected: "hex or base64",
                        });
                    }
                };
                let prefix = setting("prefix").unwrap_or_default();
                Scheme::Hmac(HmacScheme {
                    header,
                    algorithm,
                    encoding,
                    prefix,
                })
            }
            other => return Err(SchemeConfigError::UnknownScheme(other.into())),
        })
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The key bytes of a Standard Webhooks secret: base64, optionally prefixed with `whsec_`.
pub fn standard_webhooks_key(secret: &str) -> Result<Vec<u8>, SchemeConfigError> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    BASE64
        .decode(encoded)
        .map_err(|_| SchemeConfigError::InvalidStandardWebhooksSecret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str) -> Scheme {
        Scheme::parse(name, |setting| {
            (setting == "header").then(|| "X-Signature".to_owned())
        })
        .unwrap()
    }

    #[test]
    fn every_name_parses_to_the_scheme_that_displays_it() {
        for name in SCHEME_NAMES {
            let scheme = parse(name);
            assert_eq!((scheme.name(), scheme.to_string().as_str()), (name, name));
        }
        assert!(matches!(
            Scheme::parse("gitlab", |_| None),
            Err(SchemeConfigError::UnknownScheme(name)) if name == "gitlab"
        ));
    }

    #[test]
    fn only_stripe_slack_and_standard_webhooks_sign_a_timestamp() {
        let timestamped: Vec<&str> = SCHEME_NAMES
            .into_iter()
            .filter(|name| parse(name).uses_timestamp())
            .collect();
        assert_eq!(timestamped, ["stripe", "slack", "standard-webhooks"]);
    }

    #[test]
    fn hmac_needs_a_header_and_reads_its_settings() {
        assert!(matches!(
            Scheme::parse("hmac", |_| None),
            Err(SchemeConfigError::MissingHmacHeader)
        ));
        assert!(matches!(
            Scheme::parse("hmac", |s| (s == "header").then(|| "  ".to_owned())),
            Err(SchemeConfigError::MissingHmacHeader)
        ));
        let Scheme::Hmac(hmac) = parse("hmac") else {
            panic!("hmac")
        };
        assert_eq!(hmac.header, "x-signature");
    }

    #[test]
    fn standard_webhooks_keys_are_base64_with_or_without_the_prefix() {
        assert_eq!(standard_webhooks_key("whsec_AQID").unwrap(), vec![1, 2, 3]);
        assert_eq!(standard_webhooks_key("AQID").unwrap(), vec![1, 2, 3]);
        assert!(standard_webhooks_key("whsec_%%%").is_err());
    }
}
