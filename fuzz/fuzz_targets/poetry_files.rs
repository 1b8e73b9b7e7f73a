//! The `poetry_files` target: see `credd::fuzzing::poetry_files` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| credd::fuzzing::poetry_files(data));
