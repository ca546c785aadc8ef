//! Profiling driver: `cargo run --profile profiling --example fasttext_predict -- MODEL FILE
//! [REPS] [THREADS]` predicts the top 2 labels of the NUL-separated documents of FILE and prints
//! documents per second (`perf record` / `valgrind --tool=callgrind` this binary).
use std::time::Instant;

use _core::fasttext::FastText;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: fasttext_predict MODEL FILE [REPS] [THREADS]";
    let model = FastText::load(std::path::Path::new(args.get(1).ok_or(usage)?))?;
    let text = std::fs::read_to_string(args.get(2).ok_or(usage)?)?;
    let reps: usize = args.get(3).map_or(Ok(3), |s| s.parse())?;
    let threads: usize = args.get(4).map_or(Ok(1), |s| s.parse())?;
    let docs: Vec<&str> = text.split('\0').collect();
    for _ in 0..reps {
        let t0 = Instant::now();
        let p = model.predict(&docs, 2, 0.0, Some(threads))?;
        let dt = t0.elapsed().as_secs_f64();
        eprintln!(
            "{:.0} docs/s ({} labels)",
            docs.len() as f64 / dt,
            p.labels.len()
        );
    }
    Ok(())
}
