//! MinHash signatures of documents (Broder, "On the resemblance and containment of documents",
//! 1997), LSH banding (Indyk & Motwani 1998; Leskovec, Rajaraman & Ullman, *Mining of Massive
//! Datasets*, ch. 3), union-find clustering and exact (hash) deduplication.
//!
//! A document is normalised ([`Normalizer`]) and cut into shingles: word n-grams over the
//! `\w+|[^\w\s]+` tokens (tokens joined by one ASCII space) or character n-grams (`n` consecutive
//! code points). A document with fewer than `n` (but at least one) tokens has exactly one shingle,
//! made of all its tokens, so short documents still deduplicate; an empty or null document has no
//! shingle, its signature is all `u32::MAX` and it is never a near-duplicate of anything.
//!
//! Three permutation schemes share one signature layout (`num_perm` `u32` values per document, the
//! element-wise minimum over shingles, starting at `u32::MAX`):
//!
//! - [`Scheme::Fast`] (ours): every token is hashed once ([`TokenKeys::hash`]), the n-gram hash is
//!   a multiply-xor fold of its token hashes finalised with the MurmurHash3 64-bit finaliser, its
//!   upper 32 bits `x` are permuted as `a_k * x + b_k mod 2^32` (`a_k` odd: a bijection), with
//!   `(a_k, b_k)` drawn from SplitMix64(`seed`). The permutation loop is vectorised (AVX2 when the
//!   CPU has it), so the cost per shingle is a few cycles for 128 permutations.
//! - [`Scheme::Affine32`]: datasketch 2.0's default, bit for bit: shingle hash = first 4 bytes of
//!   SHA-1 (little-endian), pre-mixed with the MurmurHash3 32-bit finaliser, then `a*h + b mod 2^32`.
//! - [`Scheme::Legacy`]: datasketch before 2.0: `((a*h + b) mod 2^64) mod (2^61 - 1)`, low 32 bits.
//!
//! The datasketch `(a, b)` arrays come from numpy's `RandomState(seed)` and are generated on the
//! Python side exactly as datasketch does, then handed to [`MinHasher::new`].
//!
//! Invariant: a document's signature depends only on its text and the parameters, never on the
//! batch it is in or on the number of threads.

pub mod cluster;
pub mod exact;
pub mod lsh;

use rayon::prelude::*;
use sha1::{Digest, Sha1};

use crate::alloc;
use crate::column::Texts;
use crate::error::{Error, Result};
use crate::hash::hash64;
use crate::ngram::Analyzer;
use crate::parallel::{with_threads, PerThread};
use crate::rng::SplitMix64;
use crate::text::{for_each_word_span, Normalizer};

/// Largest accepted shingle size.
pub const MAX_SHINGLE: usize = 64;

/// Largest accepted `num_perm` (2^13). Beyond a few hundred permutations the Jaccard estimate's
/// standard error (`sqrt(J(1-J)/num_perm)`, 0.0055 at 8192) no longer matters next to the
/// threshold choice, while signatures cost `4 × num_perm` bytes per document.
pub const MAX_NUM_PERM: usize = 8192;

/// Checks `1 <= num_perm <= MAX_NUM_PERM`.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `num_perm`.
pub fn check_num_perm(num_perm: usize) -> Result<()> {
    if num_perm == 0 || num_perm > MAX_NUM_PERM {
        return Err(Error::param(
            "num_perm",
            format!("must be in 1..={MAX_NUM_PERM}, got {num_perm}"),
        ));
    }
    Ok(())
}

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 32;

/// How a document is cut into shingles.
#[derive(Clone, Copy, Debug)]
pub struct ShingleConfig {
    /// Normalisation applied first.
    pub normalizer: Normalizer,
    /// Word or character shingles.
    pub analyzer: Analyzer,
    /// Shingle size in tokens (word) or code points (char), `1..=MAX_SHINGLE`.
    pub n: usize,
}

impl ShingleConfig {
    /// Checks `n`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `ngram`.
    pub fn validate(&self) -> Result<()> {
        if self.n == 0 || self.n > MAX_SHINGLE {
            return Err(Error::param(
                "ngram",
                format!("must be in 1..={MAX_SHINGLE}, got {}", self.n),
            ));
        }
        Ok(())
    }

    /// Calls `f` with the bytes of every shingle of `text` (after normalisation), in text order,
    /// repeats included. Returns the number of shingles.
    pub fn for_each_shingle(
        &self,
        text: &str,
        scratch: &mut Scratch,
        mut f: impl FnMut(&[u8]),
    ) -> usize {
        let Scratch {
            norm, join, spans, ..
        } = scratch;
        let text = self.normalizer.apply(text, norm);
        let bytes = text.as_bytes();
        let n = self.n;
        spans.clear();
        match self.analyzer {
            Analyzer::Word => for_each_word_span(text, |a, b| spans.push((a, b))),
            Analyzer::Char => {
                for (pos, c) in text.char_indices() {
                    spans.push((pos, pos + c.len_utf8()));
                }
            }
        }
        let n_tok = spans.len();
        if n_tok == 0 {
            return 0;
        }
        let width = n.min(n_tok);
        let mut count = 0;
        for w in spans.windows(width) {
            match self.analyzer {
                Analyzer::Char => f(&bytes[w[0].0..w[width - 1].1]),
                Analyzer::Word => {
                    join.clear();
                    for (k, &(s, e)) in w.iter().enumerate() {
                        if k > 0 {
                            join.push(b' ');
                        }
                        join.extend_from_slice(&bytes[s..e]);
                    }
                    f(join);
                }
            }
            count += 1;
        }
        count
    }

    /// Calls `f` with the 64-bit [`Scheme::Fast`] hash of every shingle of `text`, in text order.
    /// Returns the number of shingles.
    pub fn for_each_fast_hash(
        &self,
        text: &str,
        seed: u64,
        scratch: &mut Scratch,
        mut f: impl FnMut(u64),
    ) -> usize {
        let Scratch { norm, tok, .. } = scratch;
        let text = self.normalizer.apply(text, norm);
        let bytes = text.as_bytes();
        tok.clear();
        match self.analyzer {
            Analyzer::Word => {
                let keys = TokenKeys::new(seed);
                for_each_word_span(text, |a, b| tok.push(keys.hash(bytes, a, b)));
            }
            Analyzer::Char => {
                let keys = TokenKeys::new(seed);
                for (pos, c) in text.char_indices() {
                    tok.push(keys.hash(bytes, pos, pos + c.len_utf8()));
                }
            }
        }
        if tok.is_empty() {
            return 0;
        }
        let width = self.n.min(tok.len());
        for w in tok.windows(width) {
            f(fold_hashes(w));
        }
        tok.len() + 1 - width
    }
}

const FOLD_MUL: u64 = 0x9E37_79B9_7F4A_7C15;
const TOK_MUL_LO: u64 = 0xA076_1D64_78BD_642F;
const TOK_MUL_HI: u64 = 0xE703_7ED1_A0B4_28DB;

/// Seeded keys of the [`Scheme::Fast`] token hash.
#[derive(Clone, Copy, Debug)]
pub struct TokenKeys {
    seed: u64,
    k0: u64,
    k1: u64,
}

impl TokenKeys {
    /// Keys for `seed`: `k0 = fmix64(seed ^ 0xA0761D6478BD642F)`, `k1 = fmix64(seed ^ 0xE7037ED1A0B428DB)`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            k0: fmix64(seed ^ TOK_MUL_LO),
            k1: fmix64(seed ^ TOK_MUL_HI),
        }
    }

    /// The [`Scheme::Fast`] hash of the token `text[a..b]`. Tokens of at most 16 bytes (almost all)
    /// take a branch-free path: with `lo`, `hi` the little-endian words of the token zero-padded to
    /// 16 bytes and `len` its length, `fmix64((lo ^ k0) * 0xA0761D6478BD642F ^ rotl((hi ^ k1) *
    /// 0xE7037ED1A0B428DB, 32) ^ len)`; longer tokens use XXH3-64 with `seed`. (Hashing each token
    /// with XXH3 cost as much as tokenising: its length dispatch mispredicts on natural text.)
    #[inline]
    pub fn hash(&self, text: &[u8], a: usize, b: usize) -> u64 {
        let len = b - a;
        if len > 16 {
            return hash64(&text[a..b], self.seed);
        }
        let (lo, hi) = if a + 16 <= text.len() {
            let w = &text[a..a + 16];
            let lo = u64::from_le_bytes(w[..8].try_into().expect("8 bytes"));
            let hi = u64::from_le_bytes(w[8..].try_into().expect("8 bytes"));
            let lo_bits = 8 * len.min(8) as u32;
            let hi_bits = 8 * len.saturating_sub(8) as u32;
            let lo_mask = u64::MAX >> (64 - lo_bits);
            let hi_mask = ((1u128 << hi_bits) - 1) as u64;
            (lo & lo_mask, hi & hi_mask)
        } else {
            let mut w = [0u8; 16];
            w[..len].copy_from_slice(&text[a..b]);
            (
                u64::from_le_bytes(w[..8].try_into().expect("8 bytes")),
                u64::from_le_bytes(w[8..].try_into().expect("8 bytes")),
            )
        };
        fmix64(
            (lo ^ self.k0).wrapping_mul(TOK_MUL_LO)
                ^ (hi ^ self.k1).wrapping_mul(TOK_MUL_HI).rotate_left(32)
                ^ len as u64,
        )
    }
}

/// The [`Scheme::Fast`] n-gram hash of the token hashes `w`: `acc = 0; for t in w: acc =
/// rotl(acc ^ t, 27) * 0x9E3779B97F4A7C15` (wrapping), then [`fmix64`]. Order-sensitive.
#[inline]
pub fn fold_hashes(w: &[u64]) -> u64 {
    let mut acc = 0u64;
    for &t in w {
        acc = (acc ^ t).rotate_left(27).wrapping_mul(FOLD_MUL);
    }
    fmix64(acc)
}

/// MurmurHash3 64-bit finaliser (a bijection).
#[inline]
pub fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

/// MurmurHash3 32-bit finaliser (a bijection), as datasketch's `_fmix(h, 32)`.
#[inline]
pub fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^ (h >> 16)
}

/// datasketch's `sha1_hash32`: the first 4 bytes of SHA-1, little-endian.
#[inline]
pub fn sha1_hash32(bytes: &[u8]) -> u32 {
    let d = Sha1::digest(bytes);
    u32::from_le_bytes([d[0], d[1], d[2], d[3]])
}

/// A permutation scheme and its parameters (one `(a, b)` per signature slot).
#[derive(Clone, Debug)]
pub enum Scheme {
    /// tamis' fast scheme: XXH3 token hashes, rolling n-gram hash, affine mod 2^32.
    Fast {
        /// Seed of the token hash and of the permutations.
        seed: u64,
        /// Odd multipliers.
        a: Vec<u32>,
        /// Offsets.
        b: Vec<u32>,
    },
    /// datasketch 2.0 `affine32`.
    Affine32 {
        /// Odd multipliers, as datasketch draws them.
        a: Vec<u32>,
        /// Offsets.
        b: Vec<u32>,
    },
    /// datasketch `legacy` (before 2.0).
    Legacy {
        /// Multipliers in `[1, 2^61 - 1)`.
        a: Vec<u64>,
        /// Offsets in `[0, 2^61 - 1)`.
        b: Vec<u64>,
    },
}

impl Scheme {
    /// The fast scheme with `num_perm` permutations drawn from SplitMix64(`seed`).
    pub fn fast(num_perm: usize, seed: u64) -> Self {
        let mut st = SplitMix64::new(seed);
        let mut a = Vec::with_capacity(num_perm);
        let mut b = Vec::with_capacity(num_perm);
        for _ in 0..num_perm {
            a.push((st.next_u64() as u32) | 1);
            b.push(st.next_u64() as u32);
        }
        Scheme::Fast { seed, a, b }
    }

    /// Number of permutations.
    pub fn num_perm(&self) -> usize {
        match self {
            Scheme::Fast { a, .. } | Scheme::Affine32 { a, .. } => a.len(),
            Scheme::Legacy { a, .. } => a.len(),
        }
    }

    /// Name used in the Python API.
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::Fast { .. } => "fast",
            Scheme::Affine32 { .. } => "affine32",
            Scheme::Legacy { .. } => "legacy",
        }
    }
}

const MERSENNE_61: u64 = (1 << 61) - 1;

/// Per-thread scratch buffers.
#[derive(Default)]
pub struct Scratch {
    norm: String,
    join: Vec<u8>,
    spans: Vec<(usize, usize)>,
    tok: Vec<u64>,
    xs: Vec<u32>,
}

/// Computes MinHash signatures.
#[derive(Clone, Debug)]
pub struct MinHasher {
    /// Shingling.
    pub shingles: ShingleConfig,
    /// Permutations.
    pub scheme: Scheme,
}

/// Signatures of a batch: `num_perm` values per row, row-major, and the shingle count per row.
#[derive(Clone, Debug, Default)]
pub struct Signatures {
    /// `n_rows * num_perm` values.
    pub values: Vec<u32>,
    /// Shingles per row (0 for empty and null rows).
    pub n_shingles: Vec<u64>,
}

impl MinHasher {
    /// Checks the parameters and builds the hasher.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for `num_perm == 0`, mismatched `(a, b)` lengths, even
    /// multipliers in an affine scheme, or a bad shingle size.
    pub fn new(shingles: ShingleConfig, scheme: Scheme) -> Result<Self> {
        shingles.validate()?;
        check_num_perm(scheme.num_perm())?;
        match &scheme {
            Scheme::Fast { a, b, .. } | Scheme::Affine32 { a, b } => {
                if b.len() != a.len() {
                    return Err(Error::param(
                        "permutations",
                        format!("a has {} values but b has {}", a.len(), b.len()),
                    ));
                }
                if a.iter().any(|x| x & 1 == 0) {
                    return Err(Error::param(
                        "permutations",
                        "multipliers a must all be odd for an affine scheme",
                    ));
                }
            }
            Scheme::Legacy { a, b } => {
                if b.len() != a.len() {
                    return Err(Error::param(
                        "permutations",
                        format!("a has {} values but b has {}", a.len(), b.len()),
                    ));
                }
            }
        }
        Ok(Self { shingles, scheme })
    }

    /// Number of signature slots.
    pub fn num_perm(&self) -> usize {
        self.scheme.num_perm()
    }

    /// The 32-bit permutation input of every shingle of `text` (into `scratch.xs`), or for the
    /// legacy scheme the raw SHA-1 hash. Returns the shingle count.
    fn inputs(&self, text: &str, s: &mut Scratch) -> usize {
        let mut xs = std::mem::take(&mut s.xs);
        xs.clear();
        let n = match &self.scheme {
            Scheme::Fast { seed, .. } => self
                .shingles
                .for_each_fast_hash(text, *seed, s, |h| xs.push((h >> 32) as u32)),
            Scheme::Affine32 { .. } => self
                .shingles
                .for_each_shingle(text, s, |b| xs.push(fmix32(sha1_hash32(b)))),
            Scheme::Legacy { .. } => self
                .shingles
                .for_each_shingle(text, s, |b| xs.push(sha1_hash32(b))),
        };
        s.xs = xs;
        n
    }

    /// Signature of one document into `out` (length `num_perm`); returns its shingle count.
    pub fn signature_into(&self, text: &str, s: &mut Scratch, out: &mut [u32]) -> usize {
        let n = self.inputs(text, s);
        out.fill(u32::MAX);
        match &self.scheme {
            Scheme::Fast { a, b, .. } | Scheme::Affine32 { a, b } => affine_min(&s.xs, a, b, out),
            Scheme::Legacy { a, b } => {
                for &h in &s.xs {
                    let h = u64::from(h);
                    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
                        let v = (a.wrapping_mul(h).wrapping_add(b) % MERSENNE_61) as u32;
                        *o = (*o).min(v);
                    }
                }
            }
        }
        n
    }

    /// Signature of one document.
    pub fn signature(&self, text: &str) -> Vec<u32> {
        let mut out = vec![0; self.num_perm()];
        self.signature_into(text, &mut Scratch::default(), &mut out);
        out
    }

    /// The shingles of one document as bytes (what datasketch's `update` receives).
    pub fn shingle_bytes(&self, text: &str) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.shingles
            .for_each_shingle(text, &mut Scratch::default(), |b| out.push(b.to_vec()));
        out
    }

    /// Signatures of every row of `texts` (nulls: no shingles, all `u32::MAX`).
    ///
    /// # Errors
    /// The lowest row that is not UTF-8; `n_threads == Some(0)`.
    pub fn signatures<T: Texts + ?Sized>(
        &self,
        texts: &T,
        n_threads: Option<usize>,
    ) -> Result<Signatures> {
        let k = self.num_perm();
        let n = texts.len();
        let mut values =
            alloc::zeroed_2d::<u32>(n, k, "num_perm", "uint32 signatures (rows × num_perm)")?;
        let mut n_shingles = alloc::zeroed::<u64>(n, "texts", "shingle counts")?;
        let res: Result<()> = with_threads(n_threads, || {
            let scratch = PerThread::new(Scratch::default);
            values
                .par_chunks_mut(ROWS_PER_TASK * k)
                .zip(n_shingles.par_chunks_mut(ROWS_PER_TASK))
                .enumerate()
                .with_max_len(1)
                .try_for_each(|(chunk, (vals, counts))| {
                    scratch.with(|s| {
                        let lo = chunk * ROWS_PER_TASK;
                        for (j, (out, cnt)) in vals.chunks_mut(k).zip(counts.iter_mut()).enumerate()
                        {
                            if let Some(t) = texts.get(lo + j)? {
                                *cnt = self.signature_into(t, s, out) as u64;
                            } else {
                                out.fill(u32::MAX);
                                *cnt = 0;
                            }
                        }
                        Ok(())
                    })
                })
        })?;
        res?;
        Ok(Signatures { values, n_shingles })
    }

    /// Sorted, de-duplicated 64-bit shingle hashes of every row, in CSR layout (`indptr`,
    /// `hashes`), for exact-Jaccard verification. Fast scheme: the 64-bit n-gram hash; datasketch
    /// schemes: the 32-bit SHA-1 hash.
    ///
    /// # Errors
    /// As [`MinHasher::signatures`].
    pub fn shingle_sets<T: Texts + ?Sized>(
        &self,
        texts: &T,
        n_threads: Option<usize>,
    ) -> Result<(Vec<u64>, Vec<u64>)> {
        let n = texts.len();
        let parts: Vec<Result<Vec<Vec<u64>>>> = with_threads(n_threads, || {
            let scratch = PerThread::new(Scratch::default);
            (0..n.div_ceil(ROWS_PER_TASK))
                .into_par_iter()
                .with_max_len(1)
                .map(|c| {
                    scratch.with(|s| {
                        let lo = c * ROWS_PER_TASK;
                        (lo..(lo + ROWS_PER_TASK).min(n))
                            .map(|i| {
                                let mut set = Vec::new();
                                if let Some(t) = texts.get(i)? {
                                    match &self.scheme {
                                        Scheme::Fast { seed, .. } => {
                                            self.shingles.for_each_fast_hash(t, *seed, s, |h| {
                                                set.push(h);
                                            });
                                        }
                                        _ => {
                                            self.shingles.for_each_shingle(t, s, |b| {
                                                set.push(u64::from(sha1_hash32(b)));
                                            });
                                        }
                                    }
                                }
                                set.sort_unstable();
                                set.dedup();
                                Ok(set)
                            })
                            .collect()
                    })
                })
                .collect()
        })?;
        let mut indptr = Vec::with_capacity(n + 1);
        indptr.push(0u64);
        let mut hashes = Vec::new();
        for p in parts {
            for set in p? {
                hashes.extend_from_slice(&set);
                indptr.push(hashes.len() as u64);
            }
        }
        Ok((indptr, hashes))
    }
}

/// `out[k] = min(out[k], min over x of a[k]*x + b[k] mod 2^32)`.
fn affine_min(xs: &[u32], a: &[u32], b: &[u32], out: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above), the only requirement of the
            // target-feature function; it does no unsafe memory access itself.
            unsafe { affine_min_avx2(xs, a, b, out) };
            return;
        }
    }
    affine_min_generic(xs, a, b, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn affine_min_avx2(xs: &[u32], a: &[u32], b: &[u32], out: &mut [u32]) {
    affine_min_generic(xs, a, b, out);
}

/// Lanes kept in registers while scanning the shingles (4 AVX2 vectors).
const LANES: usize = 32;

// Always inlined so that the AVX2 caller compiles its own vectorised copy.
#[allow(clippy::inline_always)]
#[inline(always)]
fn affine_min_generic(xs: &[u32], a: &[u32], b: &[u32], out: &mut [u32]) {
    let mut oc = out.chunks_exact_mut(LANES);
    let mut ac = a.chunks_exact(LANES);
    let mut bc = b.chunks_exact(LANES);
    for ((o, a), b) in (&mut oc).zip(&mut ac).zip(&mut bc) {
        let a: &[u32; LANES] = a.try_into().expect("chunk of LANES");
        let b: &[u32; LANES] = b.try_into().expect("chunk of LANES");
        let mut m = [u32::MAX; LANES];
        for &x in xs {
            for i in 0..LANES {
                m[i] = m[i].min(a[i].wrapping_mul(x).wrapping_add(b[i]));
            }
        }
        for (o, m) in o.iter_mut().zip(m) {
            *o = (*o).min(m);
        }
    }
    let (o, a, b) = (oc.into_remainder(), ac.remainder(), bc.remainder());
    for &x in xs {
        for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
            *o = (*o).min(a.wrapping_mul(x).wrapping_add(b));
        }
    }
}

/// Fraction of equal slots of two signatures (the MinHash Jaccard estimate).
#[inline]
pub fn estimate_jaccard(a: &[u32], b: &[u32]) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    let eq = a.iter().zip(b).filter(|(x, y)| x == y).count();
    eq as f64 / a.len() as f64
}

/// Exact Jaccard of two sorted, de-duplicated sets (0 when both are empty).
pub fn exact_jaccard(a: &[u64], b: &[u64]) -> f64 {
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - inter;
    if union == 0 {
        0.0
    } else {
        inter as f64 / union as f64
    }
}

#[cfg(test)]
mod tests;
