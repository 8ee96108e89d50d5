//! Plan-time validation: each problem reported at its attribute, in one readable sentence.

use nami_contract::limits::Limit;
use tf_provider::{AttributePath, Diagnostics};

use crate::model::Num;

/// Collects validation errors into Terraform's diagnostics.
pub struct Checker<'d> {
    diags: &'d mut Diagnostics,
}

/// The path of `attribute` in `block`.
pub fn at(block: &str, attribute: &str) -> AttributePath {
    AttributePath::new(block.to_owned()).attribute(attribute.to_owned())
}

/// Whether `id` reads `<prefix>-` then 8 or 17 hexadecimal digits, as EC2's ids do.
pub fn is_aws_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hex| {
            matches!(hex.len(), 8 | 17) && hex.chars().all(|c| c.is_ascii_hexdigit())
        })
}

impl<'d> Checker<'d> {
    /// A checker reporting into `diags`.
    pub fn new(diags: &'d mut Diagnostics) -> Self {
        Checker { diags }
    }

    /// Reports an error at `path`.
    pub fn fail(&mut self, path: AttributePath, summary: &'static str, detail: impl Into<String>) {
        self.diags.error(summary, detail.into(), path);
    }

    /// Reports a warning at `path`: the plan goes on.
    pub fn warn(&mut self, path: AttributePath, summary: &'static str, detail: impl Into<String>) {
        self.diags.warning(summary, detail.into(), path);
    }

    /// Reports an error at `path` unless `ok`.
    pub fn that(
        &mut self,
        ok: bool,
        path: AttributePath,
        summary: &'static str,
        detail: impl Into<String>,
    ) {
        if !ok {
            self.fail(path, summary, detail);
        }
    }

    /// Reports a known AWS id that is not `<prefix>-<hex digits>` (`vpc-0a1b…`, `subnet-…`).
    pub fn aws_id(&mut self, value: Option<&String>, prefix: &str, path: AttributePath) {
        if let Some(id) = value {
            self.that(
                is_aws_id(id, prefix),
                path,
                "Invalid AWS id",
                format!("{id:?} is not a {prefix} id: expected {prefix}- and hexadecimal digits, like {prefix}-0a1b2c3d"),
            );
        }
    }

    /// Reports a known number outside `limit`.
    pub fn limit(&mut self, value: &Num, limit: Limit, path: AttributePath) {
        if let Some(&number) = value.as_ref_option() {
            self.that(
                limit.contains(number),
                path,
                "Value out of range",
                format!("{number} is outside {limit}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_ids_have_their_prefix_and_hex_digits() {
        assert!(is_aws_id("vpc-0a1b2c3d", "vpc"));
        assert!(is_aws_id("subnet-7c55e84cd044a9ac9", "subnet"));
        assert!(!is_aws_id("my-vpc", "vpc"));
        assert!(!is_aws_id("10.0.1.0/24", "subnet"));
        assert!(!is_aws_id("vpc-xyz12345", "vpc"));
        assert!(!is_aws_id("subnet-0a1b2c3d", "vpc"));
        assert!(!is_aws_id("vpc-0a1b2c3", "vpc"));
    }
}
