//! Acceptance-test helpers: the harness's Terraform runner and AWS checks, and policy decoding.

pub(crate) use nami_harness::aws::{leftovers, sdk};
pub(crate) use nami_harness::terraform::Terraform;

/// Decodes an IAM policy document (IAM returns them URL-encoded).
pub(crate) fn decode_policy(document: &str) -> serde_json::Value {
    let bytes = document.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(
                std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                16,
            ) {
                decoded.push(byte);
                i += 3;
                continue;
            }
        }
        decoded.push(bytes[i]);
        i += 1;
    }
    serde_json::from_slice(&decoded)
        .unwrap_or_else(|_| serde_json::from_str(document).expect("a policy document"))
}
