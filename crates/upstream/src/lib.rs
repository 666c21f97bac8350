//! The client for the Assistants API upstream: Azure OpenAI and OpenAI
//! flavours, named profiles, credentials, retries and streaming.
//!
//! Only the error type exists so far; the client itself arrives with the
//! upstream work. Wire types here are the client's own and are never shared
//! with the emulator, so a misreading of the API cannot hide in both.

/// Failures talking to the upstream.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no upstream profile named `{0}` is configured")]
    UnknownProfile(String),
}
