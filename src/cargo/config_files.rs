//! Cargo's own files: `$CARGO_HOME/config.toml`, which `credd setup cargo` edits to make Cargo ask
//! credd, and `$CARGO_HOME/credentials.toml`, whose plaintext tokens `credd import cargo` moves into
//! credd.
//!
//! Everything here but [`cargo_home`], [`config_path`] and [`credentials_path`] is a pure function
//! from file text to file text, so that the editing is tested without touching a file. Edits go
//! through `toml_edit`, which keeps the file's comments, order and formatting.
//!
//! Tokens are wrapped into [`Secret`] as soon as they are read, and errors describe a broken file
//! by line and column only: a parser message could quote the text around the error, which may be a
//! token.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use credd_protocol::Secret;
use toml_edit::{Array, Decor, DocumentMut, Item, Table, TableLike, Value};
use zeroize::Zeroizing;

pub use crate::toml_file::FileError;
use crate::toml_file::{carry_comment, keep_comment, parse, shape};

/// The name Cargo runs credd by, as written in Cargo's config.
pub const PROVIDER: &str = "credd";
/// Cargo's built-in provider that reads `credentials.toml`.
pub const CARGO_TOKEN: &str = "cargo:token";
/// The name of the entry that holds the crates.io token.
pub const CRATES_IO: &str = "crates-io";
/// The index URL Cargo sends for crates.io.
pub const CRATES_IO_INDEX: &str = "sparse+https://index.crates.io/";

const GLOBAL_PROVIDERS: &str = "global-credential-providers";
const CREDENTIAL_PROVIDER: &str = "credential-provider";

// ---------------------------------------------------------------------------------------------
// Where the files are
// ---------------------------------------------------------------------------------------------

/// Cargo's home: `$CARGO_HOME`, else `~/.cargo`; `None` when neither variable is set.
pub fn cargo_home() -> Option<PathBuf> {
    let non_empty = |var| std::env::var_os(var).filter(|v| !v.is_empty());
    non_empty("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| non_empty("HOME").map(|home| PathBuf::from(home).join(".cargo")))
}

/// The config file Cargo reads in `home`: the legacy `config` when it exists (Cargo prefers it
/// over `config.toml`), else `config.toml` (which may not exist yet).
pub fn config_path(home: &Path) -> PathBuf {
    legacy_or_toml(home, "config")
}

/// The credentials file Cargo reads in `home`: the legacy `credentials` when it exists, else
/// `credentials.toml`.
pub fn credentials_path(home: &Path) -> PathBuf {
    legacy_or_toml(home, "credentials")
}

fn legacy_or_toml(home: &Path, stem: &str) -> PathBuf {
    let legacy = home.join(stem);
    if legacy.exists() {
        legacy
    } else {
        home.join(format!("{stem}.toml"))
    }
}

/// The path Cargo ignores because a legacy file without extension exists beside it, if any.
pub fn ignored_beside(path: &Path) -> Option<PathBuf> {
    if path.extension().is_some() {
        return None;
    }
    let shadowed = path.with_extension("toml");
    let same = match (
        std::fs::canonicalize(path),
        std::fs::canonicalize(&shadowed),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => true,
    };
    (!same).then_some(shadowed)
}

// ---------------------------------------------------------------------------------------------
// `credd setup cargo`
// ---------------------------------------------------------------------------------------------

/// The result of adding credd to a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The new text of the file (the old text, unchanged, when nothing had to change).
    pub text: String,
    /// Whether `text` differs from the old text.
    pub changed: bool,
}

impl Edit {
    fn unchanged(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            changed: false,
        }
    }

    fn changed(doc: &DocumentMut) -> Self {
        Self {
            text: doc.to_string(),
            changed: true,
        }
    }
}

/// The result of `credd setup cargo`: the edit, the provider list it leaves, and the registries
/// that will not ask credd because they name their own provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalSetup {
    /// The edit.
    pub edit: Edit,
    /// `[registry] global-credential-providers` after the edit.
    pub providers: Vec<String>,
    /// Registries (`crates-io` for `[registry]`) whose own `credential-provider` is not credd:
    /// Cargo asks only that provider for them.
    pub own_provider: Vec<String>,
}

/// Adds credd to `[registry] global-credential-providers`, last (Cargo asks later entries first),
/// keeping the other entries in order, dropping duplicates of credd and making sure `cargo:token`
/// is there (first, when it has to be added). Text that already says so is returned unchanged.
pub fn add_global_provider(text: &str) -> Result<GlobalSetup, FileError> {
    let mut doc = parse(text)?;
    let own_provider = registries_with_own_provider(&doc);
    let registry = doc
        .entry("registry")
        .or_insert_with(toml_edit::table)
        .as_table_like_mut()
        .ok_or_else(|| shape("`registry` is not a table"))?;
    let not_a_list = || {
        shape(format!(
            "`registry.{GLOBAL_PROVIDERS}` is not a list of strings"
        ))
    };
    let edit = match registry.get_mut(GLOBAL_PROVIDERS) {
        None => {
            let mut list = Array::new();
            list.push(CARGO_TOKEN);
            list.push(PROVIDER);
            registry.insert(GLOBAL_PROVIDERS, toml_edit::value(list));
            None
        }
        Some(item) => {
            let list = item.as_array_mut().ok_or_else(not_a_list)?;
            let current = strings(list).ok_or_else(not_a_list)?;
            if current == wanted_providers(&current) {
                Some(Edit::unchanged(text))
            } else {
                add_to_list(list);
                None
            }
        }
    };
    let edit = edit.unwrap_or_else(|| Edit::changed(&doc));
    let providers = doc
        .get("registry")
        .and_then(|r| r.get(GLOBAL_PROVIDERS))
        .and_then(Item::as_array)
        .and_then(strings)
        .unwrap_or_default()
        .into_iter()
        .map(str::to_owned)
        .collect();
    Ok(GlobalSetup {
        edit,
        providers,
        own_provider,
    })
}

/// The strings of `list`, or `None` when an element is not a string.
fn strings(list: &Array) -> Option<Vec<&str>> {
    list.iter().map(Value::as_str).collect()
}

/// The provider list `current` should become.
fn wanted_providers<'a>(current: &[&'a str]) -> Vec<&'a str> {
    let mut wanted: Vec<&str> = current.iter().copied().filter(|p| *p != PROVIDER).collect();
    if !wanted.contains(&CARGO_TOKEN) {
        wanted.insert(0, CARGO_TOKEN);
    }
    wanted.push(PROVIDER);
    wanted
}

/// Edits `list` in place into [`wanted_providers`], keeping the other elements' formatting and
/// comments. A one-line list is normalized to `["a", "b"]`; new elements of a multi-line list get
/// their own lines, indented like their neighbours.
fn add_to_list(list: &mut Array) {
    let multiline = list
        .iter()
        .any(|v| (text(v.decor().prefix()).to_owned() + text(v.decor().suffix())).contains('\n'))
        || text(Some(list.trailing())).contains('\n');
    let indent = |value: Option<&Value>| {
        // The element's own line indentation, without any comment above it.
        let line = text(value.and_then(|v| v.decor().prefix()))
            .rsplit('\n')
            .next()
            .unwrap_or("");
        let spaces: String = line.chars().take_while(|c| c.is_whitespace()).collect();
        format!("\n{spaces}")
    };
    let first_indent = indent(list.get(0));
    let last_indent = indent(list.iter().last());
    // Without a trailing comma, the last element's suffix holds the line break before `]`.
    let closing = list
        .iter()
        .last()
        .map(|v| text(v.decor().suffix()))
        .and_then(|s| s.rfind('\n').map(|i| s[i..].to_owned()))
        .unwrap_or_default();
    list.retain(|v| v.as_str() != Some(PROVIDER));
    if !list.iter().any(|v| v.as_str() == Some(CARGO_TOKEN)) {
        let mut token = Value::from(CARGO_TOKEN);
        if multiline {
            *token.decor_mut() = Decor::new(first_indent, "");
        }
        list.insert_formatted(0, token);
    }
    let mut credd = Value::from(PROVIDER);
    if multiline {
        // The comma goes right after the old last element; a comment after it stays on its line.
        let mut prefix = last_indent;
        if let Some(last) = list.iter_mut().last() {
            let suffix = text(last.decor().suffix()).to_owned();
            let comment = suffix.rfind('\n').map_or(&suffix[..], |i| &suffix[..i]);
            if comment.contains('#') {
                prefix = format!("{comment}{prefix}");
            }
            last.decor_mut().set_suffix("");
        }
        let suffix = if list.trailing_comma() { "" } else { &closing };
        *credd.decor_mut() = Decor::new(prefix, suffix);
    }
    list.push_formatted(credd);
    if !multiline {
        list.fmt();
    }
}

/// The text of a parsed or set decor part; empty when absent.
fn text(raw: Option<&toml_edit::RawString>) -> &str {
    raw.and_then(|r| r.as_str()).unwrap_or("")
}

/// Registries whose own `credential-provider` is set and is not credd (`crates-io` for the one
/// in `[registry]`).
fn registries_with_own_provider(doc: &DocumentMut) -> Vec<String> {
    let mut found = Vec::new();
    let others =
        |table: &dyn TableLike| table.get(CREDENTIAL_PROVIDER).is_some_and(|p| !is_credd(p));
    if doc
        .get("registry")
        .and_then(Item::as_table_like)
        .is_some_and(others)
    {
        found.push(CRATES_IO.to_owned());
    }
    if let Some(registries) = doc.get("registries").and_then(Item::as_table_like) {
        for (name, item) in registries.iter() {
            if item.as_table_like().is_some_and(others) {
                found.push(name.to_owned());
            }
        }
    }
    found
}

/// True when a `credential-provider` value names credd alone.
fn is_credd(item: &Item) -> bool {
    match item.as_value() {
        Some(Value::String(s)) => s.value() == PROVIDER,
        Some(Value::Array(a)) => strings(a).is_some_and(|s| s == [PROVIDER]),
        _ => false,
    }
}

/// True when `name` can name a Cargo registry: ASCII letters, digits, `-` and `_`.
pub fn valid_registry_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The result of `credd setup cargo --registry NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySetup {
    /// The edit.
    pub edit: Edit,
    /// Where the setting lives: `[registries.NAME]`, or `[registry]` for crates.io.
    pub table: String,
    /// Whether the file gives the registry an `index` (always true for crates.io).
    pub has_index: bool,
}

/// Sets `credential-provider = "credd"` for one registry: in `[registries.NAME]`, or in
/// `[registry]` for `crates-io`. The rest of the table is left as it is; a provider credd
/// replaces keeps its place and comments.
pub fn set_registry_provider(text: &str, name: &str) -> Result<RegistrySetup, FileError> {
    if !valid_registry_name(name) {
        return Err(shape(format!(
            "{name:?} is not a registry name (letters, digits, '-' and '_' only)"
        )));
    }
    let mut doc = parse(text)?;
    let (table, path) = if name == CRATES_IO {
        let table = doc
            .entry("registry")
            .or_insert_with(toml_edit::table)
            .as_table_like_mut()
            .ok_or_else(|| shape("`registry` is not a table"))?;
        (table, "[registry]".to_owned())
    } else {
        let registries = doc
            .entry("registries")
            .or_insert_with(|| {
                let mut table = Table::new();
                table.set_implicit(true);
                Item::Table(table)
            })
            .as_table_like_mut()
            .ok_or_else(|| shape("`registries` is not a table"))?;
        let table = registries
            .entry(name)
            .or_insert_with(toml_edit::table)
            .as_table_like_mut()
            .ok_or_else(|| shape(format!("`registries.{name}` is not a table")))?;
        (table, format!("[registries.{name}]"))
    };
    let has_index = name == CRATES_IO || table.contains_key("index");
    let already = table.get(CREDENTIAL_PROVIDER).is_some_and(is_credd);
    if !already {
        match table
            .get_mut(CREDENTIAL_PROVIDER)
            .and_then(Item::as_value_mut)
        {
            Some(value) => {
                let decor = value.decor().clone();
                *value = Value::from(PROVIDER);
                *value.decor_mut() = decor;
            }
            None => {
                table.insert(CREDENTIAL_PROVIDER, toml_edit::value(PROVIDER));
            }
        }
    }
    let edit = if already {
        Edit::unchanged(text)
    } else {
        Edit::changed(&doc)
    };
    Ok(RegistrySetup {
        edit,
        table: path,
        has_index,
    })
}

/// True when the config makes Cargo ask credd: credd is in the global provider list, or is the
/// provider of at least one registry.
pub fn uses_credd(config: &str) -> Result<bool, FileError> {
    let doc = parse(config)?;
    let global = doc
        .get("registry")
        .and_then(|r| r.get(GLOBAL_PROVIDERS))
        .and_then(Item::as_array)
        .is_some_and(|list| list.iter().any(|v| v.as_str() == Some(PROVIDER)));
    let own = |t: &dyn TableLike| t.get(CREDENTIAL_PROVIDER).is_some_and(is_credd);
    let crates_io = doc
        .get("registry")
        .and_then(Item::as_table_like)
        .is_some_and(own);
    let registry = doc
        .get("registries")
        .and_then(Item::as_table_like)
        .is_some_and(|r| {
            r.iter()
                .any(|(_, item)| item.as_table_like().is_some_and(own))
        });
    Ok(global || crates_io || registry)
}

// ---------------------------------------------------------------------------------------------
// `credd import cargo`
// ---------------------------------------------------------------------------------------------

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

/// The `index` of every `[registries.NAME]` in a Cargo config file, by name.
pub fn registry_indexes(config: &str) -> Result<BTreeMap<String, String>, FileError> {
    let doc = parse(config)?;
    let mut indexes = BTreeMap::new();
    if let Some(registries) = doc.get("registries").and_then(Item::as_table_like) {
        for (name, item) in registries.iter() {
            if let Some(index) = item.get("index").and_then(Item::as_str) {
                indexes.insert(name.to_owned(), index.to_owned());
            }
        }
    }
    Ok(indexes)
}

/// The environment variable that gives registry `name`'s index:
/// `CARGO_REGISTRIES_<NAME>_INDEX`, upper case, `-` as `_`.
pub fn index_env_var(name: &str) -> String {
    format!(
        "CARGO_REGISTRIES_{}_INDEX",
        name.to_ascii_uppercase().replace('-', "_")
    )
}

/// The index URL a token serves: crates.io's for `[registry]`; for `[registries.NAME]` the
/// environment variable (which Cargo prefers), else the config file's `index`.
pub fn index_for(
    key: &TokenKey,
    config_indexes: &BTreeMap<String, String>,
    env: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    match key {
        TokenKey::CratesIo => Some(CRATES_IO_INDEX.to_owned()),
        TokenKey::Registry(name) => env(&index_env_var(name))
            .filter(|v| !v.trim().is_empty())
            .or_else(|| config_indexes.get(name).cloned()),
    }
}

/// `credentials.toml` without the `token` keys of `keys`: a table left empty is removed too (the
/// comments above its header move to the next table), and everything else is kept as it was.
/// A file left with nothing but whitespace becomes empty.
pub fn remove_tokens(text: &str, keys: &[TokenKey]) -> Result<Zeroizing<String>, FileError> {
    let mut doc = parse(text)?;
    let mut comments = Vec::new();
    for key in keys {
        match key {
            TokenKey::CratesIo => {
                remove_token(doc.as_table_mut(), "registry", &mut comments);
            }
            TokenKey::Registry(name) => {
                let Some(registries) = doc.get_mut("registries") else {
                    continue;
                };
                let emptied = match registries {
                    Item::Table(table) => remove_token(table, name, &mut comments),
                    Item::Value(Value::InlineTable(table)) => {
                        remove_token_inline(table, name);
                        table.is_empty()
                    }
                    _ => false,
                };
                if emptied {
                    remove_child(doc.as_table_mut(), "registries", &mut comments);
                }
            }
        }
    }
    // Last first, so that comments carried to the same place keep their order.
    comments.sort_by_key(|(position, _)| std::cmp::Reverse(*position));
    for (position, comment) in comments {
        carry_comment(&mut doc, position, &comment);
    }
    let mut out = Zeroizing::new(doc.to_string());
    if out.trim().is_empty() {
        out.clear();
    } else if out.starts_with('\n') && !text.starts_with('\n') {
        // A removed first table leaves the blank line that separated it from the next one.
        let blank = out.len() - out.trim_start_matches('\n').len();
        out.drain(..blank);
    }
    Ok(out)
}

/// Removes `parent[child].token`, then `parent[child]` when that left it empty. Returns whether
/// `parent` is left empty.
fn remove_token(parent: &mut Table, child: &str, comments: &mut Vec<(isize, String)>) -> bool {
    let Some(item) = parent.get_mut(child) else {
        return false;
    };
    let Some(table) = item.as_table_like_mut() else {
        return false;
    };
    if table.remove("token").is_none() {
        return false;
    }
    if table.is_empty() {
        remove_child(parent, child, comments);
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

/// Removes `parent[child]`, keeping the comments above its header (when it has one) for
/// [`carry_comment`].
fn remove_child(parent: &mut Table, child: &str, comments: &mut Vec<(isize, String)>) {
    if let Some(Item::Table(table)) = parent.remove(child) {
        keep_comment(&table, comments);
    }
}

// ---------------------------------------------------------------------------------------------
// Showing a change
// ---------------------------------------------------------------------------------------------

/// A unified diff of `before` and `after` (three lines of context), headed by `label`; empty when
/// they are equal.
pub fn unified_diff(label: &str, before: &str, after: &str) -> String {
    let old: Vec<&str> = before.lines().collect();
    let new: Vec<&str> = after.lines().collect();
    let ops = diff_lines(&old, &new);
    if ops.iter().all(|op| matches!(op, Op::Same(..))) {
        return String::new();
    }
    const CONTEXT: usize = 3;
    let mut out = format!("--- {label}\n+++ {label}\n");
    let changed: Vec<usize> = (0..ops.len())
        .filter(|&i| !matches!(ops[i], Op::Same(..)))
        .collect();
    // Group changes whose contexts touch into hunks of op indices.
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    for &i in &changed {
        let start = i.saturating_sub(CONTEXT);
        let end = (i + CONTEXT + 1).min(ops.len());
        match hunks.last_mut() {
            Some(last) if start <= last.1 => last.1 = end,
            _ => hunks.push((start, end)),
        }
    }
    for (start, end) in hunks {
        let (mut old_start, mut new_start) = position_at(&ops, start);
        let old_len = ops[start..end]
            .iter()
            .filter(|op| !matches!(op, Op::Add(_)))
            .count();
        let new_len = ops[start..end]
            .iter()
            .filter(|op| !matches!(op, Op::Del(_)))
            .count();
        // Unified diffs number from 1, and an empty range names the line before it.
        if old_len > 0 {
            old_start += 1;
        }
        if new_len > 0 {
            new_start += 1;
        }
        out.push_str(&format!(
            "@@ -{old_start},{old_len} +{new_start},{new_len} @@\n"
        ));
        for op in &ops[start..end] {
            let line = match *op {
                Op::Same(i) => format!(" {}", old[i]),
                Op::Del(i) => format!("-{}", old[i]),
                Op::Add(j) => format!("+{}", new[j]),
            };
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Same(usize),
    Del(usize),
    Add(usize),
}

/// The 0-based old and new line numbers at which op `at` starts.
fn position_at(ops: &[Op], at: usize) -> (usize, usize) {
    ops[..at].iter().fold((0, 0), |(o, n), op| match op {
        Op::Same(..) => (o + 1, n + 1),
        Op::Del(_) => (o + 1, n),
        Op::Add(_) => (o, n + 1),
    })
}

/// A shortest edit script by longest common subsequence (config files are small).
fn diff_lines(old: &[&str], new: &[&str]) -> Vec<Op> {
    let (n, m) = (old.len(), new.len());
    // lcs[i][j]: length of the LCS of old[i..] and new[j..].
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut ops = Vec::with_capacity(n + m);
    while i < n || j < m {
        if i < n && j < m && old[i] == new[j] {
            ops.push(Op::Same(i));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(Op::Del(i));
            i += 1;
        } else {
            ops.push(Op::Add(j));
            j += 1;
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(text: &str) -> GlobalSetup {
        add_global_provider(text).unwrap()
    }

    #[test]
    fn setup_on_an_empty_file_adds_the_list() {
        let setup = global("");
        assert!(setup.edit.changed);
        assert_eq!(
            setup.edit.text,
            "[registry]\nglobal-credential-providers = [\"cargo:token\", \"credd\"]\n"
        );
        assert_eq!(setup.providers, ["cargo:token", "credd"]);
        assert!(setup.own_provider.is_empty());
        let again = global(&setup.edit.text);
        assert!(!again.edit.changed);
        assert_eq!(again.edit.text, setup.edit.text);
    }

    #[test]
    fn setup_keeps_other_entries_in_order_and_puts_credd_last() {
        let text = "[registry]\nglobal-credential-providers = [\"cargo:token\", \"credd\", \"cargo:libsecret\"]\n";
        let setup = global(text);
        assert_eq!(
            setup.edit.text,
            "[registry]\nglobal-credential-providers = [\"cargo:token\", \"cargo:libsecret\", \"credd\"]\n"
        );
        let text =
            "[registry]\nglobal-credential-providers = [\"credd\", \"cargo:token\", \"credd\"]\n";
        assert_eq!(
            global(text).edit.text,
            "[registry]\nglobal-credential-providers = [\"cargo:token\", \"credd\"]\n"
        );
    }

    #[test]
    fn setup_adds_cargo_token_first_when_absent() {
        let text = "[registry]\nglobal-credential-providers = [\"cargo:libsecret\"]\n";
        let setup = global(text);
        assert_eq!(
            setup.edit.text,
            "[registry]\nglobal-credential-providers = [\"cargo:token\", \"cargo:libsecret\", \"credd\"]\n"
        );
        assert_eq!(setup.providers, ["cargo:token", "cargo:libsecret", "credd"]);
    }

    #[test]
    fn setup_already_done_changes_nothing_byte_for_byte() {
        let text = "# mine\n[registry]\nglobal-credential-providers = [ 'cargo:token',   \"credd\" ] # ok\n";
        let setup = global(text);
        assert!(!setup.edit.changed);
        assert_eq!(setup.edit.text, text);
    }

    #[test]
    fn setup_preserves_comments_and_formatting() {
        let text = "\
# Cargo config of the build box
[build]
jobs = 4 # four cores

# the registries
[registries.corp]
index = \"sparse+https://cargo.corp.test/index/\" # corp

[registry]
default = \"corp\"
# which providers
global-credential-providers = [
    # the built-in one
    \"cargo:token\",
    \"cargo:libsecret\",
] # end

[net]
retry = 3
";
        let setup = global(text);
        assert_eq!(
            setup.edit.text,
            "\
# Cargo config of the build box
[build]
jobs = 4 # four cores

# the registries
[registries.corp]
index = \"sparse+https://cargo.corp.test/index/\" # corp

[registry]
default = \"corp\"
# which providers
global-credential-providers = [
    # the built-in one
    \"cargo:token\",
    \"cargo:libsecret\",
    \"credd\",
] # end

[net]
retry = 3
"
        );
        assert!(!global(&setup.edit.text).edit.changed);
    }

    #[test]
    fn setup_gives_new_elements_of_a_multiline_list_their_own_lines() {
        let text = "[registry]\nglobal-credential-providers = [\n  \"cargo:libsecret\"  # x\n]\n";
        assert_eq!(
            global(text).edit.text,
            "[registry]\nglobal-credential-providers = [\n  \"cargo:token\",\n  \"cargo:libsecret\",  # x\n  \"credd\"\n]\n"
        );
        let text = "[registry]\nglobal-credential-providers = [\n    \"credd\",\n    \"cargo:token\",\n]\n";
        assert_eq!(
            global(text).edit.text,
            "[registry]\nglobal-credential-providers = [\n    \"cargo:token\",\n    \"credd\",\n]\n"
        );
    }

    #[test]
    fn setup_adds_the_registry_table_after_the_others() {
        let text = "# mine\n[net]\nretry = 3\n";
        assert_eq!(
            global(text).edit.text,
            "# mine\n[net]\nretry = 3\n\n[registry]\nglobal-credential-providers = [\"cargo:token\", \"credd\"]\n"
        );
        let text = "[registry]\ndefault = \"corp\"\n\n[net]\nretry = 3\n";
        assert_eq!(
            global(text).edit.text,
            "[registry]\ndefault = \"corp\"\nglobal-credential-providers = [\"cargo:token\", \"credd\"]\n\n[net]\nretry = 3\n"
        );
    }

    #[test]
    fn setup_names_registries_with_their_own_provider() {
        let text = "[registry]\ncredential-provider = \"cargo:libsecret\"\n[registries.a]\ncredential-provider = \"cargo:token\"\n[registries.b]\ncredential-provider = [\"credd\"]\n[registries.c]\nindex = \"x\"\n";
        assert_eq!(global(text).own_provider, ["crates-io", "a"]);
    }

    #[test]
    fn setup_refuses_a_list_that_is_not_one() {
        let err = add_global_provider("[registry]\nglobal-credential-providers = \"credd\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("not a list of strings"), "{err}");
        let err = add_global_provider("registry = 3\n").unwrap_err();
        assert!(err.to_string().contains("not a table"), "{err}");
    }

    #[test]
    fn syntax_errors_name_the_place_and_never_the_text() {
        let err = add_global_provider("[registry]\ntoken = \"hunter2\n").unwrap_err();
        assert!(
            matches!(err, FileError::Syntax { at: Some((2, _)) }),
            "{err:?}"
        );
        assert!(!err.to_string().contains("hunter2"));
        assert!(!format!("{err:?}").contains("hunter2"));
        let err = read_credentials("[registry]\ntoken = \"hunter2\"\nhunter3\n").unwrap_err();
        assert!(
            matches!(err, FileError::Syntax { at: Some((3, _)) }),
            "{err:?}"
        );
        assert!(!err.to_string().contains("hunter"));
        assert!(!format!("{err:?}").contains("hunter"));
    }

    #[test]
    fn setup_registry_adds_the_provider_and_keeps_the_table() {
        let text = "\
# corp
[registries.corp]
index = \"sparse+https://cargo.corp.test/index/\" # the index
# end of corp

[registries.other]
index = \"sparse+https://other.test/\"
";
        let setup = set_registry_provider(text, "corp").unwrap();
        assert!(setup.edit.changed);
        assert!(setup.has_index);
        assert_eq!(setup.table, "[registries.corp]");
        assert_eq!(
            setup.edit.text,
            "\
# corp
[registries.corp]
index = \"sparse+https://cargo.corp.test/index/\" # the index
credential-provider = \"credd\"
# end of corp

[registries.other]
index = \"sparse+https://other.test/\"
"
        );
        let again = set_registry_provider(&setup.edit.text, "corp").unwrap();
        assert!(!again.edit.changed);
        assert_eq!(again.edit.text, setup.edit.text);
    }

    #[test]
    fn setup_registry_replaces_another_provider_in_place() {
        let text =
            "[registries.corp]\ncredential-provider = \"cargo:token\" # was\nindex = \"x\"\n";
        let setup = set_registry_provider(text, "corp").unwrap();
        assert_eq!(
            setup.edit.text,
            "[registries.corp]\ncredential-provider = \"credd\" # was\nindex = \"x\"\n"
        );
    }

    #[test]
    fn setup_registry_without_index_says_so() {
        let setup = set_registry_provider("[net]\nretry = 3\n", "new-reg").unwrap();
        assert!(!setup.has_index);
        assert_eq!(
            setup.edit.text,
            "[net]\nretry = 3\n\n[registries.new-reg]\ncredential-provider = \"credd\"\n"
        );
    }

    #[test]
    fn setup_registry_crates_io_uses_the_registry_table() {
        let setup = set_registry_provider("", "crates-io").unwrap();
        assert!(setup.has_index);
        assert_eq!(setup.table, "[registry]");
        assert_eq!(
            setup.edit.text,
            "[registry]\ncredential-provider = \"credd\"\n"
        );
    }

    #[test]
    fn setup_registry_refuses_odd_names() {
        for name in ["", "a.b", "a b", "x\"]"] {
            assert!(set_registry_provider("", name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn uses_credd_sees_both_ways() {
        assert!(!uses_credd("").unwrap());
        assert!(uses_credd(&global("").edit.text).unwrap());
        let text = set_registry_provider("", "corp").unwrap().edit.text;
        assert!(uses_credd(&text).unwrap());
    }

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

    const CONFIG: &str = "\
[registries.corp]
index = \"sparse+https://cargo.corp.test/index/\"

[registries.asym]
index = \"sparse+https://asym.test/\"
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
    fn import_finds_indexes_in_env_then_config() {
        let indexes = registry_indexes(CONFIG).unwrap();
        let no_env = |_: &str| None;
        assert_eq!(
            index_for(&TokenKey::CratesIo, &indexes, no_env).as_deref(),
            Some(CRATES_IO_INDEX)
        );
        let corp = TokenKey::Registry("corp".into());
        assert_eq!(
            index_for(&corp, &indexes, no_env).as_deref(),
            Some("sparse+https://cargo.corp.test/index/")
        );
        let noindex = TokenKey::Registry("no-index".into());
        assert_eq!(index_for(&noindex, &indexes, no_env), None);
        let env =
            |var: &str| (var == "CARGO_REGISTRIES_NO_INDEX_INDEX").then(|| "https://n/".into());
        assert_eq!(
            index_for(&noindex, &indexes, env).as_deref(),
            Some("https://n/")
        );
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

    #[test]
    fn diff_shows_only_the_change_with_context() {
        assert_eq!(unified_diff("f", "a\n", "a\n"), "");
        let before = "1\n2\n3\n4\n5\n6\n7\n8\n";
        let after = "1\n2\n3\n4\n5\nsix\n7\n8\n";
        assert_eq!(
            unified_diff("f", before, after),
            "--- f\n+++ f\n@@ -3,6 +3,6 @@\n 3\n 4\n 5\n-6\n+six\n 7\n 8\n"
        );
        assert_eq!(
            unified_diff("f", "", "x\ny\n"),
            "--- f\n+++ f\n@@ -0,0 +1,2 @@\n+x\n+y\n"
        );
    }
}
