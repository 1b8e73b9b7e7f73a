//! The credd wire protocol, version 1: the types every request and reply is made of, the
//! line framing, and the error kinds that clients act on.
//!
//! `README.md` beside this crate is the normative description; its examples are checked byte for
//! byte by this crate's tests, so the types here and the text there cannot drift apart.
//!
//! Secrets only ever travel inside [`Secret`], which never prints its contents and wipes its
//! memory when dropped.

mod frame;
mod message;
mod secret;
mod source;

pub use frame::{FrameBuf, FrameTooLarge, MAX_FRAME_LEN, encode_line};
pub use message::{
    ALLOW_SECS, Ask, Done, Entry, EntryInfo, ErrorKind, ErrorReply, ForgetResult, Front,
    GetFirstResult, GetResult, HelloResult, KdfParams, KeychainKind, KeychainState, KeychainStatus,
    ListResult, LockState, LogRecord, LogResult, Lookup, MAX_LOOKUPS, MAX_NAME_LEN, MAX_NOTE_LEN,
    MAX_OPERATION_LEN, MAX_SECRET_LEN, MAX_SOURCE_ERROR_LEN, MAX_SOURCE_LEN, MAX_URL_LEN,
    MAX_USERNAME_LEN, Operation, Process, PutResult, RefreshResult, RememberResult, Reply, Request,
    RequestError, SetResult, StatusResult, StoreKind, TeamStatus, parse_request,
};
pub use secret::Secret;
pub use source::{AWS_USERNAME, GCP_USERNAME, Source};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Every protocol version this crate can speak, oldest first.
pub const SUPPORTED_VERSIONS: &[u32] = &[PROTOCOL_VERSION];
