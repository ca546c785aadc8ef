//! The synthetic corpus shared by the benchmarks: seeded, so every run measures the same bytes.

use std::time::Duration;

use _core::rng::SplitMix64;
use criterion::{BenchmarkGroup, Criterion, Throughput};

/// Mostly ASCII words with some accented and CJK ones, punctuation, and a newline now and then,
/// so normalisation and tokenisation take both their ASCII and their Unicode paths.
const VOCAB: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "data",
    "model",
    "token",
    "selection",
    "pre-training",
    "corpus",
    "MinHash",
    "importance",
    "sensitivity",
    "Café",
    "naïve",
    "Straße",
    "数据",
    "模型",
    "déjà",
    "vu",
    "2024",
    "x=1;",
    "(see",
    "above)",
    "—",
    "well,",
    "done.",
    "Hello!",
    "über",
];

/// `n_docs` documents of about `words` words each.
pub fn corpus(n_docs: usize, words: usize) -> Vec<String> {
    let mut rng = SplitMix64::new(42);
    (0..n_docs)
        .map(|_| {
            let len = words / 2 + (rng.next_u64() as usize % words.max(1));
            let mut doc = String::new();
            for w in 0..len {
                if w > 0 {
                    doc.push(if rng.next_u64() % 16 == 0 { '\n' } else { ' ' });
                }
                doc.push_str(VOCAB[rng.next_u64() as usize % VOCAB.len()]);
            }
            doc
        })
        .collect()
}

/// Total UTF-8 bytes of `docs`.
pub fn bytes(docs: &[String]) -> u64 {
    docs.iter().map(|d| d.len() as u64).sum()
}

/// A group that reports bytes per second of `docs`, sized for a small machine (the defaults
/// would take minutes per group on two cores).
pub fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
    docs: &[String],
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(bytes(docs)))
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    g
}
