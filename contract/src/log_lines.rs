//! The functions' structured log lines that tools read back: the pre-queue function logs one
//! JSON line per accepted webhook (`"outcome":"enqueued"` with its `delivery_id`), which `nami
//! reconcile` counts as accepted.

/// The `outcome` of a webhook the pre-queue function enqueued (and answered 2xx).
pub const ENQUEUED: &str = "enqueued";

/// The delivery id of an accepted webhook, if `line` is the pre-queue function's log line for
/// one (`{"level":"INFO","fields":{"delivery_id":…,"outcome":"enqueued",…},…}`).
pub fn accepted_delivery_id(line: &str) -> Option<String> {
    if !line.contains(ENQUEUED) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = &value["fields"];
    (fields["outcome"] == ENQUEUED)
        .then(|| fields["delivery_id"].as_str().map(str::to_owned))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_enqueued_lines_name_an_accepted_delivery() {
        let accepted = r#"{"timestamp":"2026-12-04T03:00:00Z","level":"INFO","fields":{"pipeline":"p","delivery_id":"d-1","outcome":"enqueued"}}"#;
        assert_eq!(accepted_delivery_id(accepted).as_deref(), Some("d-1"));
        let rejected = r#"{"level":"WARN","fields":{"pipeline":"p","outcome":"rejected","reason":"enqueued is not a reason"}}"#;
        assert_eq!(accepted_delivery_id(rejected), None);
        assert_eq!(accepted_delivery_id("START RequestId: x"), None);
        assert_eq!(accepted_delivery_id("enqueued but not JSON"), None);
    }
}
