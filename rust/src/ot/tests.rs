use super::*;

fn points(rows: usize, dim: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..rows * dim)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect()
}

fn cfg(eps: f64, cache_bytes: usize) -> SinkhornConfig {
    SinkhornConfig {
        eps,
        max_iter: 2000,
        tol: 1e-12,
        cache_bytes,
    }
}

/// The textbook iteration on a dense matrix (the oracle).
fn dense(c: &[f64], n: usize, m: usize, a: &[f64], b: &[f64], eps: f64, iters: usize) -> Vec<f64> {
    let mut lu = vec![0.0; n];
    let mut lv = vec![0.0; m];
    for _ in 0..iters {
        for j in 0..m {
            let z: Vec<f64> = (0..n).map(|i| -c[i * m + j] / eps + lu[i]).collect();
            let mx = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            lv[j] = b[j].ln() - (mx + z.iter().map(|v| (v - mx).exp()).sum::<f64>().ln());
        }
        for i in 0..n {
            let z: Vec<f64> = (0..m).map(|j| -c[i * m + j] / eps + lv[j]).collect();
            let mx = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            lu[i] = a[i].ln() - (mx + z.iter().map(|v| (v - mx).exp()).sum::<f64>().ln());
        }
    }
    lu
}

#[test]
fn equals_the_dense_iteration_and_conserves_mass() {
    let (n, m, d) = (700, 13, 5);
    let (x, y) = (points(n, d, 1), points(m, d, 2));
    let a = vec![1.0 / n as f64; n];
    let b = vec![1.0 / m as f64; m];
    let xs = Points::new(&x, n, d, "x").unwrap();
    let ys = Points::new(&y, m, d, "y").unwrap();
    let mut c = vec![0.0; n * m];
    CostBlocks::new(xs, ys, Metric::SqEuclidean)
        .unwrap()
        .fill(0, n, &mut c, 1.0);
    let cf = SinkhornConfig {
        max_iter: 25,
        tol: 0.0,
        ..cfg(0.05, 0)
    };
    let got = sinkhorn_points(
        xs,
        ys,
        &a,
        &b,
        Metric::SqEuclidean,
        &cf,
        Some(2),
        &Stop::default(),
    )
    .unwrap();
    let lu = dense(&c, n, m, &a, &b, 0.05, 25);
    for (f, u) in got.f.iter().zip(&lu) {
        assert!((f - u * 0.05).abs() < 1e-9, "{f} vs {}", u * 0.05);
    }
    let full = sinkhorn_points(
        xs,
        ys,
        &a,
        &b,
        Metric::SqEuclidean,
        &cfg(0.05, 0),
        None,
        &Stop::default(),
    )
    .unwrap();
    assert!(full.converged && full.err < 1e-12);
}

#[test]
fn same_bits_for_any_thread_count_cached_or_streamed() {
    let (n, m, d) = (1000, 17, 8);
    let (x, y) = (points(n, d, 3), points(m, d, 4));
    let xs = Points::new(&x, n, d, "x").unwrap();
    let ys = Points::new(&y, m, d, "y").unwrap();
    let a = vec![1.0 / n as f64; n];
    let b: Vec<f64> = (1..=m)
        .map(|j| j as f64 / (m * (m + 1) / 2) as f64)
        .collect();
    let run = |threads, cache| {
        sinkhorn_points(
            xs,
            ys,
            &a,
            &b,
            Metric::Cosine,
            &cfg(0.01, cache),
            Some(threads),
            &Stop::default(),
        )
        .unwrap()
    };
    let base = run(1, usize::MAX);
    for (t, cache) in [(2, usize::MAX), (3, 0), (1, 0)] {
        let other = run(t, cache);
        assert_eq!(other.f, base.f);
        assert_eq!(other.g, base.g);
        assert_eq!(other.cost.to_bits(), base.cost.to_bits());
    }
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let x = points(4, 2, 5);
    let xs = Points::new(&x, 4, 2, "x").unwrap();
    let stop = Stop::default();
    let a = [0.25; 4];
    assert!(Points::new(&x, 3, 2, "x").is_err());
    assert!(sinkhorn_points(
        xs,
        xs,
        &a,
        &a,
        Metric::SqEuclidean,
        &cfg(0.0, 0),
        None,
        &stop
    )
    .is_err());
    assert!(sinkhorn_points(
        xs,
        xs,
        &[0.5, 0.5, 0.0, 0.0],
        &a,
        Metric::SqEuclidean,
        &cfg(1.0, 0),
        None,
        &stop
    )
    .is_err());
    assert!(sinkhorn_points(
        xs,
        xs,
        &a[..3],
        &a,
        Metric::SqEuclidean,
        &cfg(1.0, 0),
        None,
        &stop
    )
    .is_err());
    let zeros = [0.0; 8];
    let zs = Points::new(&zeros, 4, 2, "y").unwrap();
    assert!(sinkhorn_points(xs, zs, &a, &a, Metric::Cosine, &cfg(1.0, 0), None, &stop).is_err());
    let nan = [f64::NAN, 0.0];
    assert!(Points::new(&nan, 1, 2, "x").is_err());
}

#[test]
fn fused_sums_underflow_where_the_exact_pass_does_not() {
    // Column 1 is ~exp(-3000) against column 0 in every row: the plan's column sum underflows
    // (the solver then redoes the pass exactly), its log-sum-exp does not.
    let (n, m) = (300, 2);
    let c: Vec<f64> = (0..n)
        .flat_map(|i| [i as f64 / n as f64, 30.0 + i as f64 / n as f64])
        .collect();
    let cost = Cost::Given(&c, m, 0.01);
    let a = vec![1.0 / n as f64; n];
    let log_a: Vec<f64> = a.iter().map(|v| v.ln()).collect();
    let log_v = [0.0, 0.0];
    let (mut u1, mut u2) = (vec![0.0; n], vec![0.0; n]);
    let sums = pass_fused(&cost, &a, &log_a, &mut u1, &log_v);
    assert!(sums[1] < FUSED_MIN && sums[0] > 0.99);
    let exact = pass_exact(&cost, &log_a, &mut u2, Some(&log_v));
    assert!(exact[1].is_finite() && exact[1] < -2900.0);
    assert_eq!(u1, u2);
    assert!((exact[0] - (sums[0].ln() - log_v[0])).abs() < 1e-12);
}
