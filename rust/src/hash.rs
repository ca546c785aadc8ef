//! Seeded 64-bit hashing of tokens, n-grams and shingles.
//!
//! The contract: `hash64(bytes, seed)` is XXH3-64 with `seed` (Collet, xxHash), the same bits on
//! every platform and equal to Python's `xxhash.xxh3_64(bytes, seed=seed).intdigest()`.
//! Buckets are taken with Lemire's multiply-shift range reduction ("Fast random integer generation
//! in an interval", 2019), which is unbiased enough for hashing and avoids a division per n-gram.

/// XXH3-64 of `bytes` with `seed`.
#[inline]
pub fn hash64(bytes: &[u8], seed: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(bytes, seed)
}

/// Maps a 64-bit hash onto `0..n` as `(h * n) >> 64`.
#[inline]
pub fn bucket(h: u64, n: u32) -> u32 {
    ((u128::from(h) * u128::from(n)) >> 64) as u32
}

/// The first 56 bytes of XXH3's default secret (`kSecret` in the xxHash specification,
/// `doc/xxhash_spec.md`), all that inputs of 1 to 16 bytes use.
const SECRET_HEAD: [u8; 56] = [
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
    0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
    0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
    0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e,
];

fn secret64(at: usize) -> u64 {
    u64::from_le_bytes(SECRET_HEAD[at..at + 8].try_into().expect("8 bytes"))
}

fn secret32(at: usize) -> u32 {
    u32::from_le_bytes(SECRET_HEAD[at..at + 4].try_into().expect("4 bytes"))
}

/// XXH3-64 of inputs of 1 to 16 bytes, one function per length class of the specification
/// (1–3, 4–8, 9–16 bytes), with the seed folded into the keys once. Each gives exactly
/// [`hash64`] for its lengths (tested for every length against it); the caller picks the class,
/// so a loop over n-grams of one class has no length branch.
#[derive(Clone, Copy, Debug)]
pub struct ShortXxh3 {
    /// 1–3 bytes: `(secret32[0] ^ secret32[4]) + seed`.
    k1: u64,
    /// 4–8 bytes: `(secret64[8] ^ secret64[16]) - (seed ^ (bswap32(seed) << 32))`.
    k4: u64,
    /// 9–16 bytes: `(secret64[24] ^ secret64[32]) + seed` and `(secret64[40] ^ secret64[48]) - seed`.
    k9lo: u64,
    k9hi: u64,
}

const PRIME64_2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const PRIME64_3: u64 = 0x1656_67B1_9E37_79F9;
const PRIME_MX1: u64 = 0x1656_6791_9E37_79F9;
const PRIME_MX2: u64 = 0x9FB2_1C65_1E98_DF25;

impl ShortXxh3 {
    /// The keys for `seed`.
    pub fn new(seed: u64) -> Self {
        let seed4 = seed ^ (u64::from((seed as u32).swap_bytes()) << 32);
        Self {
            k1: u64::from(secret32(0) ^ secret32(4)).wrapping_add(seed),
            k4: (secret64(8) ^ secret64(16)).wrapping_sub(seed4),
            k9lo: (secret64(24) ^ secret64(32)).wrapping_add(seed),
            k9hi: (secret64(40) ^ secret64(48)).wrapping_sub(seed),
        }
    }

    /// `g` of 1 to 3 bytes.
    #[inline]
    pub fn h1to3(&self, g: &[u8]) -> u64 {
        let n = g.len();
        self.mix1to3(g[0], g[n >> 1], g[n - 1], n)
    }

    /// `g` of 4 to 8 bytes.
    #[inline]
    pub fn h4to8(&self, g: &[u8]) -> u64 {
        let n = g.len();
        let first = u32::from_le_bytes(g[..4].try_into().expect("4 bytes"));
        let last = u32::from_le_bytes(g[n - 4..].try_into().expect("4 bytes"));
        self.mix4to8(first, last, n)
    }

    /// `g` of 9 to 16 bytes.
    #[inline]
    pub fn h9to16(&self, g: &[u8]) -> u64 {
        let n = g.len();
        let lo = u64::from_le_bytes(g[..8].try_into().expect("8 bytes"));
        let hi = u64::from_le_bytes(g[n - 8..].try_into().expect("8 bytes"));
        self.mix9to16(lo, hi, n)
    }

    /// An input of `n` (1 to 3) bytes from its first, middle (`n / 2`) and last bytes.
    #[inline]
    pub fn mix1to3(&self, first: u8, mid: u8, last: u8, n: usize) -> u64 {
        debug_assert!((1..=3).contains(&n));
        let combined =
            (u32::from(first) << 16) | (u32::from(mid) << 24) | u32::from(last) | ((n as u32) << 8);
        // The XXH64 avalanche.
        let mut h = u64::from(combined) ^ self.k1;
        h ^= h >> 33;
        h = h.wrapping_mul(PRIME64_2);
        h ^= h >> 29;
        h = h.wrapping_mul(PRIME64_3);
        h ^ (h >> 32)
    }

    /// An input of `n` (4 to 8) bytes from its first and last 4 bytes (little-endian).
    #[inline]
    pub fn mix4to8(&self, first: u32, last: u32, n: usize) -> u64 {
        debug_assert!((4..=8).contains(&n));
        let x = (u64::from(last) | (u64::from(first) << 32)) ^ self.k4;
        // rrmxmx
        let mut h = x ^ x.rotate_left(49) ^ x.rotate_left(24);
        h = h.wrapping_mul(PRIME_MX2);
        h ^= (h >> 35).wrapping_add(n as u64);
        h = h.wrapping_mul(PRIME_MX2);
        h ^ (h >> 28)
    }

    /// An input of `n` (9 to 16) bytes from its first and last 8 bytes (little-endian).
    #[inline]
    pub fn mix9to16(&self, first: u64, last: u64, n: usize) -> u64 {
        debug_assert!((9..=16).contains(&n));
        let lo = first ^ self.k9lo;
        let hi = last ^ self.k9hi;
        let p = u128::from(lo) * u128::from(hi);
        let acc = (n as u64)
            .wrapping_add(lo.swap_bytes())
            .wrapping_add(hi)
            .wrapping_add((p as u64) ^ ((p >> 64) as u64));
        // The XXH3 avalanche.
        let h = (acc ^ (acc >> 37)).wrapping_mul(PRIME_MX1);
        h ^ (h >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // Values from the reference implementation (python-xxhash 3.x).
        assert_eq!(hash64(b"", 0), 0x2D06_8005_38D3_94C2);
        assert_eq!(hash64(b"hello", 0), 0x9555_E855_5C62_DCFD);
    }

    #[test]
    fn short_xxh3_is_xxh3() {
        let data: Vec<u8> = (0..16u32).map(|i| (i * 37 + 11) as u8 ^ 0xa5).collect();
        for seed in [0, 1, 42, 0xdead_beef_1234_5678, u64::MAX] {
            let k = ShortXxh3::new(seed);
            for start in 0..3 {
                for n in 1..=16 {
                    let Some(g) = data.get(start..start + n) else {
                        continue;
                    };
                    let got = match n {
                        1..=3 => k.h1to3(g),
                        4..=8 => k.h4to8(g),
                        _ => k.h9to16(g),
                    };
                    assert_eq!(got, hash64(g, seed), "seed {seed} len {n}");
                }
            }
        }
    }

    #[test]
    fn bucket_in_range() {
        for h in [0, 1, u64::MAX, 1 << 63] {
            for n in [1, 7, 10_000, u32::MAX] {
                assert!(bucket(h, n) < n);
            }
        }
        assert_eq!(bucket(u64::MAX, 10), 9);
        assert_eq!(bucket(0, 10), 0);
    }
}
