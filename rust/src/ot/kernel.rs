//! The inner loops of a Sinkhorn pass over one block of pool rows, written so the compiler
//! vectorises them: 8 independent lanes per loop, no branches, and an `exp` built from `+`, `×`
//! and bit shifts (libm's `exp` is a scalar call, the bottleneck of the first version).
//!
//! Every loop fixes its summation order (lane `l` takes the entries `l, l + 8, …`, the lanes are
//! added in order, the tail last) and uses no fused multiply-add, so the AVX2 copy and the
//! portable copy give the same bits (tested), on any machine.
//!
//! The values handled are the scaled cost `k_ij = −M_ij / eps` of a block, row-major.

/// Independent accumulators per loop (one AVX-512 or two AVX2 vectors of f64).
const LANES: usize = 8;

/// `exp(x)`, within 2 ulp for `x ∈ [−708, 709]`; below −708 it returns `exp(−708)` (≈ 3e-308,
/// nothing next to the terms ≥ 1 it is summed with), above 709 `exp(709)`.
///
/// `x = k·ln 2 + r` with `k = round(x / ln 2)` and `|r| ≤ ln 2 / 2` (Cody & Waite's two-part
/// `ln 2`, the constants of fdlibm's `e_exp.c`); `exp(r)` by its Taylor series to degree 13
/// (truncation error `0.35¹⁴/14! < 5e-18`), `2^k` written into the exponent bits. The rounding
/// adds and removes 1.5·2⁵², which leaves `k` in the low bits of the sum.
#[allow(clippy::inline_always)]
#[inline(always)]
pub(super) fn exp(x: f64) -> f64 {
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52
                                                // 1/n! for n = 13 down to 2.
    const C: [f64; 12] = [
        1.0 / 6_227_020_800.0,
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        1.0 / 2.0,
    ];
    let x = x.clamp(-708.0, 709.0);
    let t = x * std::f64::consts::LOG2_E + SHIFT;
    let k = t - SHIFT;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p = C[0];
    for c in &C[1..] {
        p = p * r + c;
    }
    p = p * r + 1.0;
    p = p * r + 1.0;
    // The low 12 bits of `t` hold k (two's complement); k + 1023 ∈ [1, 2046] is the exponent.
    let scale = f64::from_bits((t.to_bits() << 52).wrapping_add(1023 << 52));
    p * scale
}

/// For one row: `e_j = exp(k_j + v_j − z)` with `z = max_j (k_j + v_j)`; returns `(z, Σ_j e_j)`.
#[allow(clippy::inline_always)]
#[inline(always)]
fn row_exp(k: &[f64], v: &[f64], e: &mut [f64]) -> (f64, f64) {
    let mut mx = [f64::NEG_INFINITY; LANES];
    let mut tail = f64::NEG_INFINITY;
    let mut kc = k.chunks_exact(LANES);
    let mut vc = v.chunks_exact(LANES);
    let mut ec = e.chunks_exact_mut(LANES);
    for ((kk, vv), ee) in (&mut kc).zip(&mut vc).zip(&mut ec) {
        for l in 0..LANES {
            ee[l] = kk[l] + vv[l];
            mx[l] = mx[l].max(ee[l]);
        }
    }
    for ((kk, vv), ee) in kc
        .remainder()
        .iter()
        .zip(vc.remainder())
        .zip(ec.into_remainder())
    {
        *ee = kk + vv;
        tail = tail.max(*ee);
    }
    let z = mx.iter().fold(tail, |a, &b| a.max(b));
    let mut s = [0.0; LANES];
    let mut ec = e.chunks_exact_mut(LANES);
    for ee in &mut ec {
        for l in 0..LANES {
            ee[l] = exp(ee[l] - z);
            s[l] += ee[l];
        }
    }
    let mut total = s.iter().sum::<f64>();
    for ee in ec.into_remainder() {
        *ee = exp(*ee - z);
        total += *ee;
    }
    (z, total)
}

/// The update of a block with the fused pass (one `exp` per entry): for every row `i`,
/// `log u_i = log a_i − LSE_j(k_ij + log v_j)`, then `col_j += P_ij` with the plan
/// `P_ij = exp(k_ij + log u_i + log v_j) = e_ij · a_i / Σ_j e_ij` of the new `log u_i`.
/// `e` is scratch of `m` values.
#[allow(clippy::inline_always)]
#[inline(always)]
fn fused_generic(
    k: &[f64],
    log_v: &[f64],
    a: &[f64],
    log_a: &[f64],
    log_u: &mut [f64],
    e: &mut [f64],
    col: &mut [f64],
) {
    let m = log_v.len();
    for (((row, u), &ai), &lai) in k.chunks_exact(m).zip(log_u).zip(a).zip(log_a) {
        let (z, s) = row_exp(row, log_v, e);
        *u = lai - (z + s.ln());
        let w = ai / s;
        for (c, &x) in col.iter_mut().zip(e.iter()) {
            *c += x * w;
        }
    }
}

/// The exact column log-sum-exp of a block, `LSE_i(k_ij + log u_i) = max_j + ln sum_j`, with
/// the maximum taken first (two passes); optionally updating `log u` first, as
/// [`fused_generic`]. Used for the first pass and whenever the fused sums underflow.
#[allow(clippy::inline_always)]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn exact_generic(
    k: &[f64],
    log_v: Option<&[f64]>,
    log_a: &[f64],
    log_u: &mut [f64],
    e: &mut [f64],
    max: &mut [f64],
    sum: &mut [f64],
) {
    let m = max.len();
    if let Some(v) = log_v {
        for ((row, u), &lai) in k.chunks_exact(m).zip(log_u.iter_mut()).zip(log_a) {
            let (z, s) = row_exp(row, v, e);
            *u = lai - (z + s.ln());
        }
    }
    max.fill(f64::NEG_INFINITY);
    for (row, &u) in k.chunks_exact(m).zip(log_u.iter()) {
        for (mx, &c) in max.iter_mut().zip(row) {
            *mx = mx.max(c + u);
        }
    }
    sum.fill(0.0);
    for (row, &u) in k.chunks_exact(m).zip(log_u.iter()) {
        for ((s, &c), &mx) in sum.iter_mut().zip(row).zip(max.iter()) {
            *s += exp(c + u - mx);
        }
    }
}

/// `Σ_ij exp(k_ij + log u_i + log v_j) · k_ij` over a block (the transport cost is `−eps` times
/// the total).
#[allow(clippy::inline_always)]
#[inline(always)]
fn plan_dot_generic(k: &[f64], log_u: &[f64], log_v: &[f64]) -> f64 {
    let m = log_v.len();
    let mut total = 0.0;
    for (row, &u) in k.chunks_exact(m).zip(log_u) {
        let mut s = [0.0; LANES];
        let mut kc = row.chunks_exact(LANES);
        let mut vc = log_v.chunks_exact(LANES);
        for (kk, vv) in (&mut kc).zip(&mut vc) {
            for l in 0..LANES {
                s[l] += exp(kk[l] + u + vv[l]) * kk[l];
            }
        }
        let mut r = s.iter().sum::<f64>();
        for (&c, &v) in kc.remainder().iter().zip(vc.remainder()) {
            r += exp(c + u + v) * c;
        }
        total += r;
    }
    total
}

/// Defines `$name`, which runs `$generic` compiled for AVX2 when the CPU has it.
macro_rules! dispatch {
    ($(#[$doc:meta])* $name:ident, $avx2:ident, $generic:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        $(#[$doc])*
        #[allow(clippy::too_many_arguments, clippy::unused_unit)]
        pub(super) fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2 (checked just above), the only requirement
                    // of the target-feature function; it does no unsafe memory access itself.
                    return unsafe { $avx2($($arg),*) };
                }
            }
            $generic($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        #[allow(clippy::too_many_arguments, clippy::unused_unit)]
        unsafe fn $avx2($($arg: $ty),*) -> $ret {
            $generic($($arg),*)
        }
    };
}

dispatch!(
    /// [`fused_generic`], vectorised where the CPU allows.
    fused, fused_avx2, fused_generic,
    (k: &[f64], log_v: &[f64], a: &[f64], log_a: &[f64], log_u: &mut [f64], e: &mut [f64],
     col: &mut [f64]) -> ()
);
dispatch!(
    /// [`exact_generic`], vectorised where the CPU allows.
    exact, exact_avx2, exact_generic,
    (k: &[f64], log_v: Option<&[f64]>, log_a: &[f64], log_u: &mut [f64], e: &mut [f64],
     max: &mut [f64], sum: &mut [f64]) -> ()
);
dispatch!(
    /// [`plan_dot_generic`], vectorised where the CPU allows.
    plan_dot, plan_dot_avx2, plan_dot_generic,
    (k: &[f64], log_u: &[f64], log_v: &[f64]) -> f64
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_of_libm() {
        let mut x = -708.0;
        while x < 709.0 {
            let (got, want) = (exp(x), x.exp());
            assert!(
                ((got - want) / want).abs() <= 2.0 * f64::EPSILON,
                "{x}: {got} vs {want}"
            );
            x += 0.000_731;
        }
        assert_eq!(exp(0.0).to_bits(), 1.0_f64.to_bits());
        assert!(exp(f64::NEG_INFINITY) < 1e-307);
    }

    #[test]
    fn vectorised_and_portable_copies_give_the_same_bits() {
        let (n, m) = (37, 203);
        let mut s = 7u64;
        let mut rnd = || {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let k: Vec<f64> = (0..n * m).map(|_| -40.0 * rnd()).collect();
        let v: Vec<f64> = (0..m).map(|_| 5.0 * rnd()).collect();
        let a = vec![1.0 / n as f64; n];
        let la: Vec<f64> = a.iter().map(|x| x.ln()).collect();
        let run = |generic: bool| {
            let (mut u, mut e, mut col) = (vec![0.0; n], vec![0.0; m], vec![0.0; m]);
            let (mut mx, mut sm) = (vec![0.0; m], vec![0.0; m]);
            if generic {
                fused_generic(&k, &v, &a, &la, &mut u, &mut e, &mut col);
                exact_generic(&k, Some(&v), &la, &mut u, &mut e, &mut mx, &mut sm);
            } else {
                fused(&k, &v, &a, &la, &mut u, &mut e, &mut col);
                exact(&k, Some(&v), &la, &mut u, &mut e, &mut mx, &mut sm);
            }
            let dot = if generic {
                plan_dot_generic(&k, &u, &v)
            } else {
                plan_dot(&k, &u, &v)
            };
            (u, col, mx, sm, dot.to_bits())
        };
        assert_eq!(run(true), run(false));
        // The fused column sums are the exact column sums of the plan.
        let (u, col, mx, sm, _) = run(false);
        for j in 0..m {
            let exact = (mx[j] + sm[j].ln() + v[j]).exp();
            assert!((col[j] - exact).abs() <= 1e-13 * exact, "{j}");
        }
        assert!(u.iter().all(|x| x.is_finite()));
    }
}
