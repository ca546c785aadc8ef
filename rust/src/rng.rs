//! The seeded random numbers of the core, in one place.
//!
//! Two kinds, both reproducible from a seed on every platform:
//!
//! - a sequential stream, [`SplitMix64`] (Steele, Lea & Flood, "Fast splittable pseudorandom
//!   number generators", 2014), for draws whose order is fixed (MinHash permutations, resampling
//!   with replacement);
//! - keyed draws, a pure function of `(seed, key)` ([`uniform_bits`], [`uniform`], [`normal`],
//!   [`keyed_uniform`], [`gumbel`]), so a row's number does not depend on which thread handles it,
//!   on the other rows or on how the input is sharded.
//!
//! Every function here is part of the determinism contract: changing one changes selections.

use crate::hash::hash64;

/// The golden-ratio increment of SplitMix64.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 output function (a bijection on `u64`).
#[inline]
fn finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One SplitMix64 step from state `z`: the first output of `SplitMix64::new(z)`.
#[inline]
pub fn mix64(z: u64) -> u64 {
    finalize(z.wrapping_add(GAMMA))
}

/// `[0, 1)` from the top 53 bits of `bits` (multiples of 2^-53).
#[inline]
pub fn unit_f64(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// `(0, 1]` from the top 53 bits of `bits`: the midpoints `(m + 0.5) / 2^53`, so never 0 and `ln`
/// is finite; the last one, `1 − 2^-54`, rounds to exactly 1.0 (probability 2^-53).
#[inline]
pub fn open_unit_f64(bits: u64) -> f64 {
    ((bits >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}

/// The SplitMix64 stream seeded with `seed`.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// The stream whose state starts at `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GAMMA);
        finalize(self.0)
    }

    /// The next number in `[0, 1)` ([`unit_f64`] of the next 64 bits).
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        unit_f64(self.next_u64())
    }
}

/// 64 random bits keyed by `(seed, i)`.
#[inline]
pub fn uniform_bits(seed: u64, i: u64) -> u64 {
    mix64(mix64(seed) ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03))
}

/// A uniform number in `(0, 1]` ([`open_unit_f64`]), keyed by `(seed, i)`.
#[inline]
pub fn uniform(seed: u64, i: u64) -> f64 {
    open_unit_f64(uniform_bits(seed, i))
}

/// A standard normal number keyed by `(seed, i)` (Box–Muller on two keyed uniforms).
pub fn normal(seed: u64, i: u64) -> f64 {
    let u1 = uniform(seed, 2 * i);
    let u2 = uniform(seed, 2 * i + 1);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A uniform number in `(0, 1]` ([`open_unit_f64`]) keyed by `(seed, target, id_hash)`: XXH3-64 with `seed` of the
/// 16 little-endian bytes `id_hash ‖ target`.
#[inline]
pub fn keyed_uniform(seed: u64, target: u64, id_hash: u64) -> f64 {
    let mut buf = [0u8; 16];
    buf[..8].copy_from_slice(&id_hash.to_le_bytes());
    buf[8..].copy_from_slice(&target.to_le_bytes());
    open_unit_f64(hash64(&buf, seed))
}

/// Standard Gumbel noise `−ln(−ln u)` with `u` = [`keyed_uniform`]`(seed, target, id_hash)`.
#[inline]
pub fn gumbel(seed: u64, target: u64, id_hash: u64) -> f64 {
    -(-keyed_uniform(seed, target, id_hash).ln()).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_reference_vector() {
        // First outputs of SplitMix64 seeded with 1234567 (the reference C implementation).
        let mut r = SplitMix64::new(1_234_567);
        assert_eq!(r.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(r.next_u64(), 3_203_168_211_198_807_973);
        assert_eq!(mix64(1_234_567), 6_457_827_717_110_365_317);
    }

    #[test]
    fn unit_ranges() {
        assert_eq!(unit_f64(0).to_bits(), 0);
        assert!(unit_f64(u64::MAX) < 1.0);
        assert!(open_unit_f64(0) > 0.0);
        assert!(open_unit_f64(u64::MAX - (1 << 11)) < 1.0);
        assert_eq!(open_unit_f64(u64::MAX).to_bits(), 1.0f64.to_bits());
        for i in 0..1000 {
            let u = uniform(7, i);
            assert!(u > 0.0 && u < 1.0);
            assert!(gumbel(7, 0, i).is_finite());
            assert!(normal(7, i).is_finite());
        }
    }

    #[test]
    fn keyed_draws_depend_only_on_the_key() {
        assert_eq!(uniform_bits(3, 10), uniform_bits(3, 10));
        assert_ne!(uniform_bits(3, 10), uniform_bits(4, 10));
        assert_ne!(
            keyed_uniform(1, 0, 5).to_bits(),
            keyed_uniform(1, 1, 5).to_bits()
        );
        let g = -(-keyed_uniform(1, 2, 3).ln()).ln();
        assert_eq!(gumbel(1, 2, 3).to_bits(), g.to_bits());
    }
}
