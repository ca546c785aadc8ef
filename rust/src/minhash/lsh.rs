//! LSH banding: `(bands, rows)` for a Jaccard threshold, band keys and candidate pairs.
//!
//! [`optimal_params`] is datasketch's `_optimal_param`: a grid search over `b in 1..=num_perm`,
//! `r in 1..=num_perm/b` minimising `fp_weight * FP(b, r) + fn_weight * FN(b, r)`, where FP is the
//! integral of the banding S-curve `1 - (1 - s^r)^b` over `[0, threshold]` and FN the integral of its
//! complement over `[threshold, 1]`. datasketch integrates with `scipy.integrate.quad` (QUADPACK
//! QAGS, default tolerances 1.49e-8); we port QUADPACK's 21-point Gauss–Kronrod rule with its error
//! estimate and the same tolerances, bisecting the worst interval while the error is too large.
//! The first (smallest `b`, then `r`) strict minimum wins, as in datasketch. The test suite checks
//! the result against datasketch on a grid of thresholds, `num_perm` and weights.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::hash::hash64;
use crate::parallel::Stop;

/// Banding parameters: `bands` bands of `rows` consecutive signature slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LshParams {
    /// Number of bands (`b`).
    pub bands: usize,
    /// Slots per band (`r`).
    pub rows: usize,
}

impl LshParams {
    /// Checks `bands >= 1`, `rows >= 1` and `bands * rows <= num_perm`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `num_bands`/`rows`.
    pub fn validate(&self, num_perm: usize) -> Result<()> {
        if self.bands == 0 {
            return Err(Error::param("num_bands", "must be >= 1, got 0"));
        }
        if self.rows == 0 {
            return Err(Error::param("rows", "must be >= 1, got 0"));
        }
        if self.bands.saturating_mul(self.rows) > num_perm {
            return Err(Error::param(
                "num_bands",
                format!(
                    "num_bands * rows must be <= num_perm={num_perm}, got {} * {} = {}",
                    self.bands,
                    self.rows,
                    self.bands.saturating_mul(self.rows)
                ),
            ));
        }
        Ok(())
    }

    /// Probability that a pair with Jaccard `s` shares at least one band: `1 - (1 - s^r)^b`.
    pub fn collision_probability(&self, s: f64) -> f64 {
        1.0 - (1.0 - s.powf(self.rows as f64)).powf(self.bands as f64)
    }
}

// QUADPACK qk21 nodes and weights (Piessens et al. 1983), with QUADPACK's published digits.
#[allow(clippy::excessive_precision)]
const XGK: [f64; 11] = [
    0.995_657_163_025_808_080_735_527_280_689_003,
    0.973_906_528_517_171_720_077_964_012_084_452,
    0.930_157_491_355_708_226_001_207_180_059_508,
    0.865_063_366_688_984_510_732_096_688_423_493,
    0.780_817_726_586_416_897_063_717_578_345_042,
    0.679_409_568_299_024_406_234_327_365_114_874,
    0.562_757_134_668_604_683_339_000_099_272_694,
    0.433_395_394_129_247_190_799_265_943_165_784,
    0.294_392_862_701_460_198_131_126_603_103_866,
    0.148_874_338_981_631_210_884_826_001_129_720,
    0.0,
];
#[allow(clippy::excessive_precision)]
const WGK: [f64; 11] = [
    0.011_694_638_867_371_874_278_064_396_062_192,
    0.032_558_162_307_964_727_478_818_972_459_390,
    0.054_755_896_574_351_996_031_381_300_244_580,
    0.075_039_674_810_919_952_767_043_140_916_190,
    0.093_125_454_583_697_605_535_065_465_083_366,
    0.109_387_158_802_297_641_899_210_590_325_805,
    0.123_491_976_262_065_851_077_208_686_690_983,
    0.134_709_217_311_473_325_928_054_001_771_707,
    0.142_775_938_577_060_080_797_094_273_138_717,
    0.147_739_104_901_338_491_374_841_515_972_068,
    0.149_445_554_002_916_905_664_936_468_389_821,
];
#[allow(clippy::excessive_precision)]
const WG: [f64; 5] = [
    0.066_671_344_308_688_137_593_568_809_893_332,
    0.149_451_349_150_580_593_145_776_339_657_697,
    0.219_086_362_515_982_043_995_534_934_228_163,
    0.269_266_719_309_996_355_091_226_921_569_469,
    0.295_524_224_714_752_870_173_892_994_651_338,
];

/// QUADPACK `qk21`: (integral, error estimate) of `f` over `[a, b]`. Written as the Fortran is
/// (names, index loops) so that it can be checked against it line by line.
#[allow(clippy::many_single_char_names, clippy::needless_range_loop)]
fn qk21(f: &impl Fn(f64) -> f64, a: f64, b: f64) -> (f64, f64) {
    let epmach = f64::EPSILON;
    let uflow = f64::MIN_POSITIVE;
    let centr = 0.5 * (a + b);
    let hlgth = 0.5 * (b - a);
    let dhlgth = hlgth.abs();
    let mut resg = 0.0;
    let fc = f(centr);
    let mut resk = WGK[10] * fc;
    let mut resabs = resk.abs();
    let mut fv1 = [0.0; 10];
    let mut fv2 = [0.0; 10];
    for j in 0..5 {
        let jtw = 2 * j + 1;
        let absc = hlgth * XGK[jtw];
        let (f1, f2) = (f(centr - absc), f(centr + absc));
        fv1[jtw] = f1;
        fv2[jtw] = f2;
        let fsum = f1 + f2;
        resg += WG[j] * fsum;
        resk += WGK[jtw] * fsum;
        resabs += WGK[jtw] * (f1.abs() + f2.abs());
    }
    for j in 0..5 {
        let jtwm1 = 2 * j;
        let absc = hlgth * XGK[jtwm1];
        let (f1, f2) = (f(centr - absc), f(centr + absc));
        fv1[jtwm1] = f1;
        fv2[jtwm1] = f2;
        let fsum = f1 + f2;
        resk += WGK[jtwm1] * fsum;
        resabs += WGK[jtwm1] * (f1.abs() + f2.abs());
    }
    let reskh = resk * 0.5;
    let mut resasc = WGK[10] * (fc - reskh).abs();
    for j in 0..10 {
        resasc += WGK[j] * ((fv1[j] - reskh).abs() + (fv2[j] - reskh).abs());
    }
    let result = resk * hlgth;
    resabs *= dhlgth;
    resasc *= dhlgth;
    let mut abserr = ((resk - resg) * hlgth).abs();
    if resasc != 0.0 && abserr != 0.0 {
        abserr = resasc * (200.0 * abserr / resasc).powf(1.5).min(1.0);
    }
    if resabs > uflow / (50.0 * epmach) {
        abserr = (epmach * 50.0 * resabs).max(abserr);
    }
    (result, abserr)
}

/// Adaptive Gauss–Kronrod integration with scipy's default tolerances and interval limit.
#[allow(clippy::many_single_char_names)]
fn integrate(f: impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    const EPS: f64 = 1.49e-8;
    const LIMIT: usize = 50;
    let (r0, e0) = qk21(&f, a, b);
    let mut intervals = vec![(a, b, r0, e0)];
    let (mut result, mut err) = (r0, e0);
    while err > EPS.max(EPS * result.abs()) && intervals.len() < LIMIT {
        let (i, _) = intervals
            .iter()
            .enumerate()
            .fold((0, f64::NEG_INFINITY), |best, (i, iv)| {
                if iv.3 > best.1 {
                    (i, iv.3)
                } else {
                    best
                }
            });
        let (lo, hi, r, e) = intervals.swap_remove(i);
        let mid = 0.5 * (lo + hi);
        let (r1, e1) = qk21(&f, lo, mid);
        let (r2, e2) = qk21(&f, mid, hi);
        result += r1 + r2 - r;
        err += e1 + e2 - e;
        intervals.push((lo, mid, r1, e1));
        intervals.push((mid, hi, r2, e2));
    }
    intervals.iter().map(|iv| iv.2).sum()
}

fn false_positive(threshold: f64, b: usize, r: usize) -> f64 {
    let (b, r) = (b as f64, r as f64);
    integrate(|s| 1.0 - (1.0 - s.powf(r)).powf(b), 0.0, threshold)
}

fn false_negative(threshold: f64, b: usize, r: usize) -> f64 {
    let (b, r) = (b as f64, r as f64);
    integrate(|s| 1.0 - (1.0 - (1.0 - s.powf(r)).powf(b)), threshold, 1.0)
}

/// Lower bound of `fp_weight · FP(b, r) + fn_weight · FN(b, r)` from Riemann sums: the S-curve
/// `P(s) = 1 − (1 − s^r)^b` increases on `[0, 1]`, so left sums bound `∫_0^t P` from below and
/// right sums bound `∫_t^1 (1 − P)` from below. `LB_POINTS` evaluations instead of the adaptive
/// quadrature's hundreds; within `1 / LB_POINTS` of the true error.
fn error_lower_bound(threshold: f64, b: usize, r: usize, fp_weight: f64, fn_weight: f64) -> f64 {
    const LB_POINTS: usize = 32;
    let (bands, rows) = (b as f64, r as f64);
    let curve = |s: f64| 1.0 - (1.0 - s.powf(rows)).powf(bands);
    let step_fp = threshold / LB_POINTS as f64;
    let fp: f64 = (0..LB_POINTS)
        .map(|k| curve(k as f64 * step_fp))
        .sum::<f64>()
        * step_fp;
    let step_fn = (1.0 - threshold) / LB_POINTS as f64;
    let fneg: f64 = (1..=LB_POINTS)
        .map(|k| 1.0 - curve(threshold + k as f64 * step_fn))
        .sum::<f64>()
        * step_fn;
    fp_weight * fp + fn_weight * fneg
}

/// datasketch's `_optimal_param`: the `(bands, rows)` minimising the weighted false-positive and
/// false-negative areas for `threshold`, over every `b · r <= num_perm`.
///
/// The result is the exhaustive search's (first minimum in `(b, r)` order), found without
/// integrating most pairs: every pair gets a cheap lower bound ([`error_lower_bound`]), pairs are
/// integrated in increasing order of their bound, in parallel batches, and the search stops when
/// the next bound exceeds the best error found plus a margin (1e-6, far above the quadrature's
/// 1.49e-8 tolerance), so no skipped pair can beat or tie the answer. 0.2–0.5 s at
/// `num_perm = MAX_NUM_PERM` on 2 shared cores, where the exhaustive search integrates all
/// ~78,000 pairs (~14 million at 10^6, which hung).
///
/// # Errors
/// `threshold` outside `(0, 1)`, `num_perm` outside `1..=MAX_NUM_PERM`, or weights that are
/// negative or do not sum to 1.
pub fn optimal_params(
    threshold: f64,
    num_perm: usize,
    fp_weight: f64,
    fn_weight: f64,
) -> Result<LshParams> {
    const BATCH: usize = 64;
    const MARGIN: f64 = 1e-6;
    if !(threshold > 0.0 && threshold < 1.0) {
        return Err(Error::param(
            "threshold",
            format!("must be in (0, 1), got {threshold}"),
        ));
    }
    super::check_num_perm(num_perm)?;
    if !(fp_weight >= 0.0 && fn_weight >= 0.0 && ((fp_weight + fn_weight) - 1.0).abs() < 1e-9) {
        return Err(Error::param(
            "weights",
            format!(
                "must be two non-negative numbers summing to 1, got ({fp_weight}, {fn_weight})"
            ),
        ));
    }
    // Pairs in the exhaustive search's order: the index breaks ties as its scan does.
    let pairs: Vec<(usize, usize)> = (1..=num_perm)
        .flat_map(|b| (1..=num_perm / b).map(move |r| (b, r)))
        .collect();
    crate::parallel::with_threads(None, || {
        let lb: Vec<f64> = pairs
            .par_iter()
            .with_min_len(256)
            .map(|&(b, r)| error_lower_bound(threshold, b, r, fp_weight, fn_weight))
            .collect();
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        order.par_sort_unstable_by(|&i, &j| lb[i].total_cmp(&lb[j]).then(i.cmp(&j)));
        let mut best = (f64::INFINITY, usize::MAX);
        for batch in order.chunks(BATCH) {
            if lb[batch[0]] > best.0 + MARGIN {
                break;
            }
            let errors: Vec<(f64, usize)> = batch
                .par_iter()
                .map(|&i| {
                    let (b, r) = pairs[i];
                    let e = false_positive(threshold, b, r) * fp_weight
                        + false_negative(threshold, b, r) * fn_weight;
                    (e, i)
                })
                .collect();
            for (e, i) in errors {
                if e.total_cmp(&best.0).then(i.cmp(&best.1)).is_lt() {
                    best = (e, i);
                }
            }
        }
        let (bands, rows) = pairs[best.1];
        LshParams { bands, rows }
    })
}

/// The exhaustive `optimal_params` search, for tests: every pair integrated, first strict minimum.
#[cfg(test)]
fn optimal_params_exhaustive(threshold: f64, num_perm: usize, fp_w: f64, fn_w: f64) -> LshParams {
    let mut best = (f64::INFINITY, LshParams { bands: 0, rows: 0 });
    for b in 1..=num_perm {
        for r in 1..=num_perm / b {
            let e = false_positive(threshold, b, r) * fp_w + false_negative(threshold, b, r) * fn_w;
            if e < best.0 {
                best = (e, LshParams { bands: b, rows: r });
            }
        }
    }
    best.1
}

/// Checks that `signatures` holds `n_rows * num_perm` values and `valid` has `n_rows` entries.
///
/// # Errors
/// [`Error::ShapeMismatch`].
pub fn check_shapes(signatures: &[u32], num_perm: usize, valid: &[bool]) -> Result<usize> {
    if num_perm == 0 {
        return Err(Error::param("num_perm", "must be >= 1, got 0"));
    }
    if signatures.len() % num_perm != 0 {
        return Err(Error::ShapeMismatch(format!(
            "{} signature values is not a multiple of num_perm={num_perm}",
            signatures.len()
        )));
    }
    let n = signatures.len() / num_perm;
    if valid.len() != n {
        return Err(Error::ShapeMismatch(format!(
            "valid has {} entries for {n} signatures",
            valid.len()
        )));
    }
    if n > u32::MAX as usize {
        return Err(Error::ShapeMismatch(format!(
            "{n} documents: at most 2^32 - 1 per index"
        )));
    }
    Ok(n)
}

/// Key of band `band` of one signature: XXH3-64 of the band's values (little-endian bytes), seeded
/// with the band number. Equal bands give equal keys; distinct bands collide with probability
/// 2^-64, so candidate sets equal datasketch's (which compares the bytes themselves).
#[inline]
pub fn band_key(sig: &[u32], params: LshParams, band: usize, buf: &mut Vec<u8>) -> u64 {
    let vals = &sig[band * params.rows..(band + 1) * params.rows];
    buf.clear();
    for v in vals {
        buf.extend_from_slice(&v.to_le_bytes());
    }
    hash64(buf, band as u64)
}

/// `(key, row)` of band `band` for every valid row, sorted (so rows ascend inside a bucket).
pub(crate) fn sorted_band(
    signatures: &[u32],
    num_perm: usize,
    valid: &[bool],
    params: LshParams,
    band: usize,
) -> Vec<(u64, u32)> {
    let mut keys: Vec<(u64, u32)> = signatures
        .par_chunks(num_perm)
        .zip(valid.par_iter())
        .enumerate()
        .filter(|(_, (_, &v))| v)
        .map_init(Vec::new, |buf, (i, (sig, _))| {
            (band_key(sig, params, band, buf), i as u32)
        })
        .collect();
    keys.par_sort_unstable();
    keys
}

/// Ranges of `keys` that share a key and have at least two rows.
pub(crate) fn bucket_ranges(keys: &[(u64, u32)]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=keys.len() {
        if i == keys.len() || keys[i].0 != keys[start].0 {
            if i - start >= 2 {
                out.push((start, i));
            }
            start = i;
        }
    }
    out
}

/// Every pair of valid rows that share at least one band, as `(i, j)` with `i < j`, sorted and
/// unique. Quadratic in bucket size: meant for inspection, tests and small corpora;
/// [`crate::minhash::cluster`] never materialises all pairs.
///
/// # Errors
/// Shape mismatches, invalid `params`, `n_threads == Some(0)`, [`Error::OutOfMemory`] when the
/// pairs do not fit, [`Error::Interrupted`] when `stop` (checked between bands) is requested.
pub fn candidate_pairs(
    signatures: &[u32],
    num_perm: usize,
    valid: &[bool],
    params: LshParams,
    n_threads: Option<usize>,
    stop: &Stop,
) -> Result<Vec<(u32, u32)>> {
    check_shapes(signatures, num_perm, valid)?;
    params.validate(num_perm)?;
    crate::parallel::with_threads(n_threads, || {
        let mut pairs = Vec::new();
        for band in 0..params.bands {
            stop.check()?;
            let keys = sorted_band(signatures, num_perm, valid, params, band);
            for (lo, hi) in bucket_ranges(&keys) {
                let m = (hi - lo) as u128;
                pairs
                    .try_reserve(usize::try_from(m * (m - 1) / 2).unwrap_or(usize::MAX))
                    .map_err(|_| {
                        crate::alloc::out_of_memory::<(u32, u32)>(
                            (pairs.len() as u128) + m * (m - 1) / 2,
                            "signatures",
                            "candidate pairs (quadratic in bucket size)",
                        )
                    })?;
                for x in lo..hi {
                    for y in x + 1..hi {
                        pairs.push((keys[x].1, keys[y].1));
                    }
                }
            }
        }
        pairs.par_sort_unstable();
        pairs.dedup();
        Ok(pairs)
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_params_from_datasketch() {
        // Values printed by datasketch 2.0.0 (`MinHashLSH(threshold, num_perm).b, .r`).
        assert_eq!(
            optimal_params(0.9, 128, 0.5, 0.5).unwrap(),
            LshParams { bands: 5, rows: 25 }
        );
        assert_eq!(
            optimal_params(0.8, 128, 0.5, 0.5).unwrap(),
            LshParams { bands: 9, rows: 13 }
        );
    }

    #[test]
    fn pruned_search_equals_exhaustive() {
        for &t in &[0.05, 0.3, 0.5, 0.8, 0.95] {
            for &k in &[1, 2, 7, 64, 200] {
                for &(w1, w2) in &[(0.5, 0.5), (0.1, 0.9), (1.0, 0.0)] {
                    assert_eq!(
                        optimal_params(t, k, w1, w2).unwrap(),
                        optimal_params_exhaustive(t, k, w1, w2),
                        "t={t} k={k} w=({w1}, {w2})"
                    );
                }
            }
        }
    }

    #[test]
    fn num_perm_is_bounded() {
        let e = optimal_params(0.5, crate::minhash::MAX_NUM_PERM + 1, 0.5, 0.5).unwrap_err();
        assert!(e.to_string().contains("num_perm"), "{e}");
        // The whole allowed range is fast (the exhaustive search took minutes at 8192).
        let t0 = std::time::Instant::now();
        optimal_params(0.5, crate::minhash::MAX_NUM_PERM, 0.5, 0.5).unwrap();
        assert!(t0.elapsed().as_secs_f64() < 30.0, "{:?}", t0.elapsed());
    }

    #[test]
    fn bad_params() {
        assert!(optimal_params(0.0, 128, 0.5, 0.5).is_err());
        assert!(optimal_params(1.0, 128, 0.5, 0.5).is_err());
        assert!(optimal_params(f64::NAN, 128, 0.5, 0.5).is_err());
        assert!(optimal_params(0.5, 0, 0.5, 0.5).is_err());
        assert!(optimal_params(0.5, 16, 0.7, 0.5).is_err());
        assert!(LshParams { bands: 9, rows: 15 }.validate(128).is_err());
        assert!(LshParams { bands: 0, rows: 15 }.validate(128).is_err());
        assert!(LshParams { bands: 8, rows: 16 }.validate(128).is_ok());
    }

    #[test]
    fn integration_is_accurate() {
        // ∫_0^1 s^3 ds = 1/4, ∫ of a steep S-curve against its closed form via many bisections.
        assert!((integrate(|s| s * s * s, 0.0, 1.0) - 0.25).abs() < 1e-14);
        let p = LshParams { bands: 20, rows: 6 };
        let v = integrate(|s| p.collision_probability(s), 0.0, 1.0);
        // Closed form: ∫ 1 - (1 - s^r)^b = 1 - Σ_k C(b,k)(-1)^k/(k r + 1).
        let mut exact = 1.0;
        let mut c = 1.0;
        for k in 0..=20 {
            if k > 0 {
                c = c * f64::from(20 - k + 1) / f64::from(k);
            }
            let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
            exact -= sign * c / f64::from(k * 6 + 1);
        }
        assert!((v - exact).abs() < 1e-9, "{v} vs {exact}");
    }

    #[test]
    fn candidates_share_a_band() {
        let sigs = [1, 2, 3, 4, 1, 2, 9, 9, 7, 7, 3, 4, 1, 2, 3, 4];
        let valid = [true, true, true, false];
        let p = LshParams { bands: 2, rows: 2 };
        let pairs = candidate_pairs(&sigs, 4, &valid, p, Some(2), &Stop::default()).unwrap();
        assert_eq!(pairs, vec![(0, 1), (0, 2)]);
    }
}
