#![allow(clippy::many_single_char_names)]

use super::*;
use crate::rng::SplitMix64;

/// A random sparse problem: `n` rows, `d` features, labels from a planted linear model.
fn problem(
    n: usize,
    d: usize,
    classes: u32,
    seed: u64,
) -> (Vec<i64>, Vec<u32>, Vec<f64>, Vec<u32>) {
    let mut rng = SplitMix64::new(seed);
    let (mut indptr, mut indices, mut values, mut y) = (vec![0i64], vec![], vec![], vec![]);
    for _ in 0..n {
        let mut row: Vec<u32> = (0..d as u32).filter(|_| rng.next_f64() < 0.3).collect();
        row.dedup();
        let mut score = vec![0.0; classes as usize];
        for &j in &row {
            let v = rng.next_f64() + 0.1;
            indices.push(j);
            values.push(v);
            score[(j % classes) as usize] += v;
        }
        let noise = rng.next_f64();
        let best = (0..classes as usize)
            .max_by(|&a, &b| score[a].total_cmp(&score[b]))
            .unwrap_or(0);
        y.push(if noise < 0.2 {
            (best as u32 + 1) % classes
        } else {
            best as u32
        });
        indptr.push(indices.len() as i64);
    }
    (indptr, indices, values, y)
}

fn params(l2: f64) -> FitParams {
    FitParams {
        l2,
        fit_intercept: true,
        tol: 1e-10,
        max_iter: 500,
        memory: 10,
    }
}

#[test]
fn gradient_matches_finite_differences() {
    for classes in [2u32, 4] {
        let (ip, ix, v, y) = problem(40, 7, classes, 3);
        let x = CsrView::new(&ip, &ix, &v, 7).unwrap();
        let k = if classes == 2 { 1 } else { classes as usize };
        let sw: Vec<f64> = (0..40).map(|i| 1.0 + f64::from(i % 3)).collect();
        let total: f64 = sw.iter().sum();
        let obj = Objective {
            x,
            xt: Csc::of(&x).unwrap(),
            y: &y,
            sw: sw.iter().map(|w| w / total).collect(),
            k,
            l2: 0.1,
            fit_intercept: true,
            n_threads: Some(2),
        };
        let n_params = 7 * k + k;
        let mut rng = SplitMix64::new(9);
        let w: Vec<f64> = (0..n_params).map(|_| rng.next_f64() - 0.5).collect();
        let (mut r, mut l) = (vec![0.0; 40 * k], vec![0.0; 40]);
        let mut g = vec![0.0; n_params];
        obj.eval(&w, &mut g, &mut r, &mut l).unwrap();
        for p in 0..n_params {
            let h = 1e-6;
            let mut wp = w.clone();
            wp[p] += h;
            let mut wm = w.clone();
            wm[p] -= h;
            let mut scratch = vec![0.0; n_params];
            let fp = obj.eval(&wp, &mut scratch, &mut r, &mut l).unwrap();
            let fm = obj.eval(&wm, &mut scratch, &mut r, &mut l).unwrap();
            let fd = (fp - fm) / (2.0 * h);
            assert!((fd - g[p]).abs() < 1e-6, "param {p}: {fd} vs {}", g[p]);
        }
    }
}

#[test]
fn fit_reaches_a_stationary_point_and_is_thread_independent() {
    for classes in [2u32, 3] {
        let (ip, ix, v, y) = problem(300, 20, classes, 7);
        let x = CsrView::new(&ip, &ix, &v, 20).unwrap();
        let sw = vec![1.0; 300];
        let stop = Stop::default();
        let (m1, r1) = fit(&x, &y, &sw, classes as usize, &params(0.01), Some(1), &stop).unwrap();
        assert!(r1.converged, "{r1:?}");
        assert!(r1.grad_max < 1e-6, "{r1:?}");
        for t in [2, 3] {
            let (mt, rt) =
                fit(&x, &y, &sw, classes as usize, &params(0.01), Some(t), &stop).unwrap();
            assert_eq!(m1, mt);
            assert_eq!(r1, rt);
        }
        // Decision values equal a dense product.
        let dec = m1.decision(&x, Some(2)).unwrap();
        let k = m1.n_outputs;
        for i in 0..300 {
            for c in 0..k {
                let mut z = m1.intercept[c];
                for p in ip[i] as usize..ip[i + 1] as usize {
                    z += m1.coef[ix[p] as usize * k + c] * v[p];
                }
                assert!((z - dec[i * k + c]).abs() < 1e-12);
            }
        }
    }
}

#[test]
fn weighting_logs_and_normalises_rows() {
    let v = weigh(
        &[0, 2, 2, 3],
        &[1, 3, 5],
        Weighting {
            log: true,
            l2_normalize: true,
        },
    )
    .unwrap();
    let (a, b) = (2f64.ln(), 4f64.ln());
    let n = (a * a + b * b).sqrt();
    assert!((v[0] - a / n).abs() < 1e-15 && (v[1] - b / n).abs() < 1e-15);
    assert!((v[2] - 1.0).abs() < 1e-15);
    let raw = weigh(
        &[0, 1],
        &[4],
        Weighting {
            log: false,
            l2_normalize: false,
        },
    )
    .unwrap();
    assert_eq!(raw, vec![4.0]);
}

#[test]
fn bad_inputs_are_errors() {
    let stop = Stop::default();
    assert!(CsrView::new(&[1, 2], &[0], &[1.0], 3).is_err());
    assert!(CsrView::new(&[0, 1], &[5], &[1.0], 3).is_err());
    assert!(CsrView::new(&[0, 1], &[0], &[f64::NAN], 3).is_err());
    assert!(CsrView::new(&[0, 2, 1], &[0], &[1.0], 3).is_err());
    let x = CsrView::new(&[0, 1, 2], &[0, 1], &[1.0, 1.0], 3).unwrap();
    let p = params(0.1);
    assert!(fit(&x, &[0, 2], &[1.0, 1.0], 2, &p, None, &stop).is_err());
    assert!(fit(&x, &[0, 1], &[1.0, -1.0], 2, &p, None, &stop).is_err());
    assert!(fit(&x, &[0, 1], &[0.0, 0.0], 2, &p, None, &stop).is_err());
    assert!(fit(&x, &[0, 1], &[1.0], 2, &p, None, &stop).is_err());
    assert!(fit(&x, &[0, 0], &[1.0, 1.0], 1, &p, None, &stop).is_err());
    assert!(fit(&x, &[0, 1], &[1.0, 1.0], 2, &params(-1.0), None, &stop).is_err());
    let stopped = Stop::default();
    stopped.request();
    assert!(matches!(
        fit(&x, &[0, 1], &[1.0, 1.0], 2, &p, None, &stopped),
        Err(Error::Interrupted)
    ));
    assert!(LinearModel::new(3, 1, vec![0.0; 2], vec![0.0]).is_err());
}
