//! JSON errors without their values: serde's messages can quote what they read, which in credd's
//! files may be a secret.

/// Describes a JSON error by kind and position only: serde's messages can quote values, which
/// here are secrets.
pub(crate) fn describe(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match error.classify() {
        Category::Io => "a write failed",
        Category::Syntax => "invalid JSON",
        Category::Eof => "the JSON ends early",
        Category::Data => "a field is missing or has the wrong type",
    };
    format!("{what} at line {}, column {}", error.line(), error.column())
}
