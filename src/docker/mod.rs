//! docker: what credd knows of docker's credential-helper protocol.

pub mod credential;
