//! Cargo's `credentials.toml`: reading its plaintext tokens, and removing the imported ones.

use credd_protocol::Secret;
use toml_edit::{Item, Table, TableLike, Value};
use zeroize::Zeroizing;

use super::CRATES_IO;
use crate::toml_file::{FileError, RemovedComments, parse, remove_keeping_comments, shape};

/// Which table of `credentials.toml` a token sits in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum TokenKey {
    /// `[registry] token`: crates.io.
    CratesIo,
    /// `[registries.NAME] token`.
    Registry(String),
}

impl TokenKey {
    /// The registry's name, which becomes the credd entry's name.
    pub fn name(&self) -> &str {
        match self {
            Self::CratesIo => CRATES_IO,
            Self::Registry(name) => name,
        }
    }

    /// The table holding the token, as written in the file.
    pub fn table(&self) -> String {
        match self {
            Self::CratesIo => "[registry]".to_owned(),
            Self::Registry(name) => format!("[registries.{name}]"),
        }
    }
}

/// A token found in `credentials.toml`.
#[derive(Debug)]
pub struct FoundToken {
    /// Where it is.
    pub key: TokenKey,
    /// The token.
    pub token: Secret,
}

/// Why a credential in `credentials.toml` is not imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// An asymmetric token (`secret-key`), which credd does not handle.
    SecretKey,
    /// `token` is not a string.
    NotAString,
    /// `token` is the empty string.
    Empty,
}

/// A credential that is not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where it is.
    pub key: TokenKey,
    /// Why it is skipped.
    pub reason: SkipReason,
}

/// What `credentials.toml` holds.
#[derive(Debug, Default)]
pub struct Credentials {
    /// The tokens, in file order.
    pub tokens: Vec<FoundToken>,
    /// The credentials that cannot be imported.
    pub skipped: Vec<Skipped>,
}

/// Reads the tokens of a `credentials.toml`: `[registry] token` (crates.io) and every
/// `[registries.NAME] token`.
pub fn read_credentials(text: &str) -> Result<Credentials, FileError> {
    let doc = parse(text)?;
    let mut found = Credentials::default();
    let mut read = |key: TokenKey, table: &dyn TableLike| {
        if table.contains_key("secret-key") {
            found.skipped.push(Skipped {
                key: key.clone(),
                reason: SkipReason::SecretKey,
            });
        }
        let Some(item) = table.get("token") else {
            return;
        };
        let reason = match item.as_str() {
            Some("") => SkipReason::Empty,
            Some(token) => {
                found.tokens.push(FoundToken {
                    key,
                    token: Secret::new(token),
                });
                return;
            }
            None => SkipReason::NotAString,
        };
        found.skipped.push(Skipped { key, reason });
    };
    if let Some(registry) = doc.get("registry") {
        let table = registry
            .as_table_like()
            .ok_or_else(|| shape("`registry` is not a table"))?;
        read(TokenKey::CratesIo, table);
    }
    if let Some(registries) = doc.get("registries") {
        let registries = registries
            .as_table_like()
            .ok_or_else(|| shape("`registries` is not a table"))?;
        for (name, item) in registries.iter() {
            let table = item
                .as_table_like()
                .ok_or_else(|| shape(format!("`registries.{name}` is not a table")))?;
            read(TokenKey::Registry(name.to_owned()), table);
        }
    }
    Ok(found)
}

/// `credentials.toml` without the `token` keys of `keys`: a table left empty is removed too (the
/// comments above its header move to the next table), and everything else is kept as it was.
/// A file left with nothing but whitespace becomes empty.
pub fn remove_tokens(text: &str, keys: &[TokenKey]) -> Result<Zeroizing<String>, FileError> {
    remove_keeping_comments(text, |doc, comments| {
        for key in keys {
            match key {
                TokenKey::CratesIo => {
                    remove_token(doc.as_table_mut(), "registry", comments);
                }
                TokenKey::Registry(name) => {
                    let Some(registries) = doc.get_mut("registries") else {
                        continue;
                    };
                    let emptied = match registries {
                        Item::Table(table) => remove_token(table, name, comments),
                        Item::Value(Value::InlineTable(table)) => {
                            remove_token_inline(table, name);
                            table.is_empty()
                        }
                        _ => false,
                    };
                    if emptied {
                        comments.remove(doc.as_table_mut(), "registries");
                    }
                }
            }
        }
    })
}

/// Removes `parent[child].token`, then `parent[child]` when that left it empty. Returns whether
/// `parent` is left empty.
fn remove_token(parent: &mut Table, child: &str, comments: &mut RemovedComments) -> bool {
    let Some(table) = parent.get_mut(child).and_then(Item::as_table_like_mut) else {
        return false;
    };
    if table.remove("token").is_none() {
        return false;
    }
    if table.is_empty() {
        comments.remove(parent, child);
    }
    parent.is_empty()
}

/// The same as [`remove_token`] for `registries = { NAME = { token = "…" } }`.
fn remove_token_inline(parent: &mut toml_edit::InlineTable, child: &str) {
    let Some(table) = parent.get_mut(child).and_then(Value::as_inline_table_mut) else {
        return;
    };
    if table.remove("token").is_some() && table.is_empty() {
        parent.remove(child);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDENTIALS: &str = "\
# Cargo credentials: do not share
[registry]
token = \"cio-TOKEN-1\" # crates.io

# the company registry
[registries.corp]
# rotated monthly
token = \"corp-TOKEN-2\"
extra = \"keep me\"

[registries.noindex]
token = \"noidx-TOKEN-3\"

[registries.asym]
secret-key = \"k3.secret.KEY-4\"
secret-key-subject = \"me\"

[registries.odd]
token = 42
";

    #[test]
    fn import_reads_every_token_and_skips_the_rest() {
        let found = read_credentials(CREDENTIALS).unwrap();
        let tokens: Vec<(TokenKey, &str)> = found
            .tokens
            .iter()
            .map(|t| (t.key.clone(), t.token.expose()))
            .collect();
        assert_eq!(
            tokens,
            [
                (TokenKey::CratesIo, "cio-TOKEN-1"),
                (TokenKey::Registry("corp".into()), "corp-TOKEN-2"),
                (TokenKey::Registry("noindex".into()), "noidx-TOKEN-3"),
            ]
        );
        assert_eq!(
            found.skipped,
            [
                Skipped {
                    key: TokenKey::Registry("asym".into()),
                    reason: SkipReason::SecretKey
                },
                Skipped {
                    key: TokenKey::Registry("odd".into()),
                    reason: SkipReason::NotAString
                },
            ]
        );
        assert!(!format!("{found:?}").contains("TOKEN"));
    }

    #[test]
    fn import_dotted_and_inline_tables() {
        let text = "registry.token = \"a\"\nregistries = { x = { token = \"b\" }, y = { index = \"i\" } }\n";
        let found = read_credentials(text).unwrap();
        assert_eq!(found.tokens.len(), 2);
        let out =
            remove_tokens(text, &[TokenKey::CratesIo, TokenKey::Registry("x".into())]).unwrap();
        assert_eq!(out.as_str(), "registries = { y = { index = \"i\" } }\n");
    }

    #[test]
    fn removal_keeps_other_keys_tables_and_comments() {
        let out = remove_tokens(
            CREDENTIALS,
            &[TokenKey::CratesIo, TokenKey::Registry("corp".into())],
        )
        .unwrap();
        assert_eq!(
            out.as_str(),
            "\
# Cargo credentials: do not share

# the company registry
[registries.corp]
extra = \"keep me\"

[registries.noindex]
token = \"noidx-TOKEN-3\"

[registries.asym]
secret-key = \"k3.secret.KEY-4\"
secret-key-subject = \"me\"

[registries.odd]
token = 42
"
        );
        let found = read_credentials(&out).unwrap();
        assert_eq!(found.tokens.len(), 1);
        assert_eq!(found.tokens[0].token.expose(), "noidx-TOKEN-3");
    }

    #[test]
    fn removal_of_everything_leaves_an_empty_file() {
        let text = "[registry]\ntoken = \"a\"\n\n[registries.x]\ntoken = \"b\"\n";
        let out =
            remove_tokens(text, &[TokenKey::CratesIo, TokenKey::Registry("x".into())]).unwrap();
        assert_eq!(out.as_str(), "");
        let text = "# keep\n[registry]\ntoken = \"a\"\n";
        let out = remove_tokens(text, &[TokenKey::CratesIo]).unwrap();
        assert_eq!(out.as_str(), "# keep\n");
    }

    #[test]
    fn removal_of_a_missing_key_changes_nothing() {
        let text = "# c\n[registries.x]\nindex = \"i\"\n";
        let out =
            remove_tokens(text, &[TokenKey::Registry("x".into()), TokenKey::CratesIo]).unwrap();
        assert_eq!(out.as_str(), text);
    }
}
