//! The `credd` binary.

mod cli;

/// Wipes every freed heap block, so secrets leave no copies in freed memory.
#[global_allocator]
static ALLOCATOR: credd::wipe_alloc::WipingAllocator = credd::wipe_alloc::WipingAllocator;

fn main() -> std::process::ExitCode {
    cli::main()
}
