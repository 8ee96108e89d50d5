//! The published envelope schema must match the types.

#[test]
fn checked_in_envelope_schema_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/envelope.schema.json");
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == nami_contract::envelope::json_schema(),
        "docs/envelope.schema.json is stale or missing: run `make docs` and commit it"
    );
}
