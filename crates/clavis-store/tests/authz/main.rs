//! The authorization decision library (`clavis_core::authz`) on both backends: explained
//! allows and denies, clients, blocked users, batches, tenant isolation, inheritance
//! cycles, invalidation across nodes, and a property-based comparison with a naive
//! reference over random role graphs, assignments and changes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod decisions;
mod fixture;
mod property;
mod reference;
