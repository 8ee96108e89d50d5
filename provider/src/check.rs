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

impl<'d> Checker<'d> {
    /// A checker reporting into `diags`.
    pub fn new(diags: &'d mut Diagnostics) -> Self {
        Checker { diags }
    }

    /// Reports an error at `path`.
    pub fn fail(&mut self, path: AttributePath, summary: &'static str, detail: impl Into<String>) {
        self.diags.error(summary, detail.into(), path);
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
