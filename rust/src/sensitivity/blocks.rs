//! The two passes over A behind every score here, generic over the element type: the Gram
//! matrix Xᵀ X of X = diag(scale)·A, and the row forms q_i = ‖a_iᵀ T‖². f64 serves every route;
//! an f32 copy of A ([`Single`]) serves the first Lewis iterations, where the residual is far
//! above f32 rounding (faer's f32 kernels run at twice the f64 rate: 16 lanes per AVX-512 FMA).
//!
//! Both passes run over fixed blocks of [`BLOCK`] rows; block results are summed in block order
//! in f64, so the output does not depend on the thread count.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;

use super::{Matrix, BLOCK};
use crate::alloc;
use crate::error::Result;

/// The element types of the passes: f64, and f32 for the early Lewis iterations.
pub(super) trait Real:
    faer::traits::RealField
    + Copy
    + Default
    + Send
    + Sync
    + std::ops::AddAssign
    + std::ops::Mul<Output = Self>
{
    fn of(v: f64) -> Self;
    fn wide(self) -> f64;
}

impl Real for f64 {
    #[inline]
    fn of(v: f64) -> Self {
        v
    }
    #[inline]
    fn wide(self) -> f64 {
        self
    }
}

impl Real for f32 {
    #[inline]
    fn of(v: f64) -> Self {
        v as f32
    }
    #[inline]
    fn wide(self) -> f64 {
        f64::from(self)
    }
}

/// Row-major n × d data read block by block.
pub(super) trait Rows: Sync {
    type T: Real;
    fn n(&self) -> usize;
    fn d(&self) -> usize;
    /// Calls `f` with rows `r0..r1` (times `scale[i]` when given) as a row-major view, in place
    /// when nothing is to be scaled, else through `buf`.
    fn with_block<R>(
        &self,
        r0: usize,
        r1: usize,
        scale: Option<&[f64]>,
        buf: &mut Vec<Self::T>,
        f: impl FnOnce(MatRef<'_, Self::T>) -> R,
    ) -> R;
}

impl Rows for Matrix<'_> {
    type T = f64;
    fn n(&self) -> usize {
        self.n
    }
    fn d(&self) -> usize {
        self.d
    }
    fn with_block<R>(
        &self,
        r0: usize,
        r1: usize,
        scale: Option<&[f64]>,
        buf: &mut Vec<f64>,
        f: impl FnOnce(MatRef<'_, f64>) -> R,
    ) -> R {
        self.block(r0, r1, scale, buf, f)
    }
}

/// A's entries (column scales applied) in f32, when they fit comfortably: every non-zero
/// column's largest magnitude within 2^±30, so that the squares and sums of the Gram pass stay
/// normal f32 numbers (an overflow still shows up as a non-finite Gram matrix and is refused).
pub(super) struct Single {
    data: Vec<f32>,
    n: usize,
    d: usize,
}

impl Single {
    /// The f32 copy of `a`, or `None` when a column's scale is outside the range above.
    ///
    /// # Errors
    /// An allocation failure.
    pub(super) fn of(a: &Matrix) -> Result<Option<Self>> {
        let (n, d) = (a.n, a.d);
        let mut data = alloc::zeroed::<f32>(
            alloc::checked_len::<f32>(n, d, "A", "f32 copy")?,
            "A",
            "f32 copy",
        )?;
        let max_abs = data
            .par_chunks_mut(d * BLOCK)
            .enumerate()
            .map(|(b, out)| {
                let r0 = b * BLOCK;
                let mut m = vec![0.0f64; d];
                for (r, row) in out.chunks_mut(d).enumerate() {
                    for (j, (o, mj)) in row.iter_mut().zip(&mut m).enumerate() {
                        let v = a.get(r0 + r, j);
                        *mj = mj.max(v.abs());
                        *o = v as f32;
                    }
                }
                m
            })
            .reduce(
                || vec![0.0; d],
                |x, y| x.iter().zip(&y).map(|(a, b)| a.max(*b)).collect(),
            );
        let (lo, hi) = (2f64.powi(-30), 2f64.powi(30));
        if max_abs.iter().any(|&m| m != 0.0 && !(lo..=hi).contains(&m)) {
            return Ok(None);
        }
        Ok(Some(Self { data, n, d }))
    }
}

impl Rows for Single {
    type T = f32;
    fn n(&self) -> usize {
        self.n
    }
    fn d(&self) -> usize {
        self.d
    }
    fn with_block<R>(
        &self,
        r0: usize,
        r1: usize,
        scale: Option<&[f64]>,
        buf: &mut Vec<f32>,
        f: impl FnOnce(MatRef<'_, f32>) -> R,
    ) -> R {
        let d = self.d;
        let src = &self.data[r0 * d..r1 * d];
        let Some(sc) = scale else {
            return f(MatRef::from_row_major_slice(src, r1 - r0, d));
        };
        buf.clear();
        for (row, &c) in src.chunks_exact(d).zip(&sc[r0..r1]) {
            let c = c as f32;
            buf.extend(row.iter().map(|v| v * c));
        }
        f(MatRef::from_row_major_slice(buf, r1 - r0, d))
    }
}

/// Gram matrix XᵀX of X = diag(scale)·A (symmetric, full), each block's product in `R::T`, the
/// blocks summed in f64 in fixed block order.
pub(super) fn gram<R: Rows>(a: &R, scale: Option<&[f64]>) -> Mat<f64> {
    let (n, d) = (a.n(), a.d());
    let n_blocks = n.div_ceil(BLOCK);
    // Groups of consecutive blocks, at most 64 and at most 128 MiB of partial Gram matrices.
    let n_groups = n_blocks.min(64).min((1 << 24) / (d * d)).max(1);
    let per_group = n_blocks.div_ceil(n_groups);
    let partial: Vec<Mat<f64>> = (0..n_groups)
        .into_par_iter()
        .map(|g| {
            let mut acc = Mat::<f64>::zeros(d, d);
            let mut part = Mat::<R::T>::zeros(d, d);
            let mut buf = Vec::new();
            for b in g * per_group..((g + 1) * per_group).min(n_blocks) {
                let (r0, r1) = (b * BLOCK, ((b + 1) * BLOCK).min(n));
                // A full product, not a syrk: faer's triangular kernel measured slower here
                // (n = 200k, d = 64: 90 ms against 77 ms for the full gemm).
                a.with_block(r0, r1, scale, &mut buf, |x| {
                    matmul(
                        part.as_mut(),
                        Accum::Replace,
                        x.transpose(),
                        x,
                        R::T::of(1.0),
                        Par::Seq,
                    );
                });
                for j in 0..d {
                    for (s, v) in acc.col_as_slice_mut(j).iter_mut().zip(part.col_as_slice(j)) {
                        *s += v.wide();
                    }
                }
            }
            acc
        })
        .collect();
    let mut total = Mat::<f64>::zeros(d, d);
    for p in &partial {
        total += p;
    }
    // Exactly symmetric (the blocks' products may differ in the last bit across the diagonal).
    for i in 0..d {
        for j in i + 1..d {
            total[(i, j)] = total[(j, i)];
        }
    }
    total
}

/// Columns at or above which the triangular structure of T is worth a split product.
const SPLIT_MIN: usize = 16;

/// q_i = ‖a_iᵀ T‖² for a d × c matrix T, one block of rows per task. With `upper` (T upper
/// triangular and square), column j of a_iᵀT needs only a_i's first j + 1 entries: the product
/// is split into the left half of the columns, which reads only the first half of A's columns,
/// and the right half (¾ of the full product's flops).
///
/// The product is formed transposed, (a_iᵀT)ᵀ = Tᵀ a_i for all rows at once: Yᵀ = Tᵀ Xᵀ, where
/// Xᵀ is the row-major block of A read as a column-major matrix, so faer streams A without
/// repacking it, and each row's c outputs are contiguous for the sum of squares.
pub(super) fn row_quad<R: Rows>(a: &R, t: MatRef<'_, R::T>, upper: bool) -> Vec<f64> {
    let c = t.ncols();
    let split = upper && c == a.d() && c >= SPLIT_MIN;
    let mut q = vec![0.0; a.n()];
    if c == 0 {
        return q;
    }
    q.par_chunks_mut(BLOCK).enumerate().for_each_init(
        || (Vec::new(), Vec::new()),
        |(buf, y), (b, out)| {
            let r0 = b * BLOCK;
            let rows = out.len();
            y.clear();
            y.resize(rows * c, R::T::default());
            let mut yt = MatMut::from_column_major_slice_mut(y.as_mut_slice(), c, rows);
            let one = R::T::of(1.0);
            a.with_block(r0, r0 + rows, None, buf, |x| {
                let xt = x.transpose();
                if split {
                    let h = c / 2;
                    let (top, bottom) = yt.as_mut().split_at_row_mut(h);
                    let (tl, tr) = (t.get(..h, ..h), t.get(.., h..));
                    matmul(
                        top,
                        Accum::Replace,
                        tl.transpose(),
                        xt.get(..h, ..),
                        one,
                        Par::Seq,
                    );
                    matmul(bottom, Accum::Replace, tr.transpose(), xt, one, Par::Seq);
                } else {
                    matmul(
                        yt.as_mut(),
                        Accum::Replace,
                        t.transpose(),
                        xt,
                        one,
                        Par::Seq,
                    );
                }
            });
            // Each row sums its c squares in the order 0..c, whatever the thread count.
            for (o, row) in out.iter_mut().zip(y.chunks_exact(c)) {
                let mut s = R::T::default();
                for &v in row {
                    s += v * v;
                }
                *o = s.wide();
            }
        },
    );
    q
}

/// Above this condition estimate of the scaled Gram matrix, f32 passes are refused: the
/// relative error of the forms grows like cond · 2^-24 · √BLOCK.
pub(super) const COND_F32_MAX: f64 = 1e5;

/// q_i = a_iᵀ(AᵀS²A)⁻¹a_i (S = diag(scale)) from f32 passes over `a` (the Cholesky factor and its
/// inverse in f64), with the Gram condition estimate. `None` when the Gram matrix is not finite,
/// not positive definite, or its estimate exceeds [`COND_F32_MAX`]: the caller then runs the f64
/// route, which also handles rank deficiency.
pub(super) fn quadratic_forms_f32(a: &Single, scale: &[f64]) -> Option<(Vec<f64>, f64)> {
    let g = gram(a, Some(scale));
    let d = a.d;
    if (0..d).any(|j| g.col_as_slice(j).iter().any(|v| !v.is_finite())) {
        return None;
    }
    let (t, cond) = super::leverage::cholesky_map(&g)?;
    if cond > COND_F32_MAX {
        return None;
    }
    let t32 = Mat::<f32>::from_fn(d, d, |i, j| t[(i, j)] as f32);
    Some((row_quad(a, t32.as_ref(), true), cond))
}
