use super::sample::{bernoulli_probabilities, uniform};
use super::*;
use crate::parallel::Stop;

/// Heavy-tailed rows: Gaussian entries times a Pareto-like row scale, deterministic.
fn matrix(n: usize, d: usize, seed: u64) -> Vec<f64> {
    (0..n * d)
        .map(|k| {
            let i = (k / d) as u64;
            let scale = uniform(seed + 1, i).powf(-0.5);
            scale * sample::normal(seed, k as u64)
        })
        .collect()
}

fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "row {i}: {x} vs {y}"
        );
    }
}

#[test]
fn leverage_sums_to_rank_and_paths_agree() {
    let (n, d) = (300, 6);
    let v = matrix(n, d, 1);
    let a = Matrix::new(Data::F64(&v), n, d).unwrap();
    let lev = leverage_scores(&a, Some(1)).unwrap();
    assert_eq!(lev.solver, Solver::Cholesky);
    assert_eq!(lev.rank, d);
    assert!((lev.scores.iter().sum::<f64>() - d as f64).abs() < 1e-9);
    // Rank-deficient copy: last column = first + second, forces the pivoted-QR route.
    let mut w = v.clone();
    for r in w.chunks_mut(d) {
        r[d - 1] = r[0] + r[1];
    }
    let b = Matrix::new(Data::F64(&w), n, d).unwrap();
    let lb = leverage_scores(&b, Some(2)).unwrap();
    assert_eq!(lb.solver, Solver::Qr);
    assert_eq!(lb.rank, d - 1);
    assert!((lb.scores.iter().sum::<f64>() - (d - 1) as f64).abs() < 1e-8);
    // Its leverage equals that of the first d − 1 columns (same column space).
    let c: Vec<f64> = w.chunks(d).flat_map(|r| r[..d - 1].to_vec()).collect();
    let mc = Matrix::new(Data::F64(&c), n, d - 1).unwrap();
    close(
        &lb.scores,
        &leverage_scores(&mc, None).unwrap().scores,
        1e-9,
    );
}

#[test]
fn f32_input_matches_f64() {
    let (n, d) = (200, 5);
    let v: Vec<f32> = matrix(n, d, 3).iter().map(|&x| x as f32).collect();
    let w: Vec<f64> = v.iter().map(|&x| f64::from(x)).collect();
    let a = leverage_scores(&Matrix::new(Data::F32(&v), n, d).unwrap(), None).unwrap();
    let b = leverage_scores(&Matrix::new(Data::F64(&w), n, d).unwrap(), None).unwrap();
    assert_eq!(a.scores, b.scores);
}

#[test]
fn lewis_fixed_point() {
    let (n, d) = (400, 5);
    let v = matrix(n, d, 5);
    let a = Matrix::new(Data::F64(&v), n, d).unwrap();
    let lev = leverage_scores(&a, None).unwrap().scores;
    let l2 = lewis_weights(&a, 2.0, 1e-10, 50, None, &Stop::default()).unwrap();
    close(&l2.weights, &lev, 1e-12);
    for p in [1.0, 1.5, 3.0] {
        let lw = lewis_weights(&a, p, 1e-10, 200, Some(2), &Stop::default()).unwrap();
        assert!(lw.converged, "p = {p}");
        assert!((lw.weights.iter().sum::<f64>() - d as f64).abs() < 1e-6);
        let scale: Vec<f64> = lw.weights.iter().map(|w| w.powf(0.5 - 1.0 / p)).collect();
        let q = leverage::quadratic_forms(&a, Some(&scale)).scores;
        let again: Vec<f64> = q.iter().map(|q| q.powf(p / 2.0)).collect();
        close(&again, &lw.weights, 1e-8);
    }
    assert!(lewis_weights(&a, 4.0, 1e-8, 10, None, &Stop::default()).is_err());
    assert!(lewis_weights(&a, 0.5, 1e-8, 10, None, &Stop::default()).is_err());
}

#[test]
fn bad_input_is_rejected() {
    let v = vec![1.0, f64::NAN, 0.0, 1.0];
    assert!(Matrix::new(Data::F64(&v), 2, 2).is_err());
    assert!(Matrix::new(Data::F64(&v[..2]), 1, 2).is_err());
    assert!(Matrix::new(Data::F64(&v), 3, 2).is_err());
}

#[test]
fn sketch_is_close_and_deterministic() {
    let (n, d) = (2000, 4);
    let v = matrix(n, d, 7);
    let a = Matrix::new(Data::F64(&v), n, d).unwrap();
    let exact = leverage_scores(&a, None).unwrap().scores;
    let cfg = SketchConfig {
        sketch_rows: None,
        jl_dim: None,
        seed: 9,
    };
    let s1 = sketched_leverage_scores(&a, &cfg, Some(1)).unwrap();
    let s2 = sketched_leverage_scores(&a, &cfg, Some(2)).unwrap();
    assert_eq!(s1.scores, s2.scores);
    for (x, y) in s1.scores.iter().zip(&exact) {
        assert!(*x > 0.3 * y && *x < 3.0 * y, "{x} vs {y}");
    }
}

#[test]
fn bernoulli_probabilities_sum_to_k() {
    let s: Vec<f64> = (0..1000).map(|i| 1.0 + f64::from(i % 97).powi(3)).collect();
    for k in [1, 10, 500, 999, 1000] {
        let p = bernoulli_probabilities(&s, k).unwrap();
        let sum: f64 = p.iter().sum();
        assert!((sum - k as f64).abs() < 1e-8, "k = {k}: {sum}");
        assert!(p.iter().all(|&x| (0.0..=1.0).contains(&x)));
    }
}

#[test]
fn samplers_are_thread_independent_and_sized() {
    let s: Vec<f64> = (0..5000).map(|i| uniform(42, i).powi(4)).collect();
    for m in [Sampler::Iid, Sampler::Bernoulli, Sampler::Priority] {
        let a = sample(&s, 300, m, 7, Some(1)).unwrap();
        let b = sample(&s, 300, m, 7, Some(2)).unwrap();
        assert_eq!(a.indices, b.indices);
        assert_eq!(a.weights, b.weights);
        assert!(a.indices.windows(2).all(|w| w[0] < w[1]));
        if m == Sampler::Priority {
            assert_eq!(a.indices.len(), 300);
        }
    }
    assert!(sample(&s, 5001, Sampler::Iid, 0, None).is_err());
    assert!(sample(&[0.0, 0.0], 1, Sampler::Iid, 0, None).is_err());
}

#[test]
fn scores_do_not_depend_on_scale() {
    let (n, d) = (300, 5);
    let v = matrix(n, d, 9);
    let a = Matrix::new(Data::F64(&v), n, d).unwrap();
    let base = leverage_scores(&a, None).unwrap();
    let lewis = lewis_weights(&a, 1.0, 1e-10, 100, None, &Stop::default()).unwrap();
    for s in [1e-300, 1e-200, 1e-100, 1e100, 1e200, 1e300] {
        let w: Vec<f64> = v.iter().map(|x| x * s).collect();
        let b = Matrix::new(Data::F64(&w), n, d).unwrap();
        let lev = leverage_scores(&b, None).unwrap();
        assert_eq!(lev.rank, d, "scale {s}");
        close(&lev.scores, &base.scores, 1e-9);
        let lw = lewis_weights(&b, 1.0, 1e-10, 100, None, &Stop::default()).unwrap();
        close(&lw.weights, &lewis.weights, 1e-8);
    }
    // Ordinary input keeps the in-place path: no column scales.
    assert!(a.col_scale.is_none());
}

#[test]
fn stop_interrupts_lewis() {
    let (n, d) = (100, 3);
    let v = matrix(n, d, 2);
    let a = Matrix::new(Data::F64(&v), n, d).unwrap();
    let stop = Stop::default();
    stop.request();
    assert!(matches!(
        lewis_weights(&a, 1.0, 1e-8, 10, None, &stop),
        Err(Error::Interrupted)
    ));
}

#[test]
fn f32_forms_match_f64_and_refuse_bad_cases() {
    use super::blocks::{quadratic_forms_f32, Single};
    let (n, d) = (3000, 20);
    let v = matrix(n, d, 4);
    let a = Matrix::new(Data::F64(&v), n, d).unwrap();
    let scale: Vec<f64> = (0..n).map(|i| 0.5 + (i % 7) as f64 / 7.0).collect();
    let single = Single::of(&a).unwrap().unwrap();
    let (q32, cond) = quadratic_forms_f32(&single, &scale).unwrap();
    let q64 = quadratic_forms(&a, Some(&scale)).scores;
    // The error model of the f32 route: about cond · 2^-24 relative, here far below 1e-4.
    for (x, y) in q32.iter().zip(&q64) {
        assert!((x - y).abs() <= 1e-4 * y, "{x} vs {y} (cond {cond})");
    }
    // Rank deficient: no Cholesky, so no f32 result (the f64 route takes the pivoted QR).
    let mut w = v.clone();
    for r in w.chunks_mut(d) {
        r[d - 1] = r[0];
    }
    let b = Matrix::new(Data::F64(&w), n, d).unwrap();
    let sb = Single::of(&b).unwrap().unwrap();
    assert!(quadratic_forms_f32(&sb, &scale).is_none());
    // Entries far from f32's comfortable range: no f32 copy at all.
    let big: Vec<f64> = v.iter().map(|x| x * 1e15).collect();
    let c = Matrix::new(Data::F64(&big), n, d).unwrap();
    assert!(Single::of(&c).unwrap().is_none());
}
