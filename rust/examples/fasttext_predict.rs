//! Profiling driver: `cargo run --profile profiling --example fasttext_predict -- MODEL FILE
//! [REPS] [THREADS]` predicts the top 2 labels of the NUL-separated documents of FILE and prints
//! documents per second of wall time and, on Linux, per second of the process's CPU time (the
//! figure to compare on a busy machine, where wall time mostly measures waiting for a core);
//! `perf record` / `valgrind --tool=callgrind` this binary.
use std::time::Instant;

use _core::fasttext::FastText;

/// User + system CPU seconds of this process so far (Linux; `None` elsewhere).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: fasttext_predict MODEL FILE [REPS] [THREADS]";
    let model = FastText::load(std::path::Path::new(args.get(1).ok_or(usage)?))?;
    let text = std::fs::read_to_string(args.get(2).ok_or(usage)?)?;
    let reps: usize = args.get(3).map_or(Ok(3), |s| s.parse())?;
    let threads: usize = args.get(4).map_or(Ok(1), |s| s.parse())?;
    let docs: Vec<&str> = text.split('\0').collect();
    for _ in 0..reps {
        let (t0, c0) = (Instant::now(), cpu_seconds());
        let p = model.predict(&docs, 2, 0.0, Some(threads))?;
        let dt = t0.elapsed().as_secs_f64();
        let cpu = c0.zip(cpu_seconds()).map(|(a, b)| b - a);
        eprintln!(
            "{:.0} docs/s wall, {} docs per CPU-second ({} labels)",
            docs.len() as f64 / dt,
            cpu.map_or("?".into(), |c| format!("{:.0}", docs.len() as f64 / c)),
            p.labels.len()
        );
    }
    Ok(())
}
