//! Acceptance tests: the real Terraform CLI drives the provider against moto; every object is
//! checked through the AWS SDK. Run with `make testacc` (part of `make test`).

mod alarms;
mod dashboard;
mod every_attribute;
mod faults;
mod lifecycle;
mod logs;
mod modules;
mod mongodb_store;
mod ownership;
mod pipeline;
mod queued_data;
mod replay;
mod snapshots;
mod support;
