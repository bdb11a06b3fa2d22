//! Plain async services: the business rules. They take the store, never a request.

pub mod ledger;
pub mod system;
