//! The store contract suite: every test runs on SQLite and on PostgreSQL, each on its own
//! fresh database. For every resource, a tenant-isolation test proves nothing of tenant A
//! can be read, changed, deleted or listed through tenant B.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod access;
mod audit;
mod audit_records;
mod authz_version;
mod custom_domains;
mod directory;
mod keys;
mod login;
mod login_outbox;
mod oauth;
mod schema;
mod support;
