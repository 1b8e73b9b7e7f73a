//! pip: where its configuration and `.netrc` are, and what they say about index URLs and their
//! passwords.
//!
//! Like [`crate::poetry`], everything here is a pure function of file text or the environment,
//! apart from finding the files: `credd import pip` (in `src/cli/import/`) talks to the agent.

pub mod files;
