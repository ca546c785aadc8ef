//! Borrowed views of text columns: Arrow string buffers (offsets + UTF-8 data + validity) and
//! plain string slices, behind one trait so every algorithm is written once.

use crate::error::{Error, Result};

/// A random-access column of optional UTF-8 texts, shareable across threads.
pub trait Texts: Sync {
    /// Number of rows.
    fn len(&self) -> usize;
    /// True if there are no rows.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Row `i`: `Ok(None)` for a null, an error if the bytes are not UTF-8.
    fn get(&self, i: usize) -> Result<Option<&str>>;
}

impl<S: AsRef<str> + Sync> Texts for [S] {
    fn len(&self) -> usize {
        <[S]>::len(self)
    }
    fn get(&self, i: usize) -> Result<Option<&str>> {
        Ok(Some(self[i].as_ref()))
    }
}

impl<S: AsRef<str> + Sync> Texts for Vec<S> {
    fn len(&self) -> usize {
        <[S]>::len(self)
    }
    fn get(&self, i: usize) -> Result<Option<&str>> {
        Ok(Some(self[i].as_ref()))
    }
}

/// Arrow offsets: `string` uses 32-bit, `large_string` 64-bit.
#[derive(Clone, Copy, Debug)]
pub enum Offsets<'a> {
    /// Offsets of an Arrow `string` array.
    I32(&'a [i32]),
    /// Offsets of an Arrow `large_string` array.
    I64(&'a [i64]),
}

impl Offsets<'_> {
    fn len(&self) -> usize {
        match self {
            Offsets::I32(o) => o.len(),
            Offsets::I64(o) => o.len(),
        }
    }
    #[inline]
    fn at(&self, i: usize) -> i64 {
        match self {
            Offsets::I32(o) => i64::from(o[i]),
            Offsets::I64(o) => o[i],
        }
    }
}

/// An Arrow string column borrowed from its buffers (zero-copy).
#[derive(Clone, Copy, Debug)]
pub struct TextColumn<'a> {
    offsets: Offsets<'a>,
    data: &'a [u8],
    validity: Option<&'a [bool]>,
}

impl<'a> TextColumn<'a> {
    /// Checks the buffers once (offsets non-decreasing and inside `data`, validity as long as the
    /// column) so that [`Texts::get`] only has to validate UTF-8.
    ///
    /// # Errors
    /// [`Error::MalformedColumn`] or [`Error::ShapeMismatch`] naming the inconsistency.
    pub fn new(offsets: Offsets<'a>, data: &'a [u8], validity: Option<&'a [bool]>) -> Result<Self> {
        if offsets.len() == 0 {
            return Err(Error::MalformedColumn(
                "offsets must have at least one element".into(),
            ));
        }
        let n = offsets.len() - 1;
        let mut prev = offsets.at(0);
        if prev < 0 {
            return Err(Error::MalformedColumn(format!(
                "offset 0 is negative ({prev})"
            )));
        }
        for i in 1..=n {
            let o = offsets.at(i);
            if o < prev {
                return Err(Error::MalformedColumn(format!(
                    "offsets decrease at row {}: {prev} > {o}",
                    i - 1
                )));
            }
            prev = o;
        }
        if prev as u64 > data.len() as u64 {
            return Err(Error::MalformedColumn(format!(
                "last offset {prev} is past the data buffer ({} bytes)",
                data.len()
            )));
        }
        if let Some(v) = validity {
            if v.len() != n {
                return Err(Error::ShapeMismatch(format!(
                    "validity has {} entries for {n} rows",
                    v.len()
                )));
            }
        }
        Ok(Self {
            offsets,
            data,
            validity,
        })
    }

    /// Total bytes of text in the column.
    pub fn n_bytes(&self) -> u64 {
        (self.offsets.at(self.len()) - self.offsets.at(0)) as u64
    }

    /// The raw bytes of row `i` (no UTF-8 check; a null row's bytes as its offsets say).
    ///
    /// # Panics
    /// If `i >= self.len()` (callers check the index).
    #[inline]
    pub fn bytes(&self, i: usize) -> &'a [u8] {
        &self.data[self.offsets.at(i) as usize..self.offsets.at(i + 1) as usize]
    }

    /// Whether the column has a validity (that is, may hold nulls).
    pub fn has_validity(&self) -> bool {
        self.validity.is_some()
    }
}

impl Texts for TextColumn<'_> {
    fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    #[inline]
    fn get(&self, i: usize) -> Result<Option<&str>> {
        if let Some(v) = self.validity {
            if !v[i] {
                return Ok(None);
            }
        }
        let bytes = &self.data[self.offsets.at(i) as usize..self.offsets.at(i + 1) as usize];
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Some(s)),
            Err(e) => Err(Error::InvalidUtf8 {
                row: i,
                offset: e.valid_up_to(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_and_nulls() {
        let data = b"abcde";
        let offs = [0i32, 2, 2, 5];
        let valid = [true, false, true];
        let col = TextColumn::new(Offsets::I32(&offs), data, Some(&valid)).unwrap();
        assert_eq!(col.len(), 3);
        assert_eq!(col.get(0).unwrap(), Some("ab"));
        assert_eq!(col.get(1).unwrap(), None);
        assert_eq!(col.get(2).unwrap(), Some("cde"));
        assert_eq!(col.n_bytes(), 5);
    }

    #[test]
    fn rejects_bad_buffers() {
        let d = b"ab";
        assert!(TextColumn::new(Offsets::I64(&[]), d, None).is_err());
        assert!(TextColumn::new(Offsets::I64(&[0, 3]), d, None).is_err());
        assert!(TextColumn::new(Offsets::I64(&[1, 0]), d, None).is_err());
        assert!(TextColumn::new(Offsets::I64(&[0, 1]), d, Some(&[true, true])).is_err());
        let bad = [b'a', 0xff];
        let col = TextColumn::new(Offsets::I64(&[0, 2]), &bad, None).unwrap();
        assert!(matches!(
            col.get(0),
            Err(Error::InvalidUtf8 { row: 0, offset: 1 })
        ));
    }
}
