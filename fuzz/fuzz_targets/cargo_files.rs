//! The `cargo_files` target: see `credd::fuzzing::cargo_files` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| credd::fuzzing::cargo_files(data));
