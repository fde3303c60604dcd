//! Validation of SARIF logs against the official OASIS SARIF 2.1.0 JSON schema.
//!
//! The schema is vendored in `tests/fixtures/sarif-schema-2.1.0.json` (provenance in
//! `tests/fixtures/SARIF-SCHEMA.md`) and embedded at compile time, so validation never
//! touches the network: the schema only uses internal `#/definitions/...` references, its
//! draft-04 meta-schema ships inside the `jsonschema` crate, and that crate is built
//! without its HTTP/file resolvers (`default-features = false`).

use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::Value;

/// The OASIS SARIF 2.1.0 schema (Errata 01, JSON Schema draft-04), embedded verbatim.
const SARIF_SCHEMA: &str = include_str!("../fixtures/sarif-schema-2.1.0.json");

/// The compiled schema, built once per test binary.
fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: Value =
            serde_json::from_str(SARIF_SCHEMA).expect("embedded SARIF schema is valid JSON");
        // The draft (4) is taken from the schema's own `$schema`. Formats (`uri`,
        // `uri-reference`, `date-time`) are checked explicitly rather than relying on the
        // crate's per-draft default.
        jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("embedded SARIF schema compiles")
    })
}

/// Validates a SARIF log against the official 2.1.0 schema; Err lists every violation with its JSON path.
///
/// Each entry reads `<instance path>: <message> (schema: <keyword path>)`, where the instance
/// path is a JSON Pointer into `log` (`(root)` for the document itself), e.g.
/// `/runs/0/results/0/level: "fatal" is not one of [...] (schema: /definitions/result/properties/level/enum)`.
pub fn validate_sarif(log: &Value) -> Result<(), Vec<String>> {
    let violations: Vec<String> = validator()
        .iter_errors(log)
        .map(|error| {
            let path = error.instance_path().to_string();
            let path = if path.is_empty() {
                "(root)".to_string()
            } else {
                path
            };
            format!("{path}: {error} (schema: {})", error.schema_path())
        })
        .collect();
    if violations.is_empty() {
        Ok(())
    } else {
        Err(violations)
    }
}
