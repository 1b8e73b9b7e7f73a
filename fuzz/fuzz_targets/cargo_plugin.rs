//! The `cargo_plugin` target: see `credd::fuzzing::cargo_plugin` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| credd::fuzzing::cargo_plugin(data));
