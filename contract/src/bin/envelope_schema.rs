//! Prints the envelope's JSON Schema (`make schema` writes it to docs/envelope.schema.json).

fn main() {
    print!("{}", nami_contract::envelope::json_schema());
}
