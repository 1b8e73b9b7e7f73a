//! `credd log`: the agent's recent lookups and who asked.

use std::path::Path;

use anyhow::Result;
use credd_protocol::{Front, LogRecord, LogResult, Operation, Process};

use super::connect;

/// Options of `credd log`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the records as one JSON array
    #[arg(long)]
    json: bool,
    /// At most this many records, the newest
    #[arg(long, default_value_t = 100)]
    limit: u32,
}

/// Prints one line per lookup, oldest first: `time  parents → caller [front] → entry operation:
/// outcome`, marked `?` when the caller is no known tool of its front.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    let log: LogResult = connect(socket)?.call(Operation::Log {
        limit: Some(args.limit),
    })?;
    if args.json {
        println!("{}", serde_json::to_string(&log.records)?);
        return Ok(());
    }
    if log.records.is_empty() {
        eprintln!("credd: no lookups since the agent started");
    }
    for record in &log.records {
        println!("{}", line(record));
    }
    Ok(())
}

/// One record as a line: `12:00:01 ? cargo (1234) ← bash (1200) → credd (1240) [cargo] → get
/// corp read: ok`.
fn line(record: &LogRecord) -> String {
    let mark = if record.known_tool { ' ' } else { '?' };
    let mut chain: Vec<String> = record.parents.iter().map(process).collect();
    chain.truncate(3);
    let parents = if chain.is_empty() {
        String::new()
    } else {
        format!("{} → ", chain.join(" ← "))
    };
    let front = record.front.map_or("none", Front::name);
    format!(
        "{} {mark} {parents}{} [{front}] → get {} {}: {}",
        super::date::format_time(record.time),
        process(&record.peer),
        record.entry.as_deref().unwrap_or("-"),
        record.operation,
        record.outcome
    )
}

/// `name (pid)`: the executable's file name.
fn process(process: &Process) -> String {
    let exe = process.exe.as_deref().unwrap_or("?");
    let name = exe.rsplit('/').next().unwrap_or(exe);
    format!("{name} ({})", process.pid)
}
