//! SplitMix64: the one small generator for `random` decoder initialisation.
//!
//! The Python reference decoder (`export/padir_export/reference.py`) implements the same
//! generator and seeding, so `random` initialisation stays token-exact between the two.

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Sebastiano Vigna's SplitMix64.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Initial tokens of a row of `length` positions: uniform over the non-special vocabulary,
/// from a stream seeded by `seed` and the length (so a row does not depend on its batch).
pub fn random_tokens(seed: u64, length: usize, first_regular: i64, vocab: i64) -> Vec<i64> {
    let mut rng = SplitMix64::new(seed ^ (length as u64).wrapping_mul(GOLDEN));
    let span = (vocab - first_regular) as u64;
    (0..length)
        .map(|_| first_regular + (rng.next_u64() % span) as i64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_reference_splitmix64_values() {
        // First outputs for seed 1234567, as published with the algorithm.
        let mut r = SplitMix64::new(1234567);
        assert_eq!(r.next_u64(), 6457827717110365317);
        assert_eq!(r.next_u64(), 3203168211198807973);
    }

    #[test]
    fn random_tokens_stay_in_the_regular_vocabulary() {
        let t = random_tokens(7, 500, 4, 10);
        assert!(t.iter().all(|&x| (4..10).contains(&x)));
        assert_eq!(t, random_tokens(7, 500, 4, 10));
        assert_ne!(t[..20], random_tokens(8, 500, 4, 10)[..20]);
    }
}
