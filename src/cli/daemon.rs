//! `credd daemon`: run the agent in the foreground.

use std::path::Path;

use anyhow::{Context, Result};
use credd::agent::{AgentOptions, run as run_agent, systemd};
use credd::paths;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Runs the agent until it is stopped; logs go to journald when systemd connected stderr to the
/// journal, to stderr otherwise (nowhere when stderr is /dev/null), filtered by `CREDD_LOG`.
pub fn run(socket: &Path) -> Result<()> {
    init_logging();
    // SAFETY: no other thread runs yet; the runtime starts below.
    let ready = unsafe { credd::ready::take_from_env() };
    // A second handle on the pipe, to say why the agent failed when it could not start.
    let report = ready.as_ref().and_then(|pipe| pipe.try_clone().ok());
    // SAFETY: as above.
    let result = unsafe { systemd::take_listener() }
        .map_err(anyhow::Error::from)
        .and_then(|activated| serve(socket, activated, ready));
    if let (Err(error), Some(pipe)) = (&result, report) {
        credd::ready::report_failure(pipe, &format_args!("{error:#}"));
    }
    result
}

fn serve(
    socket: &Path,
    activated: Option<std::os::unix::net::UnixListener>,
    ready: Option<std::fs::File>,
) -> Result<()> {
    let vault =
        paths::vault_file().context("cannot find a data directory: set XDG_DATA_HOME or HOME")?;
    let options = AgentOptions {
        socket: socket.into(),
        vault,
        config: paths::config_file(),
        activated,
        ready,
        memory: false,
    };
    let runtime = credd::agent::runtime().context("cannot start the async runtime")?;
    let result = runtime.block_on(run_agent(options));
    // Secrets are wiped by now; a keychain or KDF call that never returns must not keep the
    // process alive (dropping the runtime would wait for its blocking threads forever).
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result?;
    Ok(())
}

fn init_logging() {
    // An agent a client started has its stderr on /dev/null: formatting and writing a line per
    // lookup there is work nobody can read (the audit records stay in memory for `credd log`).
    if credd::sys::stderr_is_dev_null() {
        return;
    }
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("CREDD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // At trace level the HTTP client dumps every request and answer byte for byte, tokens and
    // secrets included: whatever CREDD_LOG asks, it logs no more than its debug lines (which
    // redact credential headers).
    for quiet in ["ureq=debug", "ureq_proto=debug"] {
        filter = filter.add_directive(quiet.parse().expect("a valid directive"));
    }
    if let Some(journald) = journald_layer() {
        tracing_subscriber::registry()
            .with(filter)
            .with(journald)
            .init();
        return;
    }
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .fmt_fields(PlainFields)
        .with_writer(std::io::stderr)
        .init();
}

/// An event's fields as tracing-subscriber's default formatter writes them without colours:
/// the message first and bare, then `name=value` with each value by `Debug` (strings quoted and
/// escaped). It leaves out that formatter's styling calls, which it makes even with colours off
/// and which took a tenth of the agent's instructions for a lookup, whose audit line has ten
/// fields. Control characters in a message are escaped, so that no text can move a
/// terminal's cursor or start a fake log line.
struct PlainFields;

impl<'writer> tracing_subscriber::fmt::FormatFields<'writer> for PlainFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        writer: tracing_subscriber::fmt::format::Writer<'writer>,
        fields: R,
    ) -> std::fmt::Result {
        let mut visitor = PlainVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

/// Writes the fields [`PlainFields`] formats, keeping the first error.
struct PlainVisitor<'writer> {
    writer: tracing_subscriber::fmt::format::Writer<'writer>,
    first: bool,
    result: std::fmt::Result,
}

impl tracing::field::Visit for PlainVisitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        let separator = if std::mem::take(&mut self.first) {
            ""
        } else {
            " "
        };
        let name = field.name();
        self.result = match name {
            "message" => write!(self.writer, "{separator}{:?}", EscapedControls(value)),
            name => {
                let name = name.strip_prefix("r#").unwrap_or(name);
                write!(self.writer, "{separator}{name}={value:?}")
            }
        };
    }
}

/// `Debug` of the wrapped value with every control character escaped.
struct EscapedControls<'a>(&'a dyn std::fmt::Debug);

impl std::fmt::Debug for EscapedControls<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        /// Passes text through, escaping control characters.
        struct Escaping<'f, 'g>(&'f mut std::fmt::Formatter<'g>);
        impl std::fmt::Write for Escaping<'_, '_> {
            fn write_str(&mut self, text: &str) -> std::fmt::Result {
                for part in text.split_inclusive(char::is_control) {
                    match part.char_indices().last() {
                        Some((at, c)) if c.is_control() => {
                            self.0.write_str(&part[..at])?;
                            write!(self.0, "{}", c.escape_default())?;
                        }
                        _ => self.0.write_str(part)?,
                    }
                }
                Ok(())
            }
        }
        std::fmt::write(&mut Escaping(f), format_args!("{:?}", self.0))
    }
}

/// The journald layer, when stderr is the journal stream systemd set up: `JOURNAL_STREAM`
/// names its device and inode (a child that inherited the variable has another stderr).
fn journald_layer() -> Option<tracing_journald::Layer> {
    let stream = std::env::var("JOURNAL_STREAM").ok()?;
    let (device, inode) = stream.split_once(':')?;
    let (stderr_device, stderr_inode) = credd::sys::stderr_device_and_inode()?;
    if device.parse() != Ok(stderr_device) || inode.parse() != Ok(stderr_inode) {
        return None;
    }
    // Unreachable journald: stderr still leads to the journal, as plain text.
    let layer = tracing_journald::layer().ok()?;
    Some(layer.with_syslog_identifier("credd".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// What `log` writes through a formatter with `fields`, without time or colours.
    fn formatted<F>(fields: F, log: impl FnOnce()) -> String
    where
        F: for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static,
    {
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .fmt_fields(fields)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        String::from_utf8(out.lock().unwrap().clone()).unwrap()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn audit_like() {
        let exe = "/usr/bin/git \"quoted\"";
        tracing::info!(
            target: "credd::audit",
            pid = 42u32,
            uid = Some(1000u32),
            exe,
            known_tool = true,
            error = %"a display value",
            "lookup"
        );
    }

    #[test]
    fn plain_fields_write_what_the_default_fields_write_without_colours() {
        let plain = formatted(PlainFields, audit_like);
        let default = formatted(
            tracing_subscriber::fmt::format::DefaultFields::new(),
            audit_like,
        );
        assert_eq!(plain, default);
        assert!(
            plain.contains(r#"lookup pid=42 uid=1000 exe="/usr/bin/git \"quoted\"""#),
            "{plain}"
        );
    }

    #[test]
    fn control_characters_in_a_message_are_escaped() {
        let text = "red\u{1b}[31m\nfake line\u{9b}";
        let plain = formatted(PlainFields, || tracing::warn!("cannot read {text}"));
        assert!(
            plain.ends_with("cannot read red\\u{1b}[31m\\nfake line\\u{9b}\n"),
            "{plain}"
        );
    }
}
