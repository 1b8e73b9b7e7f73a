//! The `protocol` target: see `credd::fuzzing::protocol` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| credd::fuzzing::protocol(data));
