//! Profiling driver: `cargo run --release --example featurize -- FILE [REPS]` featurises the
//! NUL-separated documents of FILE (unigram+bigram, 10,000 buckets) and prints MB/s.
use std::time::Instant;

use _core::ngram::{accumulate, Analyzer, HashKind, NgramConfig};
use _core::Normalizer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).ok_or("usage: featurize FILE [REPS]")?;
    let reps: usize = args.get(2).map_or(Ok(3), |s| s.parse())?;
    let text = std::fs::read_to_string(path)?;
    let docs: Vec<&str> = text.split('\0').collect();
    let cfg = NgramConfig {
        normalizer: Normalizer {
            lowercase: true,
            ..Normalizer::default()
        },
        analyzer: Analyzer::Word,
        min_n: 1,
        max_n: 2,
        n_buckets: 10_000,
        seed: 0,
        hash: HashKind::Xxh3,
    };
    let mut counts = vec![0u64; 10_000];
    for _ in 0..reps {
        let t0 = Instant::now();
        accumulate(&cfg, &docs, &mut counts, Some(1))?;
        let dt = t0.elapsed().as_secs_f64();
        eprintln!("{:.1} MB/s", text.len() as f64 / 1e6 / dt);
    }
    Ok(())
}
