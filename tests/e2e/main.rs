//! End-to-end tests, one binary: the real server on loopback, a real
//! PostgreSQL database per test.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod attacks;
mod auth;
mod conversations;
mod crashes;
mod deploy;
mod document;
mod emulator;
mod erasure;
mod files;
mod foundry;
mod fuzz;
mod health;
mod idempotency;
mod matrix;
mod organization;
mod quotas;
mod reconcile;
mod reliability;
mod sdk;
mod sharing;
mod surfaces;
mod upstream_failures;
