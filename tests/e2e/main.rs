//! End-to-end tests, one binary: the real server on loopback, a real
//! PostgreSQL database per test.

mod emulator;
mod health;
