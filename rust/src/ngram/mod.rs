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

use crate::column::Texts;
use crate::error::{Error, Result};
use crate::hash::{bucket, hash64};
use crate::parallel::{with_threads, PerThread};
use crate::text::Normalizer;

mod scan;
mod sha;
mod sum;

use scan::WordScratch;
pub use sha::sha256_mod;
use sha::ShaCache;
pub use sum::accumulate;

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
    spans: Vec<(usize, usize)>,
    words: WordScratch,
    sha: ShaCache,
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
            spans,
            words,
            sha,
        } = scratch;
        let (seed, nb, min_n, max_n) = (self.seed, self.n_buckets, self.min_n, self.max_n);
        let kind = self.hash;
        match self.analyzer {
            Analyzer::Word => {
                let norm = self.normalizer;
                // Dispatch on the hash once per document, not once per n-gram.
                // Unigrams and bigrams (DSIR's setting) take a loop of their own.
                let n_tok = match kind {
                    HashKind::Xxh3 if max_n <= 2 => {
                        words.ngrams_upto2(text, norm, min_n, max_n, |g| {
                            f(bucket(hash64(g, seed), nb));
                        })
                    }
                    HashKind::Xxh3 => words.ngrams(text, norm, min_n, max_n, |g| {
                        f(bucket(hash64(g, seed), nb));
                    }),
                    HashKind::Sha256Mod => {
                        words.ngrams(text, norm, min_n, max_n, |g| f(sha.bucket(g, nb)))
                    }
                };
                DocStats {
                    n_tokens: n_tok as u64,
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

    /// [`NgramConfig::for_each_bucket`] in an unspecified order: for summed or per-document
    /// counts, where the order does not matter. Word unigrams and bigrams with XXH3 (DSIR's
    /// setting) take a faster kernel; everything else is `for_each_bucket`.
    pub fn for_each_bucket_unordered(
        &self,
        text: &str,
        scratch: &mut Scratch,
        f: impl FnMut(u32),
    ) -> DocStats {
        if self.analyzer == Analyzer::Word && self.hash == HashKind::Xxh3 && self.max_n <= 2 {
            let n_tok = scratch.words.buckets_upto2(
                text,
                self.normalizer,
                self.min_n,
                self.max_n,
                self.seed,
                self.n_buckets,
                f,
            );
            return DocStats {
                n_tokens: n_tok as u64,
            };
        }
        self.for_each_bucket(text, scratch, f)
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
        let scratch = PerThread::new(|| (String::new(), WordScratch::default()));
        row_chunks(texts.len())
            .into_par_iter()
            .with_max_len(1)
            .map(|(lo, hi)| {
                scratch.with(|(buf, words)| {
                    (lo..hi)
                        .map(|i| {
                            Ok(texts.get(i)?.map_or(0, |t| match cfg.analyzer {
                                Analyzer::Char => {
                                    cfg.normalizer.apply(t, buf).chars().count() as u64
                                }
                                Analyzer::Word => words.count(t, cfg.normalizer) as u64,
                            }))
                        })
                        .collect()
                })
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
        let state = PerThread::new(|| (Scratch::default(), RowCounter::new(cfg.n_buckets)));
        row_chunks(texts.len())
            .into_par_iter()
            .with_max_len(1)
            .map(|(lo, hi)| {
                state.with(|(scratch, counter)| {
                    let mut part = Csr::default();
                    for i in lo..hi {
                        let stats = match texts.get(i)? {
                            Some(t) => {
                                cfg.for_each_bucket_unordered(t, scratch, |b| counter.add(b))
                            }
                            None => DocStats::default(),
                        };
                        counter.drain_into(&mut part.indices, &mut part.counts);
                        part.indptr.push(part.indices.len() as i64);
                        part.n_tokens.push(stats.n_tokens);
                    }
                    Ok(part)
                })
            })
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
        let scratch = PerThread::new(Scratch::default);
        out.par_chunks_mut(nb * ROWS_PER_TASK)
            .enumerate()
            .with_max_len(1)
            .map(|(chunk, rows)| {
                scratch.with(|scratch| {
                    rows.fill(0);
                    let mut n_tokens = Vec::with_capacity(ROWS_PER_TASK);
                    for (j, row) in rows.chunks_mut(nb).enumerate() {
                        let i = chunk * ROWS_PER_TASK + j;
                        let stats = match texts.get(i)? {
                            Some(t) => {
                                cfg.for_each_bucket_unordered(t, scratch, |b| row[b as usize] += 1)
                            }
                            None => DocStats::default(),
                        };
                        n_tokens.push(stats.n_tokens);
                    }
                    Ok(n_tokens)
                })
            })
            .collect()
    })?;
    let mut n_tokens = Vec::with_capacity(texts.len());
    for p in parts {
        n_tokens.extend(p?);
    }
    Ok(n_tokens)
}
