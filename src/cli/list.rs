//! `credd list`: the stored credentials, without secrets.

use std::path::Path;

use super::{connect, date};
use anyhow::Result;
use credd::urlmatch::RegistryUrl;
use credd_protocol::{EntryInfo, Source};

/// Options of `credd list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the entries as a JSON array
    #[arg(long)]
    json: bool,
}

/// Prints one line per credential: name, URL, username, expiry, use, and when any entry has a
/// source, its kind and its token's minting and expiry times, and when any entry comes from a
/// team, each one's origin (under a header on stderr).
pub fn run(socket: &Path, args: Args) -> Result<()> {
    let entries = connect(socket)?.list_all()?;
    if args.json {
        println!("{}", serde_json::to_string(&entries)?);
        return Ok(());
    }
    let any_source = entries.iter().any(|e| e.source.is_some());
    let any_team = entries.iter().any(|e| origin(e).is_some());
    if entries.is_empty() {
        eprintln!("credd: no credentials stored; add one with 'credd add NAME --url URL'");
    } else {
        // The header goes to stderr: people see it, `credd list | cut -f1` does not.
        let sources = if any_source { SOURCE_COLUMNS } else { "" };
        let origin = if any_team { "\tORIGIN" } else { "" };
        eprintln!("NAME\tURL\tUSERNAME\tEXPIRES\tUSE{sources}{origin}");
    }
    for entry in &entries {
        let expires = entry
            .expires
            .map(date::format_date)
            .unwrap_or_else(|| "-".into());
        let username = entry.username.as_deref().unwrap_or("-");
        let role = role(entry, &entries);
        let sources = if any_source {
            source_columns(entry)
        } else {
            String::new()
        };
        let origin = match any_team {
            true => format!("\t{}", origin(entry).unwrap_or("local")),
            false => String::new(),
        };
        println!(
            "{}\t{}\t{username}\t{expires}\t{role}{sources}{origin}",
            entry.name, entry.url
        );
    }
    let unprotected = entries
        .iter()
        .filter(|e| role(e, &entries) == UNPROTECTED)
        .count();
    if unprotected > 0 {
        eprintln!(
            "credd: {unprotected} of these also serve publishing without a step-up; for a \
             registry you publish to, store a publish-scoped token with 'credd add NAME --url URL \
             --publish' and a read-only one without"
        );
    }
    Ok(())
}

/// The team an entry was read from; `None` for a local one.
fn origin(entry: &EntryInfo) -> Option<&str> {
    match &entry.source {
        Some(Source::Team { team, .. }) => Some(team),
        _ => None,
    }
}

/// The header of the columns a source entry fills.
const SOURCE_COLUMNS: &str = "\tSOURCE\tMINTED\tTOKEN EXPIRES";

/// The source columns of `entry`: its kind and its token's times, `-` where there is none.
fn source_columns(entry: &EntryInfo) -> String {
    let time = |t: Option<u64>| t.map_or_else(|| "-".into(), date::format_time);
    let kind = entry.source.as_ref().map_or("-", |s| s.kind());
    format!(
        "\t{kind}\t{}\t{}",
        time(entry.minted),
        time(entry.token_expires)
    )
}

/// What `list` says of an entry that serves both reads and publishing, without a step-up.
const UNPROTECTED: &str = "read+publish (no step-up)";

/// How an entry is used: `publish (step-up)`, `read` (a publish credential stands beside it), or
/// [`UNPROTECTED`].
fn role(entry: &EntryInfo, all: &[EntryInfo]) -> &'static str {
    if entry.publish {
        return "publish (step-up)";
    }
    let same = |other: &EntryInfo| {
        other.publish
            && other.username == entry.username
            && (other.url == entry.url
                || matches!(
                    (RegistryUrl::parse(&other.url), RegistryUrl::parse(&entry.url)),
                    (Ok(a), Ok(b)) if a == b
                ))
    };
    if all.iter().any(same) {
        "read"
    } else {
        UNPROTECTED
    }
}
