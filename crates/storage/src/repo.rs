//! Repository functions: plain functions over `&mut PgConnection`, one module
//! per table, so that callers compose several inside one transaction.

pub mod api_keys;
pub mod audit;
pub mod erasures;
pub mod grants;
pub mod idempotency;
pub mod identity_providers;
pub mod resources;
pub mod tenants;
pub mod usage;
pub mod users;
