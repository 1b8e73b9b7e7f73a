//! pip: where its configuration and `.netrc` are, what they say about index URLs and their
//! passwords, and setting pip's keyring provider.
//!
//! Like [`crate::poetry`], everything here is a pure function of file text or the environment:
//! `credd import pip` and `credd setup pip` (in `src/cli/`) read and write the files.

pub mod files;
