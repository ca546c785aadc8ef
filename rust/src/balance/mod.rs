//! Coverage selection: balancing a corpus over a list of entries or groups, and diversity.
//!
//! - [`entries`]: MetaCLIP-style entry matching (Xu et al., "Demystifying CLIP Data", 2023):
//!   every occurrence of every entry of a list (Aho–Corasick over the normalised entries), as a
//!   sparse document × entry matrix of occurrence counts, plus per-entry document counts.
//! - [`draw`]: the MetaCLIP balancing draw: a document is kept if any of its entries `e` passes a
//!   draw of probability `min(1, t / count_e)`, and the keyed uniforms of `cap_per_group`.
//! - [`mig`]: greedy maximisation of a concave-over-modular objective (MIG, Chen et al. 2025),
//!   plain and lazy.
//!
//! Every random draw is a pure function of `(seed, entry or group key, document id hash)`
//! ([`crate::rng::keyed_uniform`]), so the result never depends on batching, sharding or threads.

pub mod draw;
pub mod entries;
pub mod mig;

/// A sparse matrix in CSR layout: row `i` owns `indices[indptr[i]..indptr[i + 1]]` (sorted,
/// unique) and the matching `values` (scipy's `csr_matrix((values, indices, indptr))`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Csr<V> {
    /// Row pointers, `n_rows + 1` entries, starting at 0.
    pub indptr: Vec<i64>,
    /// Column indices.
    pub indices: Vec<u32>,
    /// Values.
    pub values: Vec<V>,
}

/// A borrowed CSR matrix (the layout of [`Csr`]).
#[derive(Clone, Copy, Debug)]
pub struct CsrView<'a, V> {
    /// Row pointers.
    pub indptr: &'a [i64],
    /// Column indices.
    pub indices: &'a [u32],
    /// Values.
    pub values: &'a [V],
    /// Number of columns: every index must be below it.
    pub n_cols: usize,
}

impl<'a, V> CsrView<'a, V> {
    /// Checks the layout once (pointers start at 0, never decrease, end at `indices.len()`, and
    /// every column index is below `n_cols`), so that row access cannot go out of bounds.
    ///
    /// # Errors
    /// [`crate::Error::ShapeMismatch`] or [`crate::Error::InvalidParameter`] naming `name`.
    pub fn new(
        name: &'static str,
        indptr: &'a [i64],
        indices: &'a [u32],
        values: &'a [V],
        n_cols: usize,
    ) -> crate::Result<Self> {
        use crate::Error;
        if indices.len() != values.len() {
            return Err(Error::ShapeMismatch(format!(
                "{name}: {} indices for {} values",
                indices.len(),
                values.len()
            )));
        }
        if indptr.first() != Some(&0) {
            return Err(Error::param(name, "indptr must start at 0"));
        }
        if indptr.windows(2).any(|w| w[1] < w[0]) {
            return Err(Error::param(name, "indptr must not decrease"));
        }
        if indptr.last().copied() != Some(indices.len() as i64) {
            return Err(Error::ShapeMismatch(format!(
                "{name}: indptr ends at {:?} but there are {} indices",
                indptr.last(),
                indices.len()
            )));
        }
        if let Some(&bad) = indices.iter().find(|&&j| j as usize >= n_cols) {
            return Err(Error::param(
                name,
                format!("has column index {bad}, but there are {n_cols} columns"),
            ));
        }
        Ok(Self {
            indptr,
            indices,
            values,
            n_cols,
        })
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Column indices and values of row `i`.
    #[inline]
    pub fn row(&self, i: usize) -> (&'a [u32], &'a [V]) {
        let (a, b) = (self.indptr[i] as usize, self.indptr[i + 1] as usize);
        (&self.indices[a..b], &self.values[a..b])
    }
}
