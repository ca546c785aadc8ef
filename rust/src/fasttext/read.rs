//! The fastText binary format (`.bin` and quantized `.ftz`), read with every size checked against
//! the bytes that are left, so a truncated or hostile file is an [`Error::InvalidModel`] and never
//! a huge allocation or an out-of-bounds read.
//!
//! Layout (fastText 0.9, `FASTTEXT_VERSION` 12; all integers little-endian as written on x86):
//!
//! | part | fields |
//! | --- | --- |
//! | header | `i32` magic 793712314, `i32` version (≤ 12) |
//! | args | `i32` dim, ws, epoch, minCount, neg, wordNgrams, loss (1 hs, 2 ns, 3 softmax, 4 ova), model (1 cbow, 2 sg, 3 supervised), bucket, minn, maxn, lrUpdateRate; `f64` t |
//! | dictionary | `i32` size, nwords, nlabels; `i64` ntokens, pruneidx_size; `size` × (NUL-terminated bytes, `i64` count, `i8` type 0 word / 1 label); `max(pruneidx_size, 0)` × (`i32` bucket, `i32` new index) |
//! | input | `u8` quantized flag, then a matrix |
//! | output | `u8` quantized flag, then a matrix (quantized only when the input is) |
//!
//! A dense matrix is `i64` rows, `i64` cols, `rows × cols` `f32`. A quantized matrix is `u8`
//! qnorm, `i64` rows, `i64` cols, `i32` codesize, `codesize` code bytes, a product quantizer
//! (`i32` dim, nsubq, dsub, lastdsub, `dim × 256` `f32` centroids), and with qnorm `rows` norm
//! codes and a second (1-dimensional) product quantizer.

use crate::error::{Error, Result};

/// `FASTTEXT_FILEFORMAT_MAGIC_INT32`.
pub const MAGIC: i32 = 793_712_314;
/// The newest format version fastText 0.9 writes and reads.
pub const VERSION: i32 = 12;

pub(crate) fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidModel(reason.into())
}

/// A cursor over the file's bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `n` bytes, or a "truncated" error naming `what` and the offset.
    pub(crate) fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() as u64 {
            return Err(invalid(format!(
                "truncated file: {what} needs {n} bytes at offset {}, only {} left",
                self.pos,
                self.remaining()
            )));
        }
        let n = n as usize;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N as u64, what)?);
        Ok(a)
    }

    pub(crate) fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn i64(&mut self, what: &str) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn f64(&mut self, what: &str) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    /// A C++ `bool` (one byte, 0 or 1).
    pub(crate) fn flag(&mut self, what: &str) -> Result<bool> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(invalid(format!(
                "{what} must be 0 or 1, got {b} at offset {}",
                self.pos - 1
            ))),
        }
    }

    /// Bytes up to (not including) the next NUL, which is consumed.
    pub(crate) fn cstr(&mut self, what: &str) -> Result<&'a [u8]> {
        let rest = &self.buf[self.pos..];
        let Some(end) = rest.iter().position(|&b| b == 0) else {
            return Err(invalid(format!(
                "truncated file: {what} at offset {} has no terminating NUL",
                self.pos
            )));
        };
        self.pos += end + 1;
        Ok(&rest[..end])
    }

    /// `n` little-endian `f32`, after checking that the file holds them (so `n` from a corrupt
    /// header cannot trigger a huge allocation).
    pub(crate) fn f32s(&mut self, n: u64, what: &str) -> Result<Vec<f32>> {
        Ok(self.f32s_aligned(n, what, 1)?.0)
    }

    /// `n` little-endian `f32` as [`Reader::f32s`], preceded by `pad < align` zeros so that the
    /// first of them lies at a multiple of `align` floats in memory; returns the vector and
    /// `pad`. A dense matrix of 16 columns read with `align = 16` has every row in one 64-byte
    /// cache line (the allocator's 16-byte alignment put every such row across two).
    pub(crate) fn f32s_aligned(
        &mut self,
        n: u64,
        what: &str,
        align: usize,
    ) -> Result<(Vec<f32>, usize)> {
        let bytes = self.take(n.saturating_mul(4), what)?;
        let mut v: Vec<f32> = Vec::new();
        let extra = align.max(1) - 1;
        v.try_reserve_exact(bytes.len() / 4 + extra).map_err(|_| {
            crate::alloc::out_of_memory::<f32>(u128::from(n), "model file", what.to_string())
        })?;
        super::huge::advise(&mut v);
        let pad = v.as_ptr().align_offset(align.max(1) * 4).min(extra);
        v.resize(pad, 0.0);
        v.extend(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
        Ok((v, pad))
    }
}

/// A non-negative `i32` header field as `usize`.
pub(crate) fn non_negative(v: i64, what: &str) -> Result<usize> {
    usize::try_from(v).map_err(|_| invalid(format!("{what} must be >= 0, got {v}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_is_an_error_with_offset() {
        let mut r = Reader::new(&[1, 0, 0]);
        let e = r.i32("dim").unwrap_err().to_string();
        assert!(
            e.contains("dim needs 4 bytes at offset 0, only 3 left"),
            "{e}"
        );
        let mut r = Reader::new(&[0, 0, 0, 0]);
        let e = r.f32s(u64::MAX, "input matrix").unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        let mut r = Reader::new(b"abc");
        assert!(r.cstr("word").is_err());
        let mut r = Reader::new(b"ab\0c");
        assert_eq!(r.cstr("word").unwrap(), b"ab");
        assert_eq!(r.remaining(), 1);
        let mut r = Reader::new(&[2]);
        assert!(r.flag("quant").unwrap_err().to_string().contains("0 or 1"));
    }
}
