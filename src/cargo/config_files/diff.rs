//! Showing a change to a file as a unified diff, made by `similar` (a diff is a solved problem,
//! and a hand-written one is code to keep for nothing).

/// A unified diff of `before` and `after`, headed by `label`; empty when they are equal. Only the
/// changed lines are shown, no context: the lines around a setting credd adds may hold the
/// user's secrets (an index URL's password beside pip's `[global]` options, a token in Cargo's
/// config), which `--dry-run` must not print.
pub fn unified_diff(label: &str, before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(0)
        .header(label, label)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_shows_only_the_change_with_context() {
        assert_eq!(unified_diff("f", "a\n", "a\n"), "");
        let before = "1\n2\n3\n4\n5\n6\n7\n8\n";
        let after = "1\n2\n3\n4\n5\nsix\n7\n8\n";
        assert_eq!(
            unified_diff("f", before, after),
            "--- f\n+++ f\n@@ -6 +6 @@\n-6\n+six\n"
        );
        assert_eq!(
            unified_diff("f", "", "x\ny\n"),
            "--- f\n+++ f\n@@ -0,0 +1,2 @@\n+x\n+y\n"
        );
        // A one-line range is written without its length, and a missing final newline is shown.
        assert_eq!(
            unified_diff("f", "a", "b\n"),
            "--- f\n+++ f\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+b\n"
        );
    }
}
