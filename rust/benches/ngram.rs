//! The featuriser: hashed word n-gram counts (CSR, and the streaming accumulator), one thread.

mod common;

use std::hint::black_box;

use _core::ngram::{accumulate, transform_csr, Analyzer, HashKind, NgramConfig};
use _core::Normalizer;
use criterion::{criterion_group, criterion_main, Criterion};

fn config(analyzer: Analyzer, max_n: usize) -> NgramConfig {
    NgramConfig {
        normalizer: Normalizer {
            lowercase: true,
            ..Normalizer::default()
        },
        analyzer,
        min_n: 1,
        max_n,
        n_buckets: 10_000,
        seed: 0,
        hash: HashKind::Xxh3,
    }
}

fn featurizer(c: &mut Criterion) {
    let docs = common::corpus(2_000, 200);
    let texts: Vec<&str> = docs.iter().map(String::as_str).collect();
    let mut g = common::group(c, "featurizer", &docs);
    for (name, cfg) in [
        ("csr/word1-2", config(Analyzer::Word, 2)),
        ("csr/char1-3", config(Analyzer::Char, 3)),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| transform_csr(&cfg, black_box(texts.as_slice()), Some(1)));
        });
    }
    let cfg = config(Analyzer::Word, 2);
    let mut counts = vec![0u64; cfg.n_buckets as usize];
    g.bench_function("accumulate/word1-2", |b| {
        b.iter(|| accumulate(&cfg, black_box(texts.as_slice()), &mut counts, Some(1)));
    });
    g.finish();
}

criterion_group!(benches, featurizer);
criterion_main!(benches);
