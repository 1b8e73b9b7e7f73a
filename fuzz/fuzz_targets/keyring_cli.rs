//! The `keyring_cli` target: see `credd::fuzzing::keyring_cli` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| credd::fuzzing::keyring_cli(data));
