//! `credd setup cargo`.

use anyhow::{Context, Result};
use credd::cargo::config_files;

/// Options of `credd setup cargo`.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Set `[registries.NAME] credential-provider = "credd"` for this registry only (then Cargo
    /// asks only credd for it), instead of adding credd for every registry
    #[arg(long, value_name = "NAME")]
    registry: Option<String>,
    /// Print the change as a diff and write nothing
    #[arg(long)]
    dry_run: bool,
}

/// Adds credd to Cargo's config; no agent is needed.
pub(super) fn run(args: Args) -> Result<()> {
    let home = config_files::cargo_home()
        .context("cannot find Cargo's home: set CARGO_HOME (or HOME for ~/.cargo)")?;
    let path = config_files::config_path(&home);
    if let Some(ignored) = config_files::ignored_beside(&path) {
        eprintln!(
            "credd: warning: Cargo reads {} and ignores {}: editing the former",
            path.display(),
            ignored.display()
        );
    }
    let (before, mode) = super::read_optional(&path)?;
    let shown = path.display();
    let (edit, done, next) = match &args.registry {
        None => {
            let setup = config_files::add_global_provider(&before)
                .with_context(|| format!("cannot edit {shown}"))?;
            for name in &setup.own_provider {
                let table = if name == config_files::CRATES_IO {
                    "[registry]".to_owned()
                } else {
                    format!("[registries.{name}]")
                };
                eprintln!(
                    "credd: warning: {table} in {shown} names its own credential-provider, so \
                     Cargo will not ask credd for {name}: run 'credd setup cargo --registry {name}' \
                     to use credd there"
                );
            }
            let list = setup
                .providers
                .iter()
                .map(|p| format!("{p:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            let done = format!("[registry] global-credential-providers = [{list}]");
            let next = "Cargo now asks credd for every registry's token first, and falls back to \
                        credentials.toml (cargo:token).\nnext: move the tokens of credentials.toml \
                        into credd with 'credd import cargo --remove', or store a new one with \
                        'cargo login --registry NAME'"
                .to_owned();
            (setup.edit, done, next)
        }
        Some(name) => {
            let setup = config_files::set_registry_provider(&before, name)
                .with_context(|| format!("cannot edit {shown}"))?;
            let env_var = config_files::index_env_var(name);
            if !setup.has_index && std::env::var_os(&env_var).is_none() {
                eprintln!(
                    "credd: warning: [registries.{name}] has no `index` in {shown}: Cargo needs \
                     one to use the registry; add `index = \"sparse+https://…/\"` there (or set it \
                     in another Cargo config or in {env_var})"
                );
            }
            let done = format!("{} credential-provider = \"credd\"", setup.table);
            let login = if name == config_files::CRATES_IO {
                "cargo login".to_owned()
            } else {
                format!("cargo login --registry {name}")
            };
            let next = format!(
                "Cargo now asks only credd for {name}'s token (no longer credentials.toml).\n\
                 next: store its token with '{login}', or move it from credentials.toml with \
                 'credd import cargo --remove'"
            );
            (setup.edit, done, next)
        }
    };
    if !edit.changed {
        eprintln!("credd: {shown} already has {done}: nothing to change");
        return Ok(());
    }
    if args.dry_run {
        print!(
            "{}",
            config_files::unified_diff(&shown.to_string(), &before, &edit.text)
        );
        eprintln!("credd: dry run: {shown} was not changed");
        return Ok(());
    }
    super::write_file(&path, &edit.text, mode, super::UMASK_DIR_MODE)?;
    eprintln!("credd: {shown}: set {done}");
    eprintln!("{next}");
    if !on_path(config_files::PROVIDER) {
        eprintln!(
            "credd: warning: no `credd` on PATH: Cargo runs the provider by that name, so put \
             this credd binary on PATH"
        );
    }
    Ok(())
}

/// True when an executable file named `name` is in a directory of `PATH`.
fn on_path(name: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| super::is_executable(&dir.join(name)))
}
