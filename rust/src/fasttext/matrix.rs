//! The two matrix kinds of a fastText model: dense `f32` rows and product-quantized rows (Jégou,
//! Douze & Schmid, "Product quantization for nearest neighbor search", 2011; used by fastText.zip,
//! Joulin et al. 2016). Arithmetic is `f32` in the order fastText uses (row sums element by
//! element, dot products left to right, no fused multiply-add), so hidden vectors and logits are
//! the same bits as the C++ code's and the one-vs-all sigmoid table is looked up at the same slot.

use super::prefetch;
use super::read::{invalid, non_negative, Reader};
use crate::error::Result;

/// Rows ahead of the one being added whose memory is prefetched: the input rows of a document
/// are random rows of a matrix of megabytes, so each is a cache miss that prefetching overlaps.
const PREFETCH_ROWS: usize = 8;

/// Floats per 64-byte cache line.
const LINE_FLOATS: usize = 16;

/// Codes per sub-quantizer: fastText always uses 8 bits.
const KSUB: usize = 256;

/// A product quantizer: the vector is cut into `nsubq` blocks of `dsub` values (the last one
/// `lastdsub`), each replaced by one of 256 centroids.
#[derive(Debug)]
struct ProductQuantizer {
    dim: usize,
    nsubq: usize,
    dsub: usize,
    lastdsub: usize,
    centroids: Vec<f32>,
}

impl ProductQuantizer {
    fn read(r: &mut Reader<'_>, what: &str) -> Result<Self> {
        let dim = non_negative(r.i32(what)?.into(), &format!("{what} dim"))?;
        let nsubq = non_negative(r.i32(what)?.into(), &format!("{what} nsubq"))?;
        let dsub = non_negative(r.i32(what)?.into(), &format!("{what} dsub"))?;
        let lastdsub = non_negative(r.i32(what)?.into(), &format!("{what} lastdsub"))?;
        // Every code then indexes inside the centroids: block m < nsubq-1 ends at
        // (m·256 + 255 + 1)·dsub ≤ (nsubq-1)·256·dsub, the last block at 256·dim.
        if nsubq == 0 || dsub == 0 || lastdsub == 0 {
            return Err(invalid(format!(
                "{what}: nsubq, dsub and lastdsub must be >= 1 (got {nsubq}, {dsub}, {lastdsub})"
            )));
        }
        if (nsubq as u64 - 1) * dsub as u64 + lastdsub as u64 != dim as u64 {
            return Err(invalid(format!(
                "{what}: {nsubq} blocks of {dsub} (last {lastdsub}) do not make dim {dim}"
            )));
        }
        let centroids = r.f32s(dim as u64 * KSUB as u64, &format!("{what} centroids"))?;
        Ok(Self {
            dim,
            nsubq,
            dsub,
            lastdsub,
            centroids,
        })
    }

    #[inline]
    fn centroid(&self, m: usize, code: u8) -> &[f32] {
        let i = usize::from(code);
        if m == self.nsubq - 1 {
            let at = m * KSUB * self.dsub + i * self.lastdsub;
            &self.centroids[at..at + self.lastdsub]
        } else {
            let at = (m * KSUB + i) * self.dsub;
            &self.centroids[at..at + self.dsub]
        }
    }

    /// `x += alpha · decode(codes)`.
    #[inline]
    fn add_code(&self, x: &mut [f32], codes: &[u8], alpha: f32) {
        for (m, &code) in codes.iter().enumerate() {
            let c = self.centroid(m, code);
            let block = &mut x[m * self.dsub..m * self.dsub + c.len()];
            for (xi, &ci) in block.iter_mut().zip(c) {
                *xi += alpha * ci;
            }
        }
    }

    /// `alpha · <x, decode(codes)>`, summed left to right.
    #[inline]
    fn dot_code(&self, x: &[f32], codes: &[u8], alpha: f32) -> f32 {
        let mut res = 0.0f32;
        for (m, &code) in codes.iter().enumerate() {
            let c = self.centroid(m, code);
            for (&xi, &ci) in x[m * self.dsub..].iter().zip(c) {
                res += xi * ci;
            }
        }
        res * alpha
    }
}

/// A quantized matrix (`QuantMatrix` in fastText).
#[derive(Debug)]
pub(crate) struct Quantized {
    codes: Vec<u8>,
    pq: ProductQuantizer,
    /// Per-row norms, themselves quantized (`qnorm`): codes and a 1-dimensional quantizer.
    norms: Option<(Vec<u8>, ProductQuantizer)>,
}

/// A model matrix: `rows × cols`, dense or quantized.
#[derive(Debug)]
pub(crate) struct Matrix {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// Row-major values from `start` on (`start < 16` zeros before them put the first row on a
    /// 64-byte boundary, see [`Reader::f32s_aligned`]).
    Dense {
        data: Vec<f32>,
        start: usize,
    },
    Quantized(Quantized),
}

impl Matrix {
    /// Reads a dense (`quantized = false`) or quantized matrix; `what` names it in errors.
    pub(crate) fn read(r: &mut Reader<'_>, quantized: bool, what: &str) -> Result<Self> {
        if !quantized {
            let rows = non_negative(r.i64(what)?, &format!("{what} rows"))?;
            let cols = non_negative(r.i64(what)?, &format!("{what} cols"))?;
            let n = (rows as u64)
                .checked_mul(cols as u64)
                .ok_or_else(|| invalid(format!("{what}: {rows} × {cols} values overflow")))?;
            let (data, start) =
                r.f32s_aligned(n, &format!("{what} ({rows} × {cols} floats)"), LINE_FLOATS)?;
            return Ok(Self {
                rows,
                cols,
                kind: Kind::Dense { data, start },
            });
        }
        let qnorm = r.flag(&format!("{what} qnorm flag"))?;
        let rows = non_negative(r.i64(what)?, &format!("{what} rows"))?;
        let cols = non_negative(r.i64(what)?, &format!("{what} cols"))?;
        let codesize = non_negative(r.i32(what)?.into(), &format!("{what} codesize"))?;
        let codes = r.take(codesize as u64, &format!("{what} codes"))?.to_vec();
        let pq = ProductQuantizer::read(r, &format!("{what} quantizer"))?;
        if pq.dim != cols {
            return Err(invalid(format!(
                "{what}: quantizer dim {} != matrix cols {cols}",
                pq.dim
            )));
        }
        if codesize as u64 != rows as u64 * pq.nsubq as u64 {
            return Err(invalid(format!(
                "{what}: codesize {codesize} != rows {rows} × nsubq {}",
                pq.nsubq
            )));
        }
        let norms = if qnorm {
            let codes = r.take(rows as u64, &format!("{what} norm codes"))?.to_vec();
            let npq = ProductQuantizer::read(r, &format!("{what} norm quantizer"))?;
            if npq.dim != 1 {
                return Err(invalid(format!(
                    "{what}: norm quantizer must be 1-dimensional, got dim {}",
                    npq.dim
                )));
            }
            Some((codes, npq))
        } else {
            None
        };
        Ok(Self {
            rows,
            cols,
            kind: Kind::Quantized(Quantized { codes, pq, norms }),
        })
    }

    /// Whether the matrix is product-quantized.
    pub(crate) fn is_quantized(&self) -> bool {
        matches!(self.kind, Kind::Quantized(_))
    }

    /// `x += row i` (`i < rows`, `x.len() == cols`, both checked at load).
    /// Adds rows `rows` to `x`, in order (fastText's summation order, so the same rounding).
    pub(crate) fn add_rows(&self, x: &mut [f32], rows: &[u32]) {
        match &self.kind {
            Kind::Dense { data, start } => {
                let d = &data[*start..];
                let c = self.cols;
                // Rows of 16 floats start on a cache line (see `Kind::Dense`): one line each.
                let one_line = c == LINE_FLOATS;
                if one_line {
                    // 16 columns: the sum stays in registers across rows (summed through `x` in
                    // memory, each row's adds waited on the previous row's stores).
                    let x: &mut [f32; LINE_FLOATS] = x.try_into().expect("x.len() == cols");
                    let mut acc = *x;
                    for (j, &i) in rows.iter().enumerate() {
                        if let Some(&ahead) = rows.get(j + PREFETCH_ROWS) {
                            prefetch::read(&d[ahead as usize * LINE_FLOATS]);
                        }
                        let i = i as usize * LINE_FLOATS;
                        let row: &[f32; LINE_FLOATS] =
                            d[i..i + LINE_FLOATS].try_into().expect("16 floats");
                        for (a, &v) in acc.iter_mut().zip(row) {
                            *a += v;
                        }
                    }
                    *x = acc;
                    return;
                }
                for (j, &i) in rows.iter().enumerate() {
                    if let Some(&ahead) = rows.get(j + PREFETCH_ROWS) {
                        let a = ahead as usize * c;
                        // A row may straddle two cache lines.
                        prefetch::read(&d[a]);
                        prefetch::read(&d[a + c - 1]);
                    }
                    let i = i as usize;
                    let row = &d[i * c..(i + 1) * c];
                    for (xi, &v) in x.iter_mut().zip(row) {
                        *xi += v;
                    }
                }
            }
            Kind::Quantized(q) => {
                let n = q.pq.nsubq;
                for (j, &i) in rows.iter().enumerate() {
                    if let Some(&ahead) = rows.get(j + PREFETCH_ROWS) {
                        prefetch::read(&q.codes[ahead as usize * n]);
                        if let Some((codes, _)) = &q.norms {
                            prefetch::read(&codes[ahead as usize]);
                        }
                    }
                    let i = i as usize;
                    q.pq.add_code(x, &q.codes[i * n..(i + 1) * n], q.norm(i));
                }
            }
        }
    }

    /// Starts loading row `i` (a hint; rows out of range are ignored).
    #[inline]
    pub(crate) fn prefetch_row(&self, i: u32) {
        let i = i as usize;
        match &self.kind {
            Kind::Dense { data, start } => {
                if let Some(v) = data.get(start + i * self.cols) {
                    prefetch::read(v);
                }
            }
            Kind::Quantized(q) => {
                if let Some(v) = q.codes.get(i * q.pq.nsubq) {
                    prefetch::read(v);
                }
            }
        }
    }

    #[inline]
    pub(crate) fn dot_row(&self, x: &[f32], i: usize) -> f32 {
        match &self.kind {
            Kind::Dense { data, start } => {
                let d = &data[*start..];
                let mut s = 0.0f32;
                for (&xi, &v) in x.iter().zip(&d[i * self.cols..(i + 1) * self.cols]) {
                    s += xi * v;
                }
                s
            }
            Kind::Quantized(q) => {
                let n = q.pq.nsubq;
                q.pq.dot_code(x, &q.codes[i * n..(i + 1) * n], q.norm(i))
            }
        }
    }
}

impl Quantized {
    #[inline]
    fn norm(&self, i: usize) -> f32 {
        match &self.norms {
            Some((codes, npq)) => npq.centroid(0, codes[i])[0],
            None => 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le(v: &[i32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn quantizer_blocks_must_make_dim() {
        // dim 5 = 2 blocks of 3 (last 2) is fine; dim 5 with blocks of 2 (last 2) is not.
        let mut ok = le(&[5, 2, 3, 2]);
        ok.extend(std::iter::repeat_n(0u8, 5 * 256 * 4));
        assert!(ProductQuantizer::read(&mut Reader::new(&ok), "pq").is_ok());
        let bad = le(&[5, 2, 2, 2]);
        let e = ProductQuantizer::read(&mut Reader::new(&bad), "pq").unwrap_err();
        assert!(e.to_string().contains("do not make dim 5"), "{e}");
        let huge = le(&[i32::MAX, 1, i32::MAX, i32::MAX]);
        let e = ProductQuantizer::read(&mut Reader::new(&huge), "pq").unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }

    #[test]
    fn dense_sizes_are_checked_before_allocating() {
        let mut b = Vec::new();
        b.extend(i64::MAX.to_le_bytes());
        b.extend(2i64.to_le_bytes());
        let e = Matrix::read(&mut Reader::new(&b), false, "input matrix").unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let mut b = Vec::new();
        b.extend(1000i64.to_le_bytes());
        b.extend(1000i64.to_le_bytes());
        let e = Matrix::read(&mut Reader::new(&b), false, "input matrix").unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }
}
