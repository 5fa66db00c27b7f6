//! Core services. [`Core`] carries the injected dependencies (store, clock, RNG, key ring)
//! and every service is a method on it, so handlers stay thin and nothing is global.

mod bootstrap;
mod keyring;
mod keys;
mod tenants;

pub use bootstrap::{BOOTSTRAP_TOKEN_LIFETIME_SECS, BootstrapAdmin};
pub use keyring::Keyring;
pub use keys::{JWKS_MAX_AGE_SECS, Rotation};
pub use tenants::{DEFAULT_CONNECTION, DEFAULT_TENANT};

use clavis_crypto::MasterKey;
use clavis_types::{Clock, Rng, Timestamp};
use std::sync::Arc;

use crate::ports::Store;

/// The dependencies every service uses, passed explicitly.
#[derive(Debug, Clone)]
pub struct Core {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Rng>,
    pub keyring: Arc<Keyring>,
}

impl Core {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Rng>,
        master_key: MasterKey,
    ) -> Self {
        Self {
            store,
            clock,
            rng,
            keyring: Arc::new(Keyring::new(master_key)),
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}
