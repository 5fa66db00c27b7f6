//! The production random source: the operating system's CSPRNG through aws-lc-rs.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// [`clavis_types::Rng`] backed by [`aws_lc_rs::rand::SystemRandom`].
#[derive(Debug, Clone, Default)]
pub struct SystemRng(SystemRandom);

impl SystemRng {
    pub fn new() -> Self {
        Self(SystemRandom::new())
    }
}

impl clavis_types::Rng for SystemRng {
    fn fill(&self, buf: &mut [u8]) {
        if self.0.fill(buf).is_ok() {
            return;
        }
        // AWS-LC's DRBG does not fail in practice (it aborts instead); should it ever report
        // an error, retry rather than hand back predictable bytes or panic.
        while aws_lc_rs::rand::fill(buf).is_err() {
            std::thread::yield_now();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use clavis_types::Rng;

    #[test]
    fn fills_distinct_bytes() {
        let rng = SystemRng::new();
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        rng.fill(&mut a);
        rng.fill(&mut b);
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
    }
}
