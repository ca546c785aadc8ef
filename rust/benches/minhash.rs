//! MinHash signatures (word 5-gram shingles) per scheme and signature length, one thread.

mod common;

use std::hint::black_box;

use _core::minhash::{MinHasher, Scheme, ShingleConfig};
use _core::ngram::Analyzer;
use _core::rng::SplitMix64;
use _core::Normalizer;
use criterion::{criterion_group, criterion_main, Criterion};

fn hasher(scheme: Scheme) -> MinHasher {
    let shingles = ShingleConfig {
        normalizer: Normalizer {
            lowercase: true,
            ..Normalizer::default()
        },
        analyzer: Analyzer::Word,
        n: 5,
    };
    MinHasher::new(shingles, scheme).expect("valid benchmark parameters")
}

/// datasketch-style `affine32` permutations (odd multipliers), drawn here from a fixed seed.
fn affine32(num_perm: usize) -> Scheme {
    let mut rng = SplitMix64::new(7);
    Scheme::Affine32 {
        a: (0..num_perm).map(|_| (rng.next_u64() as u32) | 1).collect(),
        b: (0..num_perm).map(|_| rng.next_u64() as u32).collect(),
    }
}

fn signatures(c: &mut Criterion) {
    let docs = common::corpus(1_000, 200);
    let texts: Vec<&str> = docs.iter().map(String::as_str).collect();
    let mut g = common::group(c, "minhash", &docs);
    for (name, scheme) in [
        ("fast/128", Scheme::fast(128, 1)),
        ("fast/256", Scheme::fast(256, 1)),
        ("affine32/128", affine32(128)),
    ] {
        let h = hasher(scheme);
        g.bench_function(name, |b| {
            b.iter(|| h.signatures(black_box(texts.as_slice()), Some(1)));
        });
    }
    g.finish();
}

criterion_group!(benches, signatures);
criterion_main!(benches);
