//! Medians, quantiles and spreads: every figure of `make bench` is the median of repeated
//! rounds, stated with the rounds' range.

use serde_json::{Value, json};

/// The `q`-quantile (0..=1) of `values` by nearest rank; 0 for none.
pub(crate) fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    // round(q × (n − 1)) is a valid index for q in 0..=1.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = ((sorted.len() as f64 - 1.0) * q.clamp(0.0, 1.0)).round() as usize;
    sorted[rank]
}

/// The median of `values`.
pub(crate) fn median(values: &[f64]) -> f64 {
    quantile(values, 0.5)
}

/// A figure over repeated rounds: its median, and the lowest and highest round.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Spread {
    /// The median round.
    pub(crate) median: f64,
    /// The lowest round.
    pub(crate) min: f64,
    /// The highest round.
    pub(crate) max: f64,
}

impl Spread {
    /// The spread of one value per round.
    pub(crate) fn of(rounds: &[f64]) -> Self {
        Spread {
            median: median(rounds),
            min: quantile(rounds, 0.0),
            max: quantile(rounds, 1.0),
        }
    }

    /// As JSON: `{median, min, max}`.
    pub(crate) fn json(&self) -> Value {
        json!({ "median": self.median, "min": self.min, "max": self.max })
    }

    /// Read back from [`Spread::json`].
    pub(crate) fn from_json(value: &Value) -> Self {
        let field = |name: &str| value[name].as_f64().unwrap_or(f64::NAN);
        Spread {
            median: field("median"),
            min: field("min"),
            max: field("max"),
        }
    }

    /// `median (min–max)` with `decimals` digits.
    pub(crate) fn show(&self, decimals: usize) -> String {
        format!(
            "{:.decimals$} ({:.decimals$}–{:.decimals$})",
            self.median, self.min, self.max
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let values = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(median(&values), 3.0);
        assert_eq!(quantile(&values, 0.0), 1.0);
        assert_eq!(quantile(&values, 1.0), 5.0);
        assert_eq!(quantile(&values, 0.99), 5.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    #[test]
    fn a_spread_names_median_and_range() {
        let spread = Spread::of(&[1.2, 0.9, 1.0]);
        assert_eq!(spread.show(1), "1.0 (0.9–1.2)");
        assert_eq!(Spread::from_json(&spread.json()), spread);
    }
}
