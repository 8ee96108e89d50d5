//! Nami's Lambda handlers.
//!
//! The pre-queue function verifies a webhook's signature, wraps it in an [`envelope::Envelope`]
//! and sends it to SQS before answering; the post-queue function writes batches of envelopes to
//! MongoDB and reports exactly the records it could not store, so SQS retries them and finally
//! moves them to the dead-letter queue. Together they keep Nami's promise: every webhook that got
//! a 2xx is stored or in the DLQ.
//!
//! The decisions are pure ([`pre_queue::PreQueue::admit`], [`post_queue::PostQueue::process`],
//! [`signature::Verifier`]); AWS and MongoDB sit behind thin adapters ([`sqs`], [`mongo`],
//! [`secrets`]).

pub mod aws;
pub mod config;
pub mod hooks;
pub mod init;
pub mod logging;
pub mod mongo;
pub mod post_queue;
pub mod pre_queue;
pub mod replay;
pub mod secrets;
pub mod signature;
pub mod sqs;

/// The contract's delivery-id rules and envelope, where the handlers have always had them.
pub use nami_contract::{delivery_id, envelope};
