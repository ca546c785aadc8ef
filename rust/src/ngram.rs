//! Hashed n-gram features: texts → bucket counts.
//!
//! A document is normalised ([`Normalizer`]), cut into word tokens (`\w+|[^\w\s]+`) or Unicode
//! characters, and every n-gram with `min_n <= n <= max_n` is hashed. A word n-gram is its tokens
//! joined by one ASCII space (DSIR's definition: the bigram of `a`, `b` is the bytes `"a b"`); a
//! character n-gram is the UTF-8 bytes of `n` consecutive characters. The hash is XXH3-64 with the
//! configured seed ([`crate::hash`]), the bucket `(h * n_buckets) >> 64`. So anyone can recompute a
//! feature with `xxhash` in a few lines of Python — the tests do exactly that.
//!
//! [`HashKind::Sha256Mod`] reproduces the DSIR reference package (`data-selection`): the bucket is
//! `int(sha256(ngram).hexdigest(), 16) % n_buckets`, about 10× slower than XXH3 and seed-free.
//!
//! Three outputs share one per-document kernel: CSR counts (rows in input order, columns sorted),
//! dense counts, and a streaming sum into one count vector that never materialises per-document
//! features. Work is split across threads by row ranges and recombined in row order (or summed as
//! integers), so results are identical for any number of threads.

use rayon::prelude::*;

use crate::alloc;
use crate::column::Texts;
use crate::error::{Error, Result};
use crate::hash::{bucket, hash64};
use crate::parallel::with_threads;
use crate::text::{ascii_class, for_each_word_span, CharClass, Normalizer};

/// What an n-gram is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Analyzer {
    /// Word tokens (`\w+|[^\w\s]+`).
    Word,
    /// Unicode scalar values (code points), whitespace included.
    Char,
}

/// How an n-gram's bytes become a bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HashKind {
    /// XXH3-64 with the configured seed, bucket `(h * n_buckets) >> 64`.
    #[default]
    Xxh3,
    /// SHA-256 of the bytes read as a big-endian integer, modulo `n_buckets` (the DSIR reference's
    /// `hash_buckets`); the seed is ignored.
    Sha256Mod,
}

impl HashKind {
    /// The bucket of `bytes` among `n_buckets`.
    #[inline]
    pub fn bucket(self, bytes: &[u8], seed: u64, n_buckets: u32) -> u32 {
        match self {
            HashKind::Xxh3 => bucket(hash64(bytes, seed), n_buckets),
            HashKind::Sha256Mod => sha256_mod(bytes, n_buckets),
        }
    }
}

/// `int(sha256(bytes).hexdigest(), 16) % n`, by Horner's rule over the digest read as eight
/// big-endian 32-bit digits (8 divisions instead of 32: the modulo was most of the cost).
pub fn sha256_mod(bytes: &[u8], n: u32) -> u32 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    let m = u64::from(n);
    // acc < 2^32, so acc * 2^32 + digit < 2^64 never overflows.
    digest.chunks_exact(4).fold(0u64, |acc, d| {
        ((acc << 32) | u64::from(u32::from_be_bytes([d[0], d[1], d[2], d[3]]))) % m
    }) as u32
}

/// Configuration of the hashed n-gram featuriser.
#[derive(Clone, Copy, Debug)]
pub struct NgramConfig {
    /// Text normalisation applied before tokenisation.
    pub normalizer: Normalizer,
    /// Word or character n-grams.
    pub analyzer: Analyzer,
    /// Smallest n-gram length (>= 1).
    pub min_n: usize,
    /// Largest n-gram length (>= `min_n`).
    pub max_n: usize,
    /// Number of hash buckets (>= 1).
    pub n_buckets: u32,
    /// Hash seed.
    pub seed: u64,
    /// Hash function and range reduction.
    pub hash: HashKind,
}

/// Upper bound on `max_n`: n-grams longer than this are never useful as hashed features and the
/// bound keeps the per-document token window on the stack.
pub const MAX_NGRAM: usize = 64;

/// Rows per parallel task: large enough to amortise scheduling, small enough to balance.
const ROWS_PER_TASK: usize = 64;

impl NgramConfig {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `ngram_range` or `n_buckets`.
    pub fn validate(&self) -> Result<()> {
        if self.min_n == 0 || self.min_n > self.max_n || self.max_n > MAX_NGRAM {
            return Err(Error::param(
                "ngram_range",
                format!(
                    "must satisfy 1 <= min_n <= max_n <= {MAX_NGRAM}, got ({}, {})",
                    self.min_n, self.max_n
                ),
            ));
        }
        if self.n_buckets == 0 {
            return Err(Error::param("n_buckets", "must be >= 1, got 0"));
        }
        Ok(())
    }
}

/// Per-thread scratch buffers, reused across documents.
#[derive(Default)]
pub struct Scratch {
    norm: String,
    join: Vec<u8>,
    spans: Vec<(usize, usize)>,
    starts: Vec<usize>,
    sha: ShaCache,
}

/// Memo of n-gram → SHA-256 bucket. SHA-256 plus the 256-bit modulo costs ~20× an XXH3 bucket,
/// and n-grams are Zipf-distributed, so most lookups hit. A direct-mapped table indexed by the
/// n-gram's XXH3 hash; a slot stores the exact bytes (up to [`MEMO_BYTES`]), so a hash collision
/// can never change a bucket, and longer n-grams simply bypass the memo.
#[derive(Default)]
struct ShaCache {
    n_buckets: u32,
    slots: Vec<MemoSlot>,
}

/// Longest n-gram (bytes) kept in the SHA-256 memo.
const MEMO_BYTES: usize = 51;

#[derive(Clone, Copy)]
struct MemoSlot {
    hash: u64,
    bucket: u32,
    /// `u8::MAX`: empty.
    len: u8,
    bytes: [u8; MEMO_BYTES],
}

impl ShaCache {
    /// 2^16 slots of 64 bytes: 4 MiB per thread.
    const SLOTS: usize = 1 << 16;

    #[inline]
    fn bucket(&mut self, bytes: &[u8], n_buckets: u32) -> u32 {
        if bytes.len() > MEMO_BYTES {
            return sha256_mod(bytes, n_buckets);
        }
        if self.n_buckets != n_buckets || self.slots.is_empty() {
            let empty = MemoSlot {
                hash: 0,
                bucket: 0,
                len: u8::MAX,
                bytes: [0; MEMO_BYTES],
            };
            self.slots.clear();
            self.slots.resize(Self::SLOTS, empty);
            self.n_buckets = n_buckets;
        }
        let h = hash64(bytes, 0);
        let slot = &mut self.slots[(h as usize) & (Self::SLOTS - 1)];
        if slot.hash == h
            && usize::from(slot.len) == bytes.len()
            && &slot.bytes[..bytes.len()] == bytes
        {
            return slot.bucket;
        }
        let b = sha256_mod(bytes, n_buckets);
        slot.hash = h;
        slot.bucket = b;
        slot.len = bytes.len() as u8;
        slot.bytes[..bytes.len()].copy_from_slice(bytes);
        b
    }
}

impl NgramConfig {
    /// Writes the normalised tokens of `text` into `stream`, joined by single spaces, and the
    /// offset where each token starts into `starts`. Then an n-gram is one contiguous slice of
    /// the stream, hashed in place: no per-n-gram copy.
    ///
    /// ASCII text without punctuation stripping takes a fused path: classify, lowercase and copy
    /// in one pass over the bytes (NFKC and case folding of ASCII stay ASCII, and whitespace
    /// folding cannot change tokens).
    fn token_stream(
        &self,
        text: &str,
        norm: &mut String,
        stream: &mut Vec<u8>,
        starts: &mut Vec<usize>,
    ) {
        stream.clear();
        starts.clear();
        if text.is_ascii() && !self.normalizer.strip_punctuation {
            if self.normalizer.lowercase {
                ascii_token_stream(text.as_bytes(), stream, starts, |b| b.to_ascii_lowercase());
            } else {
                ascii_token_stream(text.as_bytes(), stream, starts, |b| b);
            }
            return;
        }
        let text = self.normalizer.apply(text, norm);
        let bytes = text.as_bytes();
        for_each_word_span(text, |a, b| {
            if !starts.is_empty() {
                stream.push(b' ');
            }
            starts.push(stream.len());
            stream.extend_from_slice(&bytes[a..b]);
        });
    }
}

/// The fused ASCII path of [`NgramConfig::token_stream`]: one pass that classifies, maps (lowercases)
/// and copies each byte into a pre-sized buffer.
#[inline]
fn ascii_token_stream(
    bytes: &[u8],
    stream: &mut Vec<u8>,
    starts: &mut Vec<usize>,
    map: impl Fn(u8) -> u8,
) {
    // Worst case: every byte is a token followed by a separator.
    stream.resize(2 * bytes.len(), 0);
    starts.reserve(bytes.len() / 2 + 1);
    let (mut i, mut w) = (0, 0);
    while i < bytes.len() {
        let class = ascii_class(bytes[i]);
        if class == CharClass::Space {
            i += 1;
            continue;
        }
        if w > 0 {
            stream[w] = b' ';
            w += 1;
        }
        starts.push(w);
        while i < bytes.len() && ascii_class(bytes[i]) == class {
            stream[w] = map(bytes[i]);
            w += 1;
            i += 1;
        }
    }
    stream.truncate(w);
}

/// Emits the bucket of every word n-gram of a token stream (see [`NgramConfig::token_stream`]):
/// the n-gram of tokens `i-n+1..=i` is the slice from the start of the first to the end of the last.
#[inline]
fn word_ngrams(
    stream: &[u8],
    starts: &[usize],
    min_n: usize,
    max_n: usize,
    f: &mut impl FnMut(u32),
    mut bucket_of: impl FnMut(&[u8]) -> u32,
) {
    let n_tok = starts.len();
    for i in 0..n_tok {
        let end = if i + 1 < n_tok {
            starts[i + 1] - 1
        } else {
            stream.len()
        };
        // An exclusive range: RangeInclusive iterates measurably slower in this loop.
        #[allow(clippy::range_plus_one)]
        for n in min_n..max_n.min(i + 1) + 1 {
            f(bucket_of(&stream[starts[i + 1 - n]..end]));
        }
    }
}

/// Per-document statistics returned with every featurisation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DocStats {
    /// Tokens (word analyzer) or characters (char analyzer) after normalisation.
    pub n_tokens: u64,
}

impl NgramConfig {
    /// Calls `f(bucket)` for every n-gram of `text`, in text order (for each end position, n
    /// ascending). Returns the document's statistics.
    pub fn for_each_bucket(
        &self,
        text: &str,
        scratch: &mut Scratch,
        mut f: impl FnMut(u32),
    ) -> DocStats {
        let Scratch {
            norm,
            join: stream,
            spans,
            starts,
            sha,
        } = scratch;
        let (seed, nb, min_n, max_n) = (self.seed, self.n_buckets, self.min_n, self.max_n);
        let kind = self.hash;
        match self.analyzer {
            Analyzer::Word => {
                self.token_stream(text, norm, stream, starts);
                // Dispatch on the hash once per document, not once per n-gram.
                match kind {
                    HashKind::Xxh3 => word_ngrams(stream, starts, min_n, max_n, &mut f, |g| {
                        bucket(hash64(g, seed), nb)
                    }),
                    HashKind::Sha256Mod => {
                        word_ngrams(stream, starts, min_n, max_n, &mut f, |g| sha.bucket(g, nb));
                    }
                }
                DocStats {
                    n_tokens: starts.len() as u64,
                }
            }
            Analyzer::Char => {
                let mut bucket_of = |bytes: &[u8]| match kind {
                    HashKind::Xxh3 => bucket(hash64(bytes, seed), nb),
                    HashKind::Sha256Mod => sha.bucket(bytes, nb),
                };
                let text = self.normalizer.apply(text, norm);
                // Ring of the byte offsets where the last max_n characters start.
                let bytes = text.as_bytes();
                spans.clear();
                spans.resize(max_n, (0, 0));
                let mut n_chr = 0usize;
                for (pos, c) in text.char_indices() {
                    spans[n_chr % max_n].0 = pos;
                    n_chr += 1;
                    let end = pos + c.len_utf8();
                    for n in min_n..=max_n.min(n_chr) {
                        let start = spans[(n_chr - n) % max_n].0;
                        f(bucket_of(&bytes[start..end]));
                    }
                }
                DocStats {
                    n_tokens: n_chr as u64,
                }
            }
        }
    }
}

/// Tokens (word analyzer) or characters (char analyzer) of every row after normalisation, without
/// hashing anything; null rows count 0.
///
/// # Errors
/// Invalid parameters or a row that is not UTF-8.
pub fn count_tokens<T: Texts + ?Sized>(
    cfg: &NgramConfig,
    texts: &T,
    n_threads: Option<usize>,
) -> Result<Vec<u64>> {
    cfg.validate()?;
    let parts: Vec<Result<Vec<u64>>> = with_threads(n_threads, || {
        row_chunks(texts.len())
            .into_par_iter()
            .map_init(String::new, |buf, (lo, hi)| {
                (lo..hi)
                    .map(|i| {
                        Ok(texts.get(i)?.map_or(0, |t| {
                            let t = cfg.normalizer.apply(t, buf);
                            match cfg.analyzer {
                                Analyzer::Char => t.chars().count() as u64,
                                Analyzer::Word => {
                                    let mut n = 0u64;
                                    for_each_word_span(t, |_, _| n += 1);
                                    n
                                }
                            }
                        }))
                    })
                    .collect()
            })
            .collect()
    })?;
    let mut out = Vec::with_capacity(texts.len());
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// Sparse counts in CSR layout: row `i` owns `indices[indptr[i]..indptr[i+1]]` (sorted, unique)
/// and the matching `counts`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Csr {
    /// Row pointers, `n_rows + 1` entries.
    pub indptr: Vec<i64>,
    /// Bucket indices.
    pub indices: Vec<u32>,
    /// Counts.
    pub counts: Vec<u32>,
    /// Tokens per row.
    pub n_tokens: Vec<u64>,
}

/// Summary of a streaming accumulation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccumulateStats {
    /// Rows seen.
    pub n_docs: u64,
    /// Null rows (skipped).
    pub n_null: u64,
    /// Tokens seen.
    pub n_tokens: u64,
    /// N-grams counted.
    pub n_ngrams: u64,
}

fn row_chunks(n: usize) -> Vec<(usize, usize)> {
    (0..n)
        .step_by(ROWS_PER_TASK)
        .map(|s| (s, (s + ROWS_PER_TASK).min(n)))
        .collect()
}

/// Counts of one document's buckets, emitted sorted. With a moderate number of buckets a dense
/// per-thread counter plus the list of touched buckets avoids sorting every occurrence (only
/// the distinct buckets are sorted); with huge bucket spaces it falls back to sorting.
struct RowCounter {
    dense: Vec<u32>,
    touched: Vec<u32>,
}

/// Largest bucket space for which a per-thread dense counter is used (4 MiB of `u32` each).
const DENSE_COUNTER_MAX: u32 = 1 << 20;

impl RowCounter {
    fn new(n_buckets: u32) -> Self {
        let dense = if n_buckets <= DENSE_COUNTER_MAX {
            vec![0; n_buckets as usize]
        } else {
            vec![]
        };
        Self {
            dense,
            touched: Vec::new(),
        }
    }

    #[inline]
    fn add(&mut self, b: u32) {
        if self.dense.is_empty() {
            self.touched.push(b);
        } else {
            let c = &mut self.dense[b as usize];
            if *c == 0 {
                self.touched.push(b);
            }
            *c += 1;
        }
    }

    fn drain_into(&mut self, indices: &mut Vec<u32>, counts: &mut Vec<u32>) {
        self.touched.sort_unstable();
        if self.dense.is_empty() {
            let row_start = indices.len();
            for &b in &self.touched {
                if indices.len() > row_start && indices.last() == Some(&b) {
                    *counts.last_mut().expect("non-empty row") += 1;
                } else {
                    indices.push(b);
                    counts.push(1);
                }
            }
        } else {
            for &b in &self.touched {
                indices.push(b);
                counts.push(std::mem::take(&mut self.dense[b as usize]));
            }
        }
        self.touched.clear();
    }
}

/// CSR counts for every row of `texts`; null rows are empty.
///
/// # Errors
/// Invalid parameters, or the first row (lowest index) that is not UTF-8.
pub fn transform_csr<T: Texts + ?Sized>(
    cfg: &NgramConfig,
    texts: &T,
    n_threads: Option<usize>,
) -> Result<Csr> {
    cfg.validate()?;
    let parts: Vec<Result<Csr>> = with_threads(n_threads, || {
        row_chunks(texts.len())
            .into_par_iter()
            .map_init(
                || (Scratch::default(), RowCounter::new(cfg.n_buckets)),
                |(scratch, counter), (lo, hi)| {
                    let mut part = Csr::default();
                    for i in lo..hi {
                        let stats = match texts.get(i)? {
                            Some(t) => cfg.for_each_bucket(t, scratch, |b| counter.add(b)),
                            None => DocStats::default(),
                        };
                        counter.drain_into(&mut part.indices, &mut part.counts);
                        part.indptr.push(part.indices.len() as i64);
                        part.n_tokens.push(stats.n_tokens);
                    }
                    Ok(part)
                },
            )
            .collect()
    })?;
    let mut out = Csr {
        indptr: Vec::with_capacity(texts.len() + 1),
        ..Csr::default()
    };
    out.indptr.push(0);
    for part in parts {
        let part = part?;
        let base = out.indices.len() as i64;
        out.indptr.extend(part.indptr.iter().map(|p| p + base));
        out.indices.extend_from_slice(&part.indices);
        out.counts.extend_from_slice(&part.counts);
        out.n_tokens.extend_from_slice(&part.n_tokens);
    }
    Ok(out)
}

/// Dense counts, row-major `n_rows × n_buckets`, written into `out`; returns tokens per row.
///
/// # Errors
/// Invalid parameters, `out` of the wrong length, or a row that is not UTF-8.
pub fn transform_dense<T: Texts + ?Sized>(
    cfg: &NgramConfig,
    texts: &T,
    out: &mut [u32],
    n_threads: Option<usize>,
) -> Result<Vec<u64>> {
    cfg.validate()?;
    let nb = cfg.n_buckets as usize;
    let expected = texts.len().checked_mul(nb).ok_or_else(|| {
        Error::param(
            "n_buckets",
            format!("{nb} buckets × {} rows overflows", texts.len()),
        )
    })?;
    if out.len() != expected {
        return Err(Error::ShapeMismatch(format!(
            "output has {} entries, expected {} rows × {nb} buckets",
            out.len(),
            texts.len()
        )));
    }
    if nb == 0 || texts.is_empty() {
        return Ok(vec![0; texts.len()]);
    }
    let parts: Vec<Result<Vec<u64>>> = with_threads(n_threads, || {
        out.par_chunks_mut(nb * ROWS_PER_TASK)
            .enumerate()
            .map_init(Scratch::default, |scratch, (chunk, rows)| {
                rows.fill(0);
                let mut n_tokens = Vec::with_capacity(ROWS_PER_TASK);
                for (j, row) in rows.chunks_mut(nb).enumerate() {
                    let i = chunk * ROWS_PER_TASK + j;
                    let stats = match texts.get(i)? {
                        Some(t) => cfg.for_each_bucket(t, scratch, |b| row[b as usize] += 1),
                        None => DocStats::default(),
                    };
                    n_tokens.push(stats.n_tokens);
                }
                Ok(n_tokens)
            })
            .collect()
    })?;
    let mut n_tokens = Vec::with_capacity(texts.len());
    for p in parts {
        n_tokens.extend(p?);
    }
    Ok(n_tokens)
}

/// Adds the n-gram counts of every row into `counts` (length `n_buckets`) without materialising
/// per-document features. Integer sums make the result independent of the thread count.
///
/// # Errors
/// Invalid parameters, `counts` of the wrong length, or a row that is not UTF-8.
pub fn accumulate<T: Texts + ?Sized>(
    cfg: &NgramConfig,
    texts: &T,
    counts: &mut [u64],
    n_threads: Option<usize>,
) -> Result<AccumulateStats> {
    cfg.validate()?;
    let nb = cfg.n_buckets as usize;
    if counts.len() != nb {
        return Err(Error::ShapeMismatch(format!(
            "counts has {} entries, expected n_buckets = {nb}",
            counts.len()
        )));
    }
    type Acc = (Scratch, Vec<u64>, AccumulateStats);
    let reduced: Option<Result<Acc>> = with_threads(n_threads, || {
        row_chunks(texts.len())
            .into_par_iter()
            // One dense accumulator per rayon split (a handful per thread), not per row range.
            .try_fold(
                || (Scratch::default(), Vec::new(), AccumulateStats::default()),
                |(mut scratch, mut acc, mut st), (lo, hi)| -> Result<Acc> {
                    if acc.is_empty() {
                        // Allocated on first use, fallibly: one per rayon split, n_buckets each.
                        acc = alloc::zeroed(nb, "n_buckets", &format!("{nb} bucket counts"))?;
                    }
                    for i in lo..hi {
                        st.n_docs += 1;
                        match texts.get(i)? {
                            Some(t) => {
                                let s = cfg.for_each_bucket(t, &mut scratch, |b| {
                                    acc[b as usize] += 1;
                                    st.n_ngrams += 1;
                                });
                                st.n_tokens += s.n_tokens;
                            }
                            None => st.n_null += 1,
                        }
                    }
                    Ok((scratch, acc, st))
                },
            )
            .try_reduce_with(|(scratch, mut a, mut sa), (_, b, sb)| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                sa.n_docs += sb.n_docs;
                sa.n_null += sb.n_null;
                sa.n_tokens += sb.n_tokens;
                sa.n_ngrams += sb.n_ngrams;
                Ok((scratch, a, sa))
            })
    })?;
    let Some(reduced) = reduced else {
        return Ok(AccumulateStats::default());
    };
    let (_, acc, stats) = reduced?;
    counts.iter_mut().zip(&acc).for_each(|(c, a)| *c += a);
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_mod_matches_python() {
        // int(hashlib.sha256(w).hexdigest(), 16) % n, computed with CPython.
        assert_eq!(sha256_mod(b"hello", 10_000), 7_620);
        assert_eq!(sha256_mod(b"", 10_000), 6_549);
        assert_eq!(sha256_mod(b"hello world", 10_000), 1_529);
        assert_eq!(sha256_mod(b"hello", u32::MAX), 3_130_145_490);
    }

    #[test]
    fn sha256_buckets_through_the_memo() {
        let cfg = NgramConfig {
            normalizer: Normalizer::default(),
            analyzer: Analyzer::Word,
            min_n: 1,
            max_n: 2,
            n_buckets: 10_000,
            seed: 0,
            hash: HashKind::Sha256Mod,
        };
        let text = "a b a b c a b";
        let toks: Vec<&str> = text.split(' ').collect();
        let mut want = Vec::new();
        for i in 0..toks.len() {
            want.push(sha256_mod(toks[i].as_bytes(), 10_000));
            if i > 0 {
                want.push(sha256_mod(
                    format!("{} {}", toks[i - 1], toks[i]).as_bytes(),
                    10_000,
                ));
            }
        }
        let mut scratch = Scratch::default();
        for nb in [10_000, 10_000, 77] {
            let mut got = Vec::new();
            let c = NgramConfig {
                n_buckets: nb,
                ..cfg
            };
            c.for_each_bucket(text, &mut scratch, |b| got.push(b));
            if nb == 10_000 {
                assert_eq!(got, want);
            } else {
                // A different bucket count must not reuse memoised buckets.
                assert_eq!(got[0], sha256_mod(b"a", 77));
                assert_eq!(got[2], sha256_mod(b"a b", 77));
            }
        }
    }
}
