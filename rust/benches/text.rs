//! The tokenizer: normalisation and `\w+|[^\w\s]+` word tokens, one thread.

mod common;

use std::hint::black_box;

use _core::text::{for_each_word_span, word_tokens, Normalizer};
use criterion::{criterion_group, criterion_main, Criterion};

fn tokenizer(c: &mut Criterion) {
    let docs = common::corpus(2_000, 200);
    let mut g = common::group(c, "tokenizer", &docs);
    g.bench_function("word_spans", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for d in &docs {
                for_each_word_span(black_box(d), |_, _| n += 1);
            }
            n
        });
    });
    let lower = Normalizer {
        lowercase: true,
        ..Normalizer::default()
    };
    let full = Normalizer {
        lowercase: true,
        nfkc: true,
        strip_punctuation: true,
        fold_whitespace: true,
    };
    for (name, norm) in [("lowercase+tokens", lower), ("nfkc+all+tokens", full)] {
        g.bench_function(name, |b| {
            let mut buf = String::new();
            b.iter(|| {
                let mut n = 0usize;
                for d in &docs {
                    n += word_tokens(norm.apply(black_box(d), &mut buf)).len();
                }
                n
            });
        });
    }
    g.finish();
}

criterion_group!(benches, tokenizer);
criterion_main!(benches);
