//! The client for the Assistants API upstream.
//!
//! * Two flavours ([`Flavour`]): Azure OpenAI
//!   (`{endpoint}/openai/{path}?api-version=…`) and OpenAI
//!   (`{endpoint}/v1/{path}`, `OpenAI-Beta: assistants=v2`).
//! * Named profiles ([`ProfileConfig`], [`Upstreams`]) with their own
//!   credential, timeouts, retry policy and circuit breaker.
//! * Credentials: Azure API key, OpenAI key, Entra ID client secret or
//!   workload identity (cached tokens, one refresh at a time).
//! * Every operation of the Assistants API ([`Operation`]); JSON answers
//!   decoded into the client's own types ([`wire`]) that keep unknown fields;
//!   streams yielded event by event ([`EventStream`]).
//! * Retries on 429 and 503 (honouring the upstream's delay) and on
//!   connections that never opened; a state-changing request whose outcome
//!   is unknown is reported as [`UpstreamError::Ambiguous`], never repeated.
//!
//! Wire types here are the client's own and are never shared with the
//! emulator, so a misreading of the API cannot hide in both.

mod breaker;
mod client;
mod config;
mod credential;
mod error;
mod operation;
mod registry;
mod retry;
mod sse;
pub mod wire;

pub use breaker::BreakerState;
pub use client::{FileUpload, RequestBody, StreamUpload, UpstreamClient, UpstreamRequest};
pub use config::{
    BreakerConfig, COGNITIVE_SERVICES_SCOPE, CredentialConfig, DEFAULT_AZURE_API_VERSION, Flavour,
    ProfileConfig, RetryConfig, Timeouts,
};
pub use error::{ErrorBody, UpstreamError};
pub use operation::Operation;
pub use registry::Upstreams;
pub use sse::{Event, EventStream};
