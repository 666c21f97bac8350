//! `with-test-database <command> [args…]`: runs a command with `DATABASE_URL`
//! pointing at a fresh database migrated to the current schema, then drops
//! the database. Used to check and regenerate `schema.rs`:
//!
//! ```sh
//! cd crates/storage && with-test-database diesel print-schema > src/schema.rs
//! ```
//!
//! Uses `DATABASE_URL`'s server when set, a throwaway cluster otherwise.

// A command-line program reports to its terminal.
#![allow(clippy::print_stderr)]

use std::process::{Command, ExitCode};

use devdb::TestDatabase;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(program) = args.next() else {
        eprintln!("usage: with-test-database <command> [args…]");
        return ExitCode::from(2);
    };
    let database = match TestDatabase::try_create() {
        Ok(database) => database,
        Err(error) => {
            eprintln!("with-test-database: {error}");
            return ExitCode::FAILURE;
        }
    };
    let status = Command::new(&program)
        .args(args)
        .env("DATABASE_URL", database.url())
        .status();
    drop(database);
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => ExitCode::from(u8::try_from(status.code().unwrap_or(1)).unwrap_or(1)),
        Err(error) => {
            eprintln!(
                "with-test-database: cannot run {}: {error}",
                program.to_string_lossy()
            );
            ExitCode::FAILURE
        }
    }
}
