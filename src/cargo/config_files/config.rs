//! Cargo's `config.toml`: the settings `credd setup cargo` writes there to make Cargo ask credd,
//! and the registries' index URLs `credd import cargo` reads from it.

use std::collections::BTreeMap;

use toml_edit::{Array, Decor, DocumentMut, Item, Table, TableLike, Value};

use super::{CARGO_TOKEN, CRATES_IO, CRATES_IO_INDEX, PROVIDER, TokenKey};
use crate::toml_file::{FileError, parse, shape};

const GLOBAL_PROVIDERS: &str = "global-credential-providers";
const CREDENTIAL_PROVIDER: &str = "credential-provider";

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

/// The provider list `current` should become: credd last, as the user wrote it when it is there
/// (`credd --socket PATH`), else plain `credd`.
fn wanted_providers<'a>(current: &[&'a str]) -> Vec<&'a str> {
    let (credd, mut wanted): (Vec<&str>, Vec<&str>) = current
        .iter()
        .partition(|p| runs_credd(p.split_whitespace()));
    if !wanted.contains(&CARGO_TOKEN) {
        wanted.insert(0, CARGO_TOKEN);
    }
    wanted.push(credd.last().copied().unwrap_or(PROVIDER));
    wanted
}

/// True when a provider's command line (its program, then its arguments) runs credd: the
/// program `credd`, by name or by path, with any arguments (`credd --socket PATH`).
fn runs_credd<'a>(mut words: impl Iterator<Item = &'a str>) -> bool {
    words
        .next()
        .and_then(|program| std::path::Path::new(program).file_name())
        .is_some_and(|name| name == PROVIDER)
}

/// True when the list element `value` is a provider that runs credd.
fn is_credd_element(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|p| runs_credd(p.split_whitespace()))
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
    let kept = list
        .iter()
        .filter(|v| is_credd_element(v))
        .last()
        .and_then(Value::as_str)
        .unwrap_or(PROVIDER)
        .to_owned();
    list.retain(|v| !is_credd_element(v));
    if !list.iter().any(|v| v.as_str() == Some(CARGO_TOKEN)) {
        let mut token = Value::from(CARGO_TOKEN);
        if multiline {
            *token.decor_mut() = Decor::new(first_indent, "");
        }
        list.insert_formatted(0, token);
    }
    let mut credd = Value::from(kept);
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

/// True when a `credential-provider` value runs credd: a command line (`"credd --socket
/// PATH"`) or its words as a list (`["credd", "--socket", PATH]`).
fn is_credd(item: &Item) -> bool {
    match item.as_value() {
        Some(Value::String(s)) => runs_credd(s.value().split_whitespace()),
        Some(Value::Array(a)) => strings(a).is_some_and(|s| runs_credd(s.into_iter())),
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
        .is_some_and(|list| list.iter().any(is_credd_element));
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

    /// credd configured with its own arguments (a socket) is credd: kept as written, moved last
    /// when it is not, never doubled; a registry's own such provider is left alone.
    #[test]
    fn credd_with_arguments_is_recognized_and_kept() {
        let last = "[registry]\nglobal-credential-providers = [\"cargo:token\", \"credd --socket /run/x.sock\"]\n";
        assert!(!global(last).edit.changed);
        assert!(uses_credd(last).unwrap());
        let first = "[registry]\nglobal-credential-providers = [\"/opt/bin/credd --socket /x\", \"cargo:token\"]\n";
        let setup = global(first);
        assert_eq!(
            setup.providers,
            ["cargo:token", "/opt/bin/credd --socket /x"]
        );
        let own = "[registries.corp]\nindex = \"sparse+https://c/\"\ncredential-provider = [\"credd\", \"--socket\", \"/x\"]\n";
        assert!(global(own).own_provider.is_empty());
        let registry = set_registry_provider(own, "corp").unwrap();
        assert!(!registry.edit.changed);
        assert_eq!(registry.edit.text, own);
        // Not credd: a program whose name only starts so.
        let other = "[registry]\nglobal-credential-providers = [\"credd-other\"]\n";
        assert!(!uses_credd(other).unwrap());
        assert_eq!(
            global(other).providers,
            ["cargo:token", "credd-other", "credd"]
        );
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

    const CONFIG: &str = "\
[registries.corp]
index = \"sparse+https://cargo.corp.test/index/\"

[registries.asym]
index = \"sparse+https://asym.test/\"
";

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
}
