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
}
