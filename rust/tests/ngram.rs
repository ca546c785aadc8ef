//! Integration and property tests of the featuriser: brute force agreement, thread invariance,
//! and consistency of the three output forms.

use std::collections::BTreeMap;

use _core::hash::{bucket, hash64};
use _core::ngram::{
    accumulate, count_tokens, transform_csr, transform_dense, Analyzer, HashKind, NgramConfig,
};
use _core::text::word_tokens;
use _core::Normalizer;
use proptest::prelude::*;

fn cfg(
    min_n: usize,
    max_n: usize,
    n_buckets: u32,
    seed: u64,
    normalizer: Normalizer,
) -> NgramConfig {
    NgramConfig {
        normalizer,
        analyzer: Analyzer::Word,
        min_n,
        max_n,
        n_buckets,
        seed,
        hash: HashKind::Xxh3,
    }
}

/// The definition, written the slow way: normalise, tokenise, join n tokens with one space.
fn brute(c: &NgramConfig, text: &str) -> BTreeMap<u32, u32> {
    let mut buf = String::new();
    let norm = c.normalizer.apply(text, &mut buf);
    let toks = word_tokens(norm);
    let mut out = BTreeMap::new();
    for n in c.min_n..=c.max_n {
        for w in toks.windows(n) {
            let gram = w.join(" ");
            *out.entry(bucket(hash64(gram.as_bytes(), c.seed), c.n_buckets))
                .or_insert(0) += 1;
        }
    }
    out
}

fn normalizers() -> impl Strategy<Value = Normalizer> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(a, b, c, d)| {
        Normalizer {
            nfkc: a,
            lowercase: b,
            strip_punctuation: c,
            fold_whitespace: d,
        }
    })
}

fn docs() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop_oneof![
            "[a-zA-Z0-9 _.,;:!?()'\t\n-]{0,80}",
            "\\PC{0,40}",
            "(ÀÉÎ|straße|ﬁ|İ|Σ |日本語|  )+{0,5}",
        ],
        0..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn csr_matches_brute_force(texts in docs(), lo in 1usize..4, extra in 0usize..3,
                               nb in 1u32..5000, seed: u64, norm in normalizers()) {
        let c = cfg(lo, lo + extra, nb, seed, norm);
        let csr = transform_csr(&c, &texts, Some(2)).unwrap();
        for (i, t) in texts.iter().enumerate() {
            let (a, b) = (csr.indptr[i] as usize, csr.indptr[i + 1] as usize);
            let got: BTreeMap<u32, u32> =
                csr.indices[a..b].iter().copied().zip(csr.counts[a..b].iter().copied()).collect();
            prop_assert_eq!(got, brute(&c, t));
        }
    }

    #[test]
    fn outputs_agree_and_ignore_thread_count(texts in docs(), nb in 1u32..300, norm in normalizers()) {
        let c = cfg(1, 3, nb, 7, norm);
        let one = transform_csr(&c, &texts, Some(1)).unwrap();
        for threads in [2, 3, 8] {
            prop_assert_eq!(&transform_csr(&c, &texts, Some(threads)).unwrap(), &one);
        }
        let mut dense = vec![0u32; texts.len() * nb as usize];
        let n_tokens = transform_dense(&c, &texts, &mut dense, Some(3)).unwrap();
        prop_assert_eq!(&n_tokens, &one.n_tokens);
        prop_assert_eq!(&count_tokens(&c, &texts, Some(2)).unwrap(), &one.n_tokens);
        let mut sums = vec![0u64; nb as usize];
        for (i, row) in dense.chunks(nb as usize).enumerate() {
            let (a, b) = (one.indptr[i] as usize, one.indptr[i + 1] as usize);
            for (&j, &v) in one.indices[a..b].iter().zip(&one.counts[a..b]) {
                prop_assert_eq!(row[j as usize], v);
            }
            row.iter().zip(sums.iter_mut()).for_each(|(&v, s)| *s += u64::from(v));
        }
        for threads in [1, 2, 5] {
            let mut acc = vec![0u64; nb as usize];
            let st = accumulate(&c, &texts, &mut acc, Some(threads)).unwrap();
            prop_assert_eq!(&acc, &sums);
            prop_assert_eq!(st.n_docs, texts.len() as u64);
            prop_assert_eq!(st.n_ngrams, sums.iter().sum::<u64>());
        }
    }
}

#[test]
fn char_ngrams_are_code_point_windows() {
    let c = NgramConfig {
        analyzer: Analyzer::Char,
        ..cfg(2, 3, 1 << 30, 1, Normalizer::default())
    };
    let text = "añb";
    let csr = transform_csr(&c, &[text][..], Some(1)).unwrap();
    let mut expected: Vec<u32> = ["añ", "ñb", "añb"]
        .iter()
        .map(|g| bucket(hash64(g.as_bytes(), 1), 1 << 30))
        .collect();
    expected.sort_unstable();
    assert_eq!(csr.indices, expected);
    assert_eq!(csr.n_tokens, vec![3]);
}

#[test]
fn wrong_output_sizes_are_errors() {
    let c = cfg(1, 1, 4, 0, Normalizer::default());
    assert!(transform_dense(&c, &["a"][..], &mut [0u32; 3], None).is_err());
    assert!(accumulate(&c, &["a"][..], &mut [0u64; 5], None).is_err());
    let bad = NgramConfig { n_buckets: 0, ..c };
    assert!(transform_csr(&bad, &["a"][..], None).is_err());
}

#[test]
fn huge_bucket_spaces_use_the_sorting_path_with_the_same_result() {
    let texts = ["a b a b a", "", "x y x"];
    for nb in [1 << 20, (1 << 20) + 1, u32::MAX] {
        let c = cfg(1, 2, nb, 3, Normalizer::default());
        let csr = transform_csr(&c, &texts[..], Some(2)).unwrap();
        for (i, t) in texts.iter().enumerate() {
            let (a, b) = (csr.indptr[i] as usize, csr.indptr[i + 1] as usize);
            let got: BTreeMap<u32, u32> = csr.indices[a..b]
                .iter()
                .copied()
                .zip(csr.counts[a..b].iter().copied())
                .collect();
            assert_eq!(got, brute(&c, t));
        }
    }
}
