//! Repository functions: plain functions over `&mut PgConnection`, one module
//! per table, so that callers compose several inside one transaction.

pub mod audit;
pub mod resources;
pub mod tenants;
pub mod users;
