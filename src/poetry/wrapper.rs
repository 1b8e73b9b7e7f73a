//! The `poetry` wrapper script and the Python keyring backend it makes Poetry load.

use std::path::Path;

/// The Python module with credd's keyring backend (`credd_keyring.CreddKeyring`).
pub const KEYRING_MODULE: &str = include_str!("../../integrations/python/credd_keyring.py");
/// The module's file name.
pub const MODULE_FILE: &str = "credd_keyring.py";
/// What `PYTHON_KEYRING_BACKEND` names.
pub const BACKEND: &str = "credd_keyring.CreddKeyring";
/// A line only the wrapper has: the wrapper skips files with it when it looks for the real
/// Poetry, and `credd setup poetry` overwrites only a file with it.
pub const MARKER: &str = "credd-poetry-wrapper";

/// The wrapper: a POSIX `sh` script that finds the real `poetry` further down PATH (or in
/// `CREDD_POETRY`), offers `credd unlock` when the agent is locked, and execs Poetry with the
/// backend selected. `credd` and `module_dir` are baked in.
pub fn script(credd: &Path, module_dir: &Path) -> String {
    TEMPLATE
        .replace("@CREDD@", &sh_quote(&credd.to_string_lossy()))
        .replace("@MODULE_DIR@", &sh_quote(&module_dir.to_string_lossy()))
        .replace("@BACKEND@", BACKEND)
        .replace("@MARKER@", MARKER)
}

/// True when `text` is a wrapper written by credd.
pub fn is_wrapper(text: &[u8]) -> bool {
    text.windows(MARKER.len()).any(|w| w == MARKER.as_bytes())
}

/// `value` as one word for `sh`, in single quotes.
pub fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

const TEMPLATE: &str = r#"#!/bin/sh
# @MARKER@: written by 'credd setup poetry'. Runs the real Poetry with credd's keyring backend,
# so that Poetry gets registry credentials from the credd agent. No secret passes through here.
credd=@CREDD@
module_dir=@MODULE_DIR@
[ -x "$credd" ] || credd=credd

# The real poetry: CREDD_POETRY, else the first poetry on PATH that is not a credd wrapper.
real=${CREDD_POETRY:-}
if [ -z "$real" ]; then
    saved_ifs=$IFS
    IFS=:
    set -f
    for dir in $PATH; do
        candidate=${dir:-.}/poetry
        if [ -f "$candidate" ] && [ -x "$candidate" ] && ! grep -q '@MARKER@' "$candidate" 2>/dev/null; then
            real=$candidate
            break
        fi
    done
    set +f
    IFS=$saved_ifs
elif case $real in */*) false ;; *) true ;; esac; then
    # A bare name would be looked up on PATH by exec, and could find this wrapper again.
    echo "credd: CREDD_POETRY=$real names no directory: set it to the real poetry's path" >&2
    exit 127
elif grep -q '@MARKER@' "$real" 2>/dev/null; then
    echo "credd: CREDD_POETRY=$real is credd's wrapper, not Poetry: point it at the real poetry" >&2
    exit 127
fi
if [ -z "$real" ]; then
    echo "credd: no poetry on PATH besides credd's wrapper: install Poetry, or set CREDD_POETRY to its path" >&2
    exit 127
fi

# A locked agent: ask for the passphrase on a terminal, else say how to fix it and go on.
state=$("$credd" status --json 2>/dev/null) || state=unreachable
case $state in
*'"state":"unlocked"'*) ;;
unreachable)
    echo "credd: warning: cannot reach the credd agent (see 'credd status'): Poetry runs without credd's credentials" >&2
    ;;
*)
    if (true </dev/tty) 2>/dev/null; then
        "$credd" unlock </dev/tty >&2 || echo "credd: warning: credd is still locked: Poetry runs without credd's credentials" >&2
    else
        echo "credd: warning: credd is locked: run 'credd unlock'; Poetry runs without credd's credentials" >&2
    fi
    ;;
esac

PYTHONPATH=$module_dir${PYTHONPATH:+:$PYTHONPATH}
PYTHON_KEYRING_BACKEND=@BACKEND@
export PYTHONPATH PYTHON_KEYRING_BACKEND
exec "$real" "$@"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_credd_poetry_is_refused_instead_of_finding_the_wrapper_again() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let wrapper = dir.path().join("poetry");
        std::fs::write(&wrapper, script(Path::new("/bin/false"), dir.path())).unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut child = std::process::Command::new("sh")
            .arg(&wrapper)
            .arg("--version")
            .env("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))
            .env("CREDD_POETRY", "poetry")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("the wrapper ran itself in a loop");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(127), "{stderr}");
        assert!(stderr.contains("names no directory"), "{stderr}");
    }

    #[test]
    fn quoting_survives_any_path() {
        assert_eq!(sh_quote("/a b/c"), "'/a b/c'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        let text = script(Path::new("/x/cre'dd"), Path::new("/d $HOME"));
        assert!(text.contains(r"credd='/x/cre'\''dd'"));
        assert!(text.contains("module_dir='/d $HOME'"));
        assert!(is_wrapper(text.as_bytes()));
        for placeholder in ["@CREDD@", "@MODULE_DIR@", "@BACKEND@", "@MARKER@"] {
            assert!(!text.contains(placeholder), "{placeholder}");
        }
    }

    #[test]
    fn the_module_is_embedded() {
        assert!(KEYRING_MODULE.contains("class CreddKeyring(backend.KeyringBackend)"));
    }
}
