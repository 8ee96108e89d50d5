//! Integration tests against the real local parts: moto (SQS, Secrets Manager, SSM) and
//! SecantusDB (MongoDB wire protocol). One binary, a module per area.

mod artifacts;
mod emulator;
mod policies;
mod post_queue;
mod pre_queue;
mod store_users;
mod support;
mod tls;
mod user_data;
