// Exact float equality is intended: the same operations must give the same bits.
#![allow(clippy::float_cmp)]

use super::resample::{
    gumbel, sample_with_replacement, select_sequential, sequential_capacities, split_k, Entry, TopK,
};
use super::*;
use crate::ngram::{transform_csr, Analyzer, HashKind};
use crate::text::Normalizer;

fn cfg(hash: HashKind, n_buckets: u32) -> NgramConfig {
    NgramConfig {
        normalizer: Normalizer {
            lowercase: true,
            ..Normalizer::default()
        },
        analyzer: Analyzer::Word,
        min_n: 1,
        max_n: 2,
        n_buckets,
        seed: 0,
        hash,
    }
}

const DOCS: [&str; 6] = [
    "The quick brown fox jumps over the lazy dog.",
    "def f(x): return x + 1  # a Python function",
    "",
    "Importance resampling selects raw documents that look like the target.",
    "import numpy as np; np.log(p + 1e-8)",
    "the the the the fox",
];

fn counts_of(c: &NgramConfig, docs: &[&str]) -> Counts {
    let mut k = Counts::new(c.n_buckets);
    k.add_texts(c, docs, Some(1)).unwrap();
    k
}

#[test]
fn counts_merge_like_one_pass() {
    let c = cfg(HashKind::Xxh3, 97);
    let all = counts_of(&c, &DOCS);
    let mut a = counts_of(&c, &DOCS[..2]);
    a.merge(&counts_of(&c, &DOCS[2..])).unwrap();
    assert_eq!(a, all);
    assert!(a.merge(&Counts::new(3)).is_err());
}

#[test]
fn log_ratio_formula() {
    let c = cfg(HashKind::Sha256Mod, 50);
    let raw = counts_of(&c, &DOCS);
    let tgt = counts_of(&c, &DOCS[1..2]);
    let m =
        ImportanceModel::fit(c, std::slice::from_ref(&tgt), &raw, Smoothing::REFERENCE).unwrap();
    let (rt, tt) = (raw.total() as f64, tgt.total() as f64);
    for b in 0..50 {
        let want =
            (tgt.counts[b] as f64 / tt + 1e-8).ln() - (raw.counts[b] as f64 / rt + 1e-8).ln();
        assert_eq!(m.log_ratio()[b], want);
    }
    let s = Smoothing {
        alpha: 1.0,
        raw: true,
        eps: 0.0,
    };
    let m = ImportanceModel::fit(c, std::slice::from_ref(&tgt), &raw, s).unwrap();
    let want0 = ((tgt.counts[0] as f64 + 1.0) / (tt + 50.0)).ln()
        - ((raw.counts[0] as f64 + 1.0) / (rt + 50.0)).ln();
    assert!((m.log_ratio()[0] - want0).abs() < 1e-12);
    assert!(ImportanceModel::fit(c, &[], &raw, s).is_err());
    let bad = Smoothing {
        alpha: 0.0,
        raw: false,
        eps: 0.0,
    };
    assert!(ImportanceModel::fit(c, &[tgt], &raw, bad).is_err());
}

#[test]
fn weights_are_dot_products_and_thread_free() {
    for hash in [HashKind::Xxh3, HashKind::Sha256Mod] {
        let c = cfg(hash, 64);
        let raw = counts_of(&c, &DOCS);
        let targets = [counts_of(&c, &DOCS[..2]), counts_of(&c, &DOCS[3..])];
        let m = ImportanceModel::fit(c, &targets, &raw, Smoothing::REFERENCE).unwrap();
        let many: Vec<&str> = DOCS.iter().cycle().take(300).copied().collect();
        let (w1, n1) = m.log_weights(&many[..], None, Some(1)).unwrap();
        let (w2, n2) = m.log_weights(&many[..], None, Some(2)).unwrap();
        assert_eq!(w1, w2);
        assert_eq!(n1, n2);
        let csr = transform_csr(&c, &many[..], Some(1)).unwrap();
        assert_eq!(csr.n_tokens, n1);
        for i in 0..many.len() {
            for t in 0..2 {
                let (a, b) = (csr.indptr[i] as usize, csr.indptr[i + 1] as usize);
                let dot: f64 = (a..b)
                    .map(|j| {
                        f64::from(csr.counts[j]) * m.log_ratio()[csr.indices[j] as usize * 2 + t]
                    })
                    .sum();
                let got = w1[i * 2 + t];
                assert!(
                    (got - dot).abs() <= 1e-9 * dot.abs().max(1.0),
                    "{got} vs {dot}"
                );
            }
        }
        // The empty document weighs exactly 0; normalisation divides by the token count.
        assert_eq!(w1[2 * 2], 0.0);
        let (wn, _) = m.log_weights(&many[..], Some(100.0), Some(2)).unwrap();
        assert!((wn[0] - w1[0] / n1[0] as f64 * 100.0).abs() < 1e-9);
        assert!(m.log_weights(&many[..], Some(0.0), Some(2)).is_err());
        assert_eq!(wn[4], 0.0);
    }
}

#[test]
fn kl_reduction_definition() {
    let c = cfg(HashKind::Xxh3, 40);
    let raw = counts_of(&c, &DOCS);
    let tgt = counts_of(&c, &DOCS[1..2]);
    let p = probabilities(&tgt.counts, 0.0);
    let r = probabilities(&raw.counts, 0.0);
    let full = kl_divergence(&p, &r, 1e-10).unwrap();
    let red = kl_reduction(std::slice::from_ref(&tgt), &raw, &tgt).unwrap();
    assert!((red - full).abs() < 1e-12);
    assert!(
        kl_reduction(std::slice::from_ref(&tgt), &raw, &raw)
            .unwrap()
            .abs()
            < 1e-12
    );
}

fn entries(keys: &[f64]) -> Vec<Entry> {
    keys.iter()
        .enumerate()
        .map(|(i, &key)| Entry {
            key,
            id_hash: (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            pos: i as u64,
        })
        .collect()
}

#[test]
fn topk_merge_is_exact_and_order_free() {
    let keys: Vec<f64> = (0..500).map(|i| gumbel(7, 0, i)).collect();
    let es = entries(&keys);
    let mut whole = TopK::new(20);
    for e in &es {
        whole.push(*e);
    }
    let mut brute = es.clone();
    brute.sort_by(|a, b| b.cmp(a));
    brute.truncate(20);
    let want = whole.clone().into_sorted();
    assert_eq!(want, brute);
    // Shards in reverse order, merged.
    let mut merged = TopK::new(20);
    for chunk in es.chunks(37).rev() {
        let mut part = TopK::new(20);
        chunk.iter().rev().for_each(|e| {
            part.push(*e);
        });
        merged.merge(part);
    }
    assert_eq!(merged.seen(), 500);
    assert_eq!(merged.into_sorted(), want);
}

#[test]
fn gumbel_topk_inclusion_matches_exact() {
    // Successive sampling without replacement, k = 2 of 4: exact inclusion probabilities.
    let w = [1.0f64, 2.0, 3.0, 4.0];
    let total: f64 = w.iter().sum();
    let mut exact = [0.0; 4];
    for i in 0..4 {
        for j in 0..4 {
            if i != j {
                let p = w[i] / total * w[j] / (total - w[i]);
                exact[i] += p;
                exact[j] += p;
            }
        }
    }
    let trials = 40_000u64;
    let mut hits = [0u64; 4];
    for seed in 0..trials {
        let mut top = TopK::new(2);
        for (i, wi) in w.iter().enumerate() {
            top.push(Entry {
                key: wi.ln() + gumbel(seed, 0, i as u64),
                id_hash: i as u64,
                pos: i as u64,
            });
        }
        for e in top.into_sorted() {
            hits[e.pos as usize] += 1;
        }
    }
    for i in 0..4 {
        let p = exact[i];
        let f = hits[i] as f64 / trials as f64;
        let sd = (p * (1.0 - p) / trials as f64).sqrt();
        assert!((f - p).abs() < 5.0 * sd, "item {i}: {f} vs exact {p}");
    }
}

#[test]
fn with_replacement_matches_weights() {
    let lw: Vec<f64> = [1.0f64, 2.0, 0.5, 4.0, 2.5, 9.0]
        .iter()
        .map(|w| w.ln())
        .collect();
    let eligible = [true, true, true, true, true, false];
    let k = 60_000;
    let draws = sample_with_replacement(&lw, Some(&eligible), k, 3).unwrap();
    assert_eq!(draws.len(), k);
    assert!(draws.windows(2).all(|p| p[0] <= p[1]));
    let mut obs = [0f64; 6];
    for &i in &draws {
        obs[i as usize] += 1.0;
    }
    assert_eq!(obs[5], 0.0);
    let total = 10.0;
    let chi2: f64 = [1.0, 2.0, 0.5, 4.0, 2.5]
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let e = k as f64 * w / total;
            (obs[i] - e).powi(2) / e
        })
        .sum();
    // 4 degrees of freedom: P(chi2 > 18.47) = 0.001.
    assert!(chi2 < 18.47, "chi2 = {chi2}");
    assert_eq!(
        sample_with_replacement(&lw, Some(&eligible), k, 3).unwrap(),
        draws
    );
    assert!(sample_with_replacement(&lw, Some(&[false; 6]), 1, 3).is_err());
}

#[test]
fn sequential_targets() {
    assert_eq!(split_k(10, &[0.5, 0.25, 0.25]).unwrap(), vec![5, 2, 3]);
    assert_eq!(split_k(7, &[1.0, 2.0]).unwrap(), vec![2, 5]);
    assert!(split_k(7, &[0.0, 0.0]).is_err());
    assert_eq!(sequential_capacities(&[2, 3, 1]), vec![2, 5, 6]);
    // Both targets prefer the same documents: the second one takes the next best.
    let a = entries(&[9.0, 8.0, 7.0, 1.0]);
    let b = entries(&[9.5, 8.5, 1.0, 0.5]);
    let mut sa = a.clone();
    sa.sort_by(|x, y| y.cmp(x));
    let mut sb = b.clone();
    sb.sort_by(|x, y| y.cmp(x));
    let got = select_sequential(&[sa.clone(), sb.clone()], &[2, 2]).unwrap();
    assert_eq!(got, vec![(0, 0), (1, 0), (2, 1), (3, 1)]);
    assert!(select_sequential(&[sa, sb], &[2, 3]).is_err());
}

#[test]
fn tape_gives_the_counts_and_the_weights_bit_for_bit() {
    for (hash, nb) in [(HashKind::Xxh3, 1 << 16), (HashKind::Sha256Mod, 10_000)] {
        let c = cfg(hash, nb);
        let docs: Vec<&str> = DOCS.iter().copied().chain(["x y"]).collect();
        let mut counts = vec![0u64; nb as usize];
        let tape = tape::record(&c, &docs[..], &mut counts, Some(2)).unwrap();
        assert_eq!(counts, counts_of(&c, &docs).counts);
        let raw = counts_of(&c, &DOCS[3..]);
        let tgt = counts_of(&c, &DOCS[..3]);
        let m = ImportanceModel::fit(c, &[tgt.clone(), tgt], &raw, Smoothing::REFERENCE).unwrap();
        for norm in [None, Some(100.0)] {
            let (w, nt) = m.log_weights(&docs[..], norm, Some(1)).unwrap();
            let wt = m
                .log_weights_tape(&tape.ids, &tape.lens, &tape.n_tokens, norm, Some(2))
                .unwrap();
            assert_eq!(w, wt);
            assert_eq!(nt, tape.n_tokens);
        }
        // Lengths that do not add up, an id outside the model, bad length_norm: errors.
        let (ids, lens, nt) = (&tape.ids, &tape.lens, &tape.n_tokens);
        assert!(m
            .log_weights_tape(ids, &lens[1..], &nt[1..], None, None)
            .is_err());
        assert!(m.log_weights_tape(ids, lens, &nt[1..], None, None).is_err());
        if u16::try_from(nb).is_ok() {
            assert!(m
                .log_weights_tape(&[u16::MAX], &[1], &[1], None, None)
                .is_err());
        }
        assert!(m.log_weights_tape(ids, lens, nt, Some(0.0), None).is_err());
        assert!(m
            .log_weights_tape(&[0], &[u64::MAX], &[1], None, None)
            .is_err());
    }
    let mut counts = vec![0u64; 1 << 17];
    assert!(tape::record(&cfg(HashKind::Xxh3, 1 << 17), &DOCS[..], &mut counts, None).is_err());
}

#[test]
fn every_parallel_pass_is_the_same_for_any_thread_count() {
    // 1,000 rows = 16 tasks of 64 rows, split one job each over the threads (PerThread state):
    // counts, tapes, weights, CSR rows, dense rows and token counts do not depend on which
    // thread took which task.
    use crate::ngram::{accumulate, count_tokens, transform_dense};
    let c = cfg(HashKind::Xxh3, 1 << 12);
    let docs: Vec<String> = (0..1000)
        .map(|i| format!("{} row {i} {}", DOCS[i % DOCS.len()], "w ".repeat(i % 37)))
        .collect();
    let docs: Vec<&str> = docs.iter().map(String::as_str).collect();
    let nb = c.n_buckets as usize;
    let raw = counts_of(&c, &docs);
    let m = ImportanceModel::fit(c, &[counts_of(&c, &DOCS)], &raw, Smoothing::REFERENCE).unwrap();
    let (w1, n1) = m.log_weights(&docs[..], None, Some(1)).unwrap();
    let mut one = vec![0u64; nb];
    accumulate(&c, &docs[..], &mut one, Some(1)).unwrap();
    assert_eq!(one, raw.counts);
    let mut tape_counts = vec![0u64; nb];
    let tape1 = tape::record(&c, &docs[..], &mut tape_counts, Some(1)).unwrap();
    assert_eq!(tape_counts, raw.counts);
    let csr1 = transform_csr(&c, &docs[..], Some(1)).unwrap();
    let mut dense1 = vec![0u32; docs.len() * nb];
    let dn1 = transform_dense(&c, &docs[..], &mut dense1, Some(1)).unwrap();
    let tok1 = count_tokens(&c, &docs[..], Some(1)).unwrap();
    assert_eq!(tok1, n1);
    for threads in [2, 3, 4] {
        let mut got = vec![0u64; nb];
        let st = accumulate(&c, &docs[..], &mut got, Some(threads)).unwrap();
        assert_eq!(got, raw.counts, "{threads} threads");
        assert_eq!(st.n_docs, docs.len() as u64);
        assert_eq!(st.n_tokens, n1.iter().sum::<u64>());
        let mut got = vec![0u64; nb];
        let tape = tape::record(&c, &docs[..], &mut got, Some(threads)).unwrap();
        assert_eq!(got, raw.counts);
        assert_eq!(tape, tape1);
        let wt = m
            .log_weights_tape(&tape.ids, &tape.lens, &tape.n_tokens, None, Some(threads))
            .unwrap();
        assert_eq!(wt, w1);
        let (w, n) = m.log_weights(&docs[..], None, Some(threads)).unwrap();
        assert_eq!((w, n), (w1.clone(), n1.clone()));
        assert_eq!(transform_csr(&c, &docs[..], Some(threads)).unwrap(), csr1);
        let mut dense = vec![0u32; docs.len() * nb];
        let dn = transform_dense(&c, &docs[..], &mut dense, Some(threads)).unwrap();
        assert_eq!((dense, dn), (dense1.clone(), dn1.clone()));
        assert_eq!(count_tokens(&c, &docs[..], Some(threads)).unwrap(), tok1);
    }
    // A bucket outside the model in two rows of different tasks: the error is the same whatever
    // the thread count (the lowest task's).
    let mut ids = tape1.ids.clone();
    let late = tape1.lens[..900].iter().sum::<u64>() as usize;
    let early = tape1.lens[..100].iter().sum::<u64>() as usize;
    ids[late] = u16::try_from(nb + 1).unwrap();
    ids[early] = u16::try_from(nb + 5).unwrap();
    for threads in [1, 2, 4] {
        let err = m
            .log_weights_tape(&ids, &tape1.lens, &tape1.n_tokens, None, Some(threads))
            .unwrap_err();
        assert!(
            err.to_string().contains(&format!("bucket {}", nb + 5)),
            "{err}"
        );
    }
}
