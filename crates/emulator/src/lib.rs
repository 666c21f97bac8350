//! An emulator of the Assistants API upstream (Azure OpenAI and OpenAI
//! flavours), written from the published specifications, for tests and for
//! `threadgate dev`. It shares no wire types with the client crate on purpose.
//!
//! Empty until the upstream work fills it.
