//! The `urlmatch` target: see `credd::fuzzing::urlmatch` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| credd::fuzzing::urlmatch(data));
