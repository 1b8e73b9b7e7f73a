//! Persistent storage: the encrypted vault file.
pub mod vault;
