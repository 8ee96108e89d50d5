//! End-to-end tests of the local data plane: pipelines applied with the real Terraform CLI on
//! moto, webhooks sent over HTTP to `nami-local`'s ingress, the real `bootstrap` artifacts behind
//! its Lambda Runtime API, documents checked in SecantusDB and messages in the queues.

mod cli;
mod custom;
mod delivery;
mod durability;
mod failures;
mod fidelity;
mod operations;
mod replay;
mod runtime;
mod secrets;
mod support;
