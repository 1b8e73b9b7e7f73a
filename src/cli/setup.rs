//! `credd setup`: placeholder until the real module lands (being written now).

/// Options.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Not yet available.
pub fn run(_socket: &std::path::Path, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("credd setup is not available yet")
}
