//! Exact deduplication: a 128-bit hash (XXH3-128) of each document's normalised text.
//!
//! With 128 bits, the chance that two different texts collide among 10^12 documents is below
//! 10^-14, so equal hashes are treated as equal texts. Null rows have no hash and are never
//! duplicates; empty texts are duplicates of each other (they are equal texts).

use rayon::prelude::*;

use crate::column::Texts;
use crate::error::Result;
use crate::parallel::with_threads;
use crate::text::Normalizer;

/// XXH3-128 of the normalised text of every row (`None` for nulls).
///
/// # Errors
/// The lowest row that is not UTF-8; `n_threads == Some(0)`.
pub fn text_hashes<T: Texts + ?Sized>(
    normalizer: Normalizer,
    texts: &T,
    n_threads: Option<usize>,
) -> Result<Vec<Option<u128>>> {
    let n = texts.len();
    let parts: Vec<Result<Vec<Option<u128>>>> = with_threads(n_threads, || {
        (0..n.div_ceil(256))
            .into_par_iter()
            .map_init(String::new, |buf, c| {
                (c * 256..((c + 1) * 256).min(n))
                    .map(|i| {
                        Ok(texts.get(i)?.map(|t| {
                            xxhash_rust::xxh3::xxh3_128(normalizer.apply(t, buf).as_bytes())
                        }))
                    })
                    .collect()
            })
            .collect()
    })?;
    let mut out = Vec::with_capacity(n);
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// The smallest row with the same hash, for every row (itself for nulls and unique texts).
pub fn exact_roots(hashes: &[Option<u128>]) -> Vec<u32> {
    let mut order: Vec<(u128, u32)> = hashes
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.map(|h| (h, i as u32)))
        .collect();
    order.par_sort_unstable();
    let mut roots: Vec<u32> = (0..hashes.len() as u32).collect();
    let mut start = 0;
    for i in 1..=order.len() {
        if i == order.len() || order[i].0 != order[start].0 {
            let root = order[start].1;
            for &(_, row) in &order[start..i] {
                roots[row as usize] = root;
            }
            start = i;
        }
    }
    roots
}

/// Per-line hashes of every row, for line-level exact dedup across a corpus (CCNet, Dolma):
/// each `\n`-separated line is normalised and hashed with XXH3-64; lines that are blank after
/// normalisation get no hash (they are never removed). Returns CSR `(indptr, line_no, hashes)`:
/// row `i` owns entries `indptr[i]..indptr[i+1]`, `line_no` is the line's index in its row.
///
/// # Errors
/// The lowest row that is not UTF-8; `n_threads == Some(0)`.
pub fn line_hashes<T: Texts + ?Sized>(
    normalizer: Normalizer,
    texts: &T,
    n_threads: Option<usize>,
) -> Result<(Vec<u64>, Vec<u32>, Vec<u64>)> {
    let n = texts.len();
    type Lines = Vec<(u32, u64)>;
    let parts: Vec<Result<Vec<Lines>>> = with_threads(n_threads, || {
        (0..n.div_ceil(64))
            .into_par_iter()
            .map_init(String::new, |buf, c| {
                (c * 64..((c + 1) * 64).min(n))
                    .map(|i| {
                        let mut out = Vec::new();
                        if let Some(t) = texts.get(i)? {
                            for (k, line) in t.split('\n').enumerate() {
                                let norm = normalizer.apply(line, buf);
                                if !norm.trim().is_empty() {
                                    out.push((k as u32, crate::hash::hash64(norm.as_bytes(), 0)));
                                }
                            }
                        }
                        Ok(out)
                    })
                    .collect()
            })
            .collect()
    })?;
    let mut indptr = Vec::with_capacity(n + 1);
    indptr.push(0u64);
    let (mut line_no, mut hashes) = (Vec::new(), Vec::new());
    for p in parts {
        for lines in p? {
            for (k, h) in lines {
                line_no.push(k);
                hashes.push(h);
            }
            indptr.push(hashes.len() as u64);
        }
    }
    Ok((indptr, line_no, hashes))
}

/// For every entry of `hashes` (in corpus order), whether an equal hash occurs earlier: the first
/// occurrence of a line is kept, later ones are duplicates.
pub fn repeated(hashes: &[u64]) -> Vec<bool> {
    let mut order: Vec<(u64, u32)> = hashes
        .iter()
        .enumerate()
        .map(|(i, &h)| (h, i as u32))
        .collect();
    order.par_sort_unstable();
    let mut dup = vec![false; hashes.len()];
    for w in order.windows(2) {
        if w[0].0 == w[1].0 {
            dup[w[1].1 as usize] = true;
        }
    }
    dup
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_share_a_root() {
        let norm = Normalizer {
            lowercase: true,
            fold_whitespace: true,
            ..Normalizer::default()
        };
        let texts = ["A  b", "x", "a b", "", ""];
        let h = text_hashes(norm, &texts[..], Some(2)).unwrap();
        assert_eq!(h[0], h[2]);
        assert_ne!(h[0], h[1]);
        assert_eq!(exact_roots(&h), vec![0, 1, 0, 3, 3]);
        assert_eq!(exact_roots(&[None, None]), vec![0, 1]);
    }

    #[test]
    fn repeated_lines() {
        let norm = Normalizer {
            fold_whitespace: true,
            ..Normalizer::default()
        };
        let texts = ["a\nb\n\n", "b \n c\na", "  \nc"];
        let (indptr, line_no, h) = line_hashes(norm, &texts[..], Some(2)).unwrap();
        assert_eq!(indptr, vec![0, 2, 5, 6]);
        assert_eq!(line_no, vec![0, 1, 0, 1, 2, 1]);
        assert_eq!(repeated(&h), vec![false, false, true, false, true, true]);
    }
}
