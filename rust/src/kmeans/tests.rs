use super::merge::{cut, linkage, Linkage};
use super::semdedup::{semdedup, Priority, Rule};
use super::*;

/// Gaussian blobs around `k` random centres, deterministic.
fn blobs(n: usize, d: usize, k: usize, seed: u64) -> Vec<f32> {
    let centres: Vec<f64> = (0..k * d)
        .map(|i| 10.0 * rng::normal(seed, i as u64))
        .collect();
    (0..n * d)
        .map(|t| {
            let (i, j) = (t / d, t % d);
            let c = i % k;
            (centres[c * d + j] + rng::normal(seed + 1, t as u64)) as f32
        })
        .collect()
}

fn cfg(k: usize, init: Init, algorithm: Algorithm) -> Config {
    Config {
        k,
        metric: Metric::L2,
        init,
        algorithm,
        max_iter: 50,
        tol: 0.0,
        n_init: 1,
        seed: 7,
    }
}

#[test]
fn same_bits_for_any_thread_count() {
    let (n, d) = (3000, 12);
    let x = blobs(n, d, 9, 1);
    let rows = Rows::new(&x, n, d, "X").unwrap();
    for alg in [Algorithm::Lloyd, Algorithm::MiniBatch { batch_size: 256 }] {
        for init in [Init::KMeansPlusPlus, Init::Random] {
            let c = cfg(9, init, alg);
            let a = fit(&rows, &c, Some(1), &Stop::default()).unwrap();
            let b = fit(&rows, &c, Some(3), &Stop::default()).unwrap();
            assert_eq!(a.centroids, b.centroids);
            assert_eq!(a.labels, b.labels);
            assert_eq!(a.inertia.to_bits(), b.inertia.to_bits());
        }
    }
}

#[test]
fn labels_and_inertia_match_brute_force() {
    let (n, d) = (700, 5);
    let x = blobs(n, d, 4, 2);
    let rows = Rows::new(&x, n, d, "X").unwrap();
    let f = fit(
        &rows,
        &cfg(4, Init::KMeansPlusPlus, Algorithm::Lloyd),
        None,
        &Stop::default(),
    )
    .unwrap();
    let mut total = 0.0;
    for i in 0..n {
        let dists: Vec<f64> = (0..4)
            .map(|j| {
                (0..d)
                    .map(|t| (f64::from(x[i * d + t]) - f64::from(f.centroids[j * d + t])).powi(2))
                    .sum()
            })
            .collect();
        let best = (0..4)
            .min_by(|&a, &b| dists[a].total_cmp(&dists[b]))
            .unwrap();
        assert_eq!(f.labels[i] as usize, best);
        total += dists[best];
    }
    assert!((total - f.inertia).abs() <= 1e-3 * total);
    // Well-separated blobs: every true blob is one cluster.
    for i in 4..n {
        assert_eq!(f.labels[i], f.labels[i % 4]);
    }
    let a = assign(
        &rows,
        &Rows::new(&f.centroids, 4, d, "c").unwrap(),
        Metric::L2,
        None,
    )
    .unwrap();
    assert_eq!(a.labels, f.labels);
}

#[test]
fn bad_parameters_are_errors() {
    let x = [0.0f32; 6];
    let rows = Rows::new(&x, 3, 2, "X").unwrap();
    let mut c = cfg(4, Init::Random, Algorithm::Lloyd);
    assert!(fit(&rows, &c, None, &Stop::default()).is_err());
    c.k = 2;
    let r = fit(
        &rows,
        &Config {
            metric: Metric::Cosine,
            ..c.clone()
        },
        None,
        &Stop::default(),
    );
    assert!(r.unwrap_err().to_string().contains("row 0 has norm 0"));
    assert!(Rows::new(&[f32::NAN, 0.0], 1, 2, "X").is_err());
    // Identical rows with k > distinct values: no panic.
    assert!(fit(&rows, &c, None, &Stop::default()).is_ok());
}

#[test]
fn ward_merges_and_cuts() {
    // Two tight pairs far apart.
    let c = [0.0, 0.0, 0.1, 0.0, 10.0, 0.0, 10.2, 0.0];
    let m = linkage(&c, 4, 2, None, Linkage::Ward).unwrap();
    assert_eq!((m[0].a, m[0].b), (0, 1));
    assert!((m[0].distance - 0.1).abs() < 1e-12);
    assert_eq!((m[1].a, m[1].b), (2, 3));
    assert_eq!((m[2].a, m[2].b), (4, 5));
    assert_eq!(cut(&m, 4, Some(2), None).unwrap(), vec![0, 0, 1, 1]);
    assert_eq!(cut(&m, 4, None, Some(0.15)).unwrap(), vec![0, 0, 1, 2]);
}

#[test]
fn semdedup_matches_brute_force() {
    let (n, d) = (600, 4);
    // Near-duplicates: every row has a twin a little away.
    let base = blobs(n / 2, d, 3, 5);
    let mut x = base.clone();
    x.extend(
        base.iter()
            .enumerate()
            .map(|(t, v)| v + 0.01 * rng::normal(9, t as u64) as f32),
    );
    let rows = Rows::new(&x, n, d, "X").unwrap();
    let labels: Vec<u32> = (0..n).map(|i| (i % 3) as u32).collect();
    let score: Vec<f64> = (0..n).map(|i| rng::uniform(3, i as u64)).collect();
    let tie: Vec<u64> = (0..n as u64).collect();
    for rule in [Rule::Paper, Rule::Kept] {
        let out = semdedup(
            &rows,
            &labels,
            Priority::Score(&score),
            &tie,
            0.01,
            rule,
            Some(2),
            &Stop::default(),
        )
        .unwrap();
        let unit = |i: usize| {
            let r: Vec<f64> = x[i * d..(i + 1) * d]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            let s = r.iter().map(|v| v * v).sum::<f64>().sqrt();
            r.into_iter().map(|v| v / s).collect::<Vec<_>>()
        };
        for c in 0..3u32 {
            let mut m: Vec<usize> = (0..n).filter(|&i| labels[i] == c).collect();
            m.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
            let mut kept: Vec<usize> = Vec::new();
            for (p, &j) in m.iter().enumerate() {
                let earlier = if rule == Rule::Paper {
                    &m[..p]
                } else {
                    &kept[..]
                };
                let mx = earlier
                    .iter()
                    .map(|&i| unit(i).iter().zip(unit(j)).map(|(a, b)| a * b).sum::<f64>())
                    .fold(f64::NEG_INFINITY, f64::max);
                let keep = mx < 0.99;
                assert_eq!(out.keep[j], keep, "row {j}");
                if keep {
                    kept.push(j);
                }
            }
        }
        assert!(out.keep.iter().filter(|&&k| !k).count() > 100);
    }
}
