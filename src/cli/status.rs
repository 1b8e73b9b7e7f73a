//! `credd status`: locked or unlocked, when the agent locks itself, and the OS keychain.

use std::path::Path;

use anyhow::Result;
use credd::store::keychain;
use credd_protocol::{
    EntryInfo, KeychainKind, KeychainState, KeychainStatus, LockState, Operation, StatusResult,
    StoreKind, TeamStatus,
};

use super::{connect, date};

/// Options of `credd status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the agent's answer as JSON
    #[arg(long)]
    json: bool,
}

/// Prints the status; it does not count as use, so it never delays the idle lock.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    let status: StatusResult = connect(socket)?.call(Operation::Status)?;
    if args.json {
        println!("{}", serde_json::to_string(&status)?);
        return Ok(());
    }
    let keyring = status.store == Some(StoreKind::Keyring);
    println!("agent: pid {} on {}", status.pid, socket.display());
    println!(
        "store: {}",
        match status.store {
            Some(StoreKind::Keyring) => "keyring (secrets in the OS keychain)",
            Some(StoreKind::Memory) => "memory ('credd ci': nothing on disk)",
            _ => "vault",
        }
    );
    match status.state {
        LockState::Unlocked => println!(
            "state: unlocked, {}; locks after {} idle, at most in {}",
            count(status.entries.unwrap_or(0), "entry", "entries"),
            duration(status.idle_lock_in),
            duration(status.max_lock_in),
        ),
        _ if !status.vault && keyring => {
            println!("state: locked; no keyring store yet: run 'credd init --store keyring'")
        }
        _ if !status.vault => println!("state: locked; no vault yet: run 'credd init'"),
        _ => println!("state: locked; run 'credd unlock'"),
    }
    if let Some(kind) = status.remembered {
        println!(
            "unlock: the vault key is remembered in {}; 'credd forget' removes it",
            keychain::name(kind)
        );
    }
    if let Some(keychain) = &status.keychain {
        println!("keychain: {}", describe(keychain, keyring, status.vault));
    }
    if let Some(n) = status.unprotected.filter(|&n| n > 0) {
        println!(
            "publish: {} also serve publishing without a step-up: see 'credd list', and keep \
             publish tokens apart with 'credd add NAME --url URL --publish'",
            count(n, "entry", "entries")
        );
    }
    if let Some(grace) = status.step_up_grace {
        println!(
            "step-up: one passphrase step-up allows publishing from the same terminal for {} \
             (step-up-grace in config.toml)",
            duration(Some(grace))
        );
    }
    if status.state == LockState::Unlocked {
        print_sources(&connect(socket)?.list_all()?);
    }
    for team in &status.teams {
        print_team(team);
    }
    if let Some(n) = status.unknown_callers.filter(|&n| n > 0) {
        println!(
            "lookups: {} came from programs that are not a known tool of their front (a build \
             script?): see 'credd log'",
            n
        );
    }
    Ok(())
}

/// One line per source entry: its kind, and its token's times or why the last mint failed.
fn print_sources(entries: &[EntryInfo]) {
    for entry in entries {
        let Some(source) = &entry.source else {
            continue;
        };
        let token = match (entry.minted, entry.token_expires) {
            (Some(minted), Some(expires)) => format!(
                "token minted {}, expires {}",
                date::format_time(minted),
                date::format_time(expires)
            ),
            _ => "no token minted yet".into(),
        };
        let error = entry
            .source_error
            .as_ref()
            .map_or(String::new(), |e| format!("; last mint failed: {e}"));
        println!("source: {} ({}): {token}{error}", entry.name, source.kind());
    }
}

/// One line about the OS keychain: whether it answers and, when not, what that means for the
/// store in use (`keyring`), or for the one to create when there is none (`!store_exists`).
fn describe(status: &KeychainStatus, keyring: bool, store_exists: bool) -> String {
    let name = keychain::name(status.keychain);
    let mut line = match (status.state, &status.message) {
        (KeychainState::Available, _) => format!("{name} is available"),
        (_, Some(message)) => message.clone(),
        _ => format!("{name} has not been asked yet"),
    };
    let usable = status.state == KeychainState::Available;
    if !usable && !store_exists {
        line.push_str("; or use the vault store: 'credd init'");
    }
    if !usable && keyring && store_exists {
        line.push_str("; the keyring store cannot unlock until it is back");
    }
    if !usable && !keyring && status.session_keyring {
        line.push_str(&format!(
            "; 'credd unlock --remember' can keep the vault key in {} instead, for this login \
             session only (a reboot empties it)",
            keychain::name(KeychainKind::KernelKeyutils)
        ));
    }
    line
}

/// `n` with the noun in the number that fits it.
/// `n` and the noun in its number: `1 entry`, `2 entries`.
pub(super) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn duration(secs: Option<u64>) -> String {
    let secs = secs.unwrap_or(0);
    format!("{}h{:02}m{:02}s", secs / 3600, secs / 60 % 60, secs % 60)
}

/// One line for a team: its server, what it serves, and what is wrong with the fix.
fn print_team(team: &TeamStatus) {
    let fetched = team.fetched.map_or_else(
        || "never read".to_owned(),
        |t| format!("read {}", date::format_time(t)),
    );
    let token = team.token_expires.map_or_else(String::new, |t| {
        format!(", token valid until {}", date::format_time(t))
    });
    let state = team.error.as_deref().unwrap_or("ok");
    println!(
        "team {} ({}): {}, {fetched}{token}: {state}",
        team.name,
        team.address,
        count(team.entries, "entry", "entries")
    );
}
