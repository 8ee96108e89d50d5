//! The `signature` block: how the pre-queue function verifies senders. Validated at plan time
//! with the contract's parsers, the very ones the function uses at start.

use nami_contract::delivery_id::DeliveryIdRule;
use nami_contract::limits::{REPLAY_WINDOW_SECONDS, TOLERANCE_SECONDS};
use nami_contract::scheme::{
    HMAC_ALGORITHMS, HMAC_ENCODINGS, SCHEME_NAMES, Scheme, standard_webhooks_key,
};
use nami_contract::secret_arn::SecretStore;
use tf_provider::schema::{AttributeConstraint::*, AttributeType::String as Text, Block};

use crate::check::{Checker, at};
use crate::model::{PipelineState, SignatureBlock, block, default};
use crate::schema::{attribute, block as schema_block, number, sensitive};

/// The `signature` block's schema.
pub fn schema() -> Block {
    schema_block(
        "How the pre-queue function verifies senders. Fail closed: a request whose signature does not verify gets a 401 \
         and is not enqueued.",
        vec![
            (
                "scheme",
                attribute(
                    Text,
                    Required,
                    "`github`, `stripe`, `slack`, `shopify`, `standard-webhooks`, `hmac` or `none` (no verification; \
                     must be chosen explicitly).",
                ),
            ),
            (
                "secret",
                sensitive(attribute(
                    Text,
                    Optional,
                    "The signing secret. Exactly one of `secret` and `secret_arn` for every scheme but `none`. The provider keeps a secret given here in a Secrets Manager secret of the pipeline's (`signing_secret_arn`), never in the function's environment; it is still in the Terraform state as a sensitive value (tf-provider has no write-only attributes), so `secret_arn` is the better choice.",
                )),
            ),
            (
                "secret_arn",
                attribute(
                    Text,
                    Optional,
                    "ARN of a Secrets Manager secret or SSM parameter holding the signing secret, read once at function start.",
                ),
            ),
            (
                "tolerance_seconds",
                number(
                    "How far a signed timestamp may be from now, either side, in seconds (stripe, slack, standard-webhooks)",
                    TOLERANCE_SECONDS,
                ),
            ),
            (
                "replay_window_seconds",
                attribute(
                    tf_provider::schema::AttributeType::Number,
                    Optional,
                    &format!(
                        "For schemes without a signed timestamp (github, shopify, hmac): refuse with 409, for this many seconds, \
                         a signed body already accepted under another delivery id — a captured request replayed with a fresh \
                         delivery id is not stored as a new verified event, while the sender's own retries (the same delivery \
                         id) still go through. {}. The pipeline then keeps a DynamoDB table (`replay_table_arn`) and the \
                         pre-queue function writes it once per request; a sender that sends the very same body twice under \
                         two delivery ids within the window gets 409 the second time. Unset: off.",
                        REPLAY_WINDOW_SECONDS.describe()
                    ),
                ),
            ),
            (
                "delivery_id",
                attribute(
                    Text,
                    Optional,
                    "Where the delivery id (the stored `_id`) comes from: `header:<name>` or `json:<pointer>`. Default: the \
                     scheme's own (GitHub `X-GitHub-Delivery`, Shopify `X-Shopify-Webhook-Id`, Standard Webhooks `webhook-id`, \
                     Stripe `/id`), else the API Gateway request id.",
                ),
            ),
            (
                "header",
                attribute(
                    Text,
                    Optional,
                    "`hmac` scheme: the header carrying the signature.",
                ),
            ),
            (
                "algorithm",
                attribute(
                    Text,
                    Optional,
                    &format!(
                        "`hmac` scheme: `{}` (default) or `{}`.",
                        HMAC_ALGORITHMS[0], HMAC_ALGORITHMS[1]
                    ),
                ),
            ),
            (
                "encoding",
                attribute(
                    Text,
                    Optional,
                    &format!(
                        "`hmac` scheme: `{}` (default) or `{}`.",
                        HMAC_ENCODINGS[0], HMAC_ENCODINGS[1]
                    ),
                ),
            ),
            (
                "prefix",
                attribute(
                    Text,
                    Optional,
                    "`hmac` scheme: text before the signature, such as `sha256=`.",
                ),
            ),
        ],
    )
}

/// Fills the `signature` block's defaults.
pub fn fill_defaults(state: &mut PipelineState) {
    let signature = block(&mut state.signature);
    if timestamped(signature) {
        default(&mut signature.tolerance_seconds, TOLERANCE_SECONDS.default);
    }
}

/// Whether the block's scheme signs a timestamp (the tolerance applies only then).
fn timestamped(signature: &SignatureBlock) -> bool {
    signature
        .scheme
        .as_ref_option()
        .and_then(|name| Scheme::parse(name, |_| None).ok())
        .is_some_and(|scheme| scheme.uses_timestamp())
}

/// Checks what only the configuration can tell: a tolerance set for a scheme without timestamps.
pub fn validate_config(config: &PipelineState, check: &mut Checker<'_>) {
    let Some(signature) = config.signature.as_ref_option() else {
        return;
    };
    let known_scheme = signature.scheme.is_value();
    check.that(
        !(known_scheme && signature.tolerance_seconds.is_value() && !timestamped(signature)),
        at("signature", "tolerance_seconds"),
        "Tolerance without a timestamp",
        "signature.tolerance_seconds applies only to schemes that sign a timestamp (stripe, slack, standard-webhooks); remove it",
    );
    let replay_set = signature.replay_window_seconds.is_value();
    check.that(
        !(known_scheme
            && replay_set
            && (timestamped(signature) || signature.scheme.as_ref_option().map(String::as_str) == Some("none"))),
        at("signature", "replay_window_seconds"),
        "Replay window with this scheme",
        "signature.replay_window_seconds applies to schemes without a signed timestamp (github, shopify, hmac): stripe, slack and standard-webhooks refuse replays by tolerance_seconds, and none verifies nothing; remove it",
    );
}

/// Checks the `signature` block.
pub fn validate(state: &PipelineState, check: &mut Checker<'_>) {
    let Some(signature) = state.signature.as_ref_option() else {
        return;
    };
    let path = |attribute| at("signature", attribute);
    let Some(scheme) = signature.scheme.as_ref_option() else {
        return;
    };
    if !SCHEME_NAMES.contains(&scheme.as_str()) {
        check.fail(
            path("scheme"),
            "Unknown signature scheme",
            format!("{scheme:?}: use one of {}", SCHEME_NAMES.join(", ")),
        );
        return;
    }
    validate_secret(scheme, signature, check);
    validate_hmac(scheme, signature, check);
    check.limit(
        &signature.tolerance_seconds,
        TOLERANCE_SECONDS,
        path("tolerance_seconds"),
    );
    check.limit(
        &signature.replay_window_seconds,
        REPLAY_WINDOW_SECONDS,
        path("replay_window_seconds"),
    );
    if let Some(rule) = signature.delivery_id.as_ref_option() {
        check.that(
            DeliveryIdRule::parse(rule).is_some(),
            path("delivery_id"),
            "Invalid delivery id rule",
            format!("{rule:?}: use header:<name> or json:<pointer> (e.g. json:/id)"),
        );
    }
}

fn validate_secret(scheme: &str, signature: &SignatureBlock, check: &mut Checker<'_>) {
    let path = |attribute| at("signature", attribute);
    let (secret, arn) = (&signature.secret, &signature.secret_arn);
    if scheme == "none" {
        // Only a known value is refused: one unknown now may yet be null.
        check.that(
            !secret.is_value() && !arn.is_value(),
            path("secret"),
            "No secret with scheme none",
            "scheme none verifies nothing: remove secret / secret_arn",
        );
    } else if secret.is_null() && arn.is_null() {
        check.fail(
            path("secret"),
            "Secret required",
            format!("scheme {scheme} needs secret or secret_arn"),
        );
    } else if secret.is_value() && arn.is_value() {
        check.fail(
            path("secret_arn"),
            "Conflicting secrets",
            "set only one of secret and secret_arn",
        );
    }
    if let Some(arn) = arn.as_ref_option() {
        check.that(
            SecretStore::of_arn(arn).is_some(),
            path("secret_arn"),
            "Invalid secret ARN",
            format!(
                "{arn:?}: expected arn:aws:secretsmanager:…:secret:… or arn:aws:ssm:…:parameter/…"
            ),
        );
    }
    if let (Some(secret), "standard-webhooks") = (secret.as_ref_option(), scheme) {
        check.that(
            standard_webhooks_key(secret).is_ok(),
            path("secret"),
            "Invalid Standard Webhooks secret",
            "expected whsec_ followed by base64",
        );
    }
}

fn validate_hmac(scheme: &str, signature: &SignatureBlock, check: &mut Checker<'_>) {
    let path = |attribute| at("signature", attribute);
    if scheme != "hmac" {
        let hmac_only = [
            ("header", &signature.header),
            ("algorithm", &signature.algorithm),
            ("encoding", &signature.encoding),
            ("prefix", &signature.prefix),
        ];
        for (attribute, value) in hmac_only {
            // Only a known value is refused: one unknown now (a module's input) may yet be null.
            check.that(
                !value.is_value(),
                path(attribute),
                "Setting of scheme hmac",
                format!("{attribute} applies only to scheme hmac"),
            );
        }
        return;
    }
    check.that(
        !signature.header.is_null(),
        path("header"),
        "Header required",
        "scheme hmac needs the header that carries the signature",
    );
    let choices = [
        (
            "algorithm",
            &signature.algorithm,
            HMAC_ALGORITHMS,
            "Invalid algorithm",
        ),
        (
            "encoding",
            &signature.encoding,
            HMAC_ENCODINGS,
            "Invalid encoding",
        ),
    ];
    for (attribute, value, allowed, summary) in choices {
        if let Some(value) = value.as_ref_option() {
            check.that(
                allowed.contains(&value.as_str()),
                path(attribute),
                summary,
                format!("use {} or {}", allowed[0], allowed[1]),
            );
        }
    }
}
