//! The `vault` target: see `credd::fuzzing::vault` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| credd::fuzzing::vault(data));
