//! Invariants of `balance` on random inputs: entry matching equal to a brute-force search and the
//! same for any thread count, the balancing draw the same for any thread count and any split of
//! the documents into shards, and the lazy greedy equal to the plain greedy.

use _core::balance::draw::balance;
use _core::balance::entries::{EntryMatcher, MatchOptions};
use _core::balance::mig::{greedy, lazy_greedy, Phi};
use _core::balance::CsrView;
use _core::Normalizer;
use proptest::prelude::*;

fn is_word(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Occurrences of each entry in `text` by trying every start position (ASCII texts).
fn brute(entries: &[String], text: &str, word_boundary: bool) -> Vec<(u32, u32)> {
    let t = text.to_lowercase();
    let mut out = Vec::new();
    for (e, raw) in entries.iter().enumerate() {
        let p = raw.to_lowercase();
        let n = (0..t.len())
            .filter(|&s| t[s..].starts_with(&p))
            .filter(|&s| {
                !word_boundary
                    || (!is_word(t[..s].chars().next_back())
                        && !is_word(t[s + p.len()..].chars().next()))
            })
            .count();
        if n > 0 {
            out.push((e as u32, n as u32));
        }
    }
    out
}

fn dedup_lower(v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    v.into_iter()
        .filter(|e| seen.insert(e.to_lowercase()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn matching_is_brute_force_and_thread_free(
        entries in proptest::collection::vec("[abAB _.]{1,3}", 1..8),
        texts in proptest::collection::vec("[abAB _.]{0,40}", 0..30),
        word_boundary in any::<bool>(),
    ) {
        let entries = dedup_lower(entries);
        let opts = MatchOptions {
            normalizer: Normalizer { lowercase: true, ..Normalizer::default() },
            word_boundary,
        };
        let m = EntryMatcher::new(&entries, opts).unwrap();
        let one = m.match_texts(&texts, Some(1)).unwrap();
        let many = m.match_texts(&texts, Some(3)).unwrap();
        prop_assert_eq!(&one, &many);
        for (i, t) in texts.iter().enumerate() {
            let (a, b) = (one.csr.indptr[i] as usize, one.csr.indptr[i + 1] as usize);
            let row: Vec<(u32, u32)> = one.csr.indices[a..b]
                .iter()
                .copied()
                .zip(one.csr.values[a..b].iter().copied())
                .collect();
            prop_assert_eq!(row, brute(&entries, t, word_boundary));
        }
    }

    #[test]
    fn balancing_is_shard_and_thread_free(
        rows in proptest::collection::vec(proptest::collection::btree_set(0u32..6, 0..4), 1..200),
        t in 0.5f64..20.0,
        seed in any::<u64>(),
        split in 0usize..200,
    ) {
        let mut indptr = vec![0i64];
        let mut indices = Vec::new();
        let mut counts = vec![0u64; 6];
        for r in &rows {
            for &e in r {
                indices.push(e);
                counts[e as usize] += 1;
            }
            indptr.push(indices.len() as i64);
        }
        let values = vec![1u32; indices.len()];
        let keys: Vec<u64> = (0..6).map(|e| 1000 + e).collect();
        let ids: Vec<u64> = (0..rows.len() as u64).map(|i| i.wrapping_mul(0x9E37_79B9)).collect();
        let m = CsrView::new("matches", &indptr, &indices, &values, 6).unwrap();
        let all = balance(m, &counts, &keys, &ids, t, seed, false, Some(1)).unwrap();
        prop_assert_eq!(&all, &balance(m, &counts, &keys, &ids, t, seed, false, Some(4)).unwrap());
        // Two shards, each with the corpus-wide counts: the same decisions.
        let s = split.min(rows.len());
        let cut = indptr[s];
        let ip1: Vec<i64> = indptr[..=s].to_vec();
        let ip2: Vec<i64> = indptr[s..].iter().map(|p| p - cut).collect();
        let (i1, i2) = indices.split_at(cut as usize);
        let (v1, v2) = values.split_at(cut as usize);
        let a = balance(CsrView::new("m", &ip1, i1, v1, 6).unwrap(), &counts, &keys, &ids[..s], t, seed, false, None).unwrap();
        let b = balance(CsrView::new("m", &ip2, i2, v2, 6).unwrap(), &counts, &keys, &ids[s..], t, seed, false, None).unwrap();
        prop_assert_eq!([a.keep, b.keep].concat(), all.keep);
    }

    #[test]
    fn lazy_greedy_is_greedy(
        rows in proptest::collection::vec(proptest::collection::btree_map(0u32..5, 0u8..4, 0..4), 1..40),
        k in 0usize..40,
        alpha in 0.3f64..1.0,
    ) {
        let mut indptr = vec![0i64];
        let (mut indices, mut values) = (Vec::new(), Vec::new());
        for r in &rows {
            for (&j, &v) in r {
                indices.push(j);
                values.push(f64::from(v));
            }
            indptr.push(indices.len() as i64);
        }
        let k = k.min(rows.len());
        let w = CsrView::new("weights", &indptr, &indices, &values, 5).unwrap();
        for phi in [Phi::Power(alpha), Phi::Log1p] {
            let plain = greedy(w, phi, k, Some(2)).unwrap();
            let lazy = lazy_greedy(w, phi, k, None).unwrap();
            prop_assert_eq!(&plain.order, &lazy.order);
            prop_assert_eq!(plain.gains, lazy.gains);
        }
    }
}
