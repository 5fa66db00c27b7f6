//! Clavis core: the domain model, the services that change it, and the **ports** that
//! storage and other adapters implement.
//!
//! Owns: tenants, organizations, teams, users and identities, applications, Apis, roles,
//! connections, signing keys, secrets at rest, bootstrap of a fresh install, and the
//! declarative configuration (`apply`/`export`).
//!
//! Must not: import axum, sqlx, a template engine or a JavaScript engine; read the wall
//! clock or an ambient RNG (both are injected through [`Core`]); reach a tenant's data
//! without its [`TenantId`](clavis_types::TenantId) — every repository method takes it.

pub mod authz;
pub mod chain;
pub mod chain_verify;
pub mod declarative;
mod error;
pub mod model;
pub mod oauth;
pub mod ports;
pub mod service;

pub use error::{CoreError, StoreError};
pub use service::Core;
