//! Nami's contract: the facts the provider, the two Lambda handlers and the local data plane
//! must agree on, written once.
//!
//! - [`vars`]: the environment variables the provider sets on the functions and they read;
//! - [`limits`]: defaults and allowed ranges shared by the handlers and the provider;
//! - [`naming`]: the AWS names of a pipeline's objects and the tag that marks them;
//! - [`scheme`], [`delivery_id`], [`secret_arn`]: how signature settings, delivery-id rules and
//!   secret ARNs are parsed (the provider validates at plan time with the very parsers the
//!   functions use at start);
//! - [`envelope`]: what is queued and stored (its JSON Schema is docs/envelope.schema.json);
//! - [`metrics`]: the functions' metrics and their Embedded Metric Format log lines.
//!
//! This crate does no I/O: it has no AWS, MongoDB or Lambda runtime dependency.

pub mod delivery_id;
pub mod envelope;
pub mod limits;
pub mod log_lines;
pub mod metrics;
pub mod naming;
pub mod replay;
pub mod scheme;
pub mod secret_arn;
pub mod service_metrics;
pub mod vars;
