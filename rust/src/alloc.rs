//! Fallible allocation for buffers whose size comes from a parameter or from the input.
//!
//! `vec![0; n]` aborts the whole process (Python included) when the allocator says no. Every
//! buffer sized by user input (`n_rows × n_buckets`, `n_rows × num_perm`, `k` draws, …) goes
//! through [`zeroed`] or [`with_capacity`] instead, which turn a failed or overflowing request
//! into [`Error::OutOfMemory`] (a Python `MemoryError` naming the size and the parameter).

use crate::error::{Error, Result};

/// The error for `count` elements of `T`, computed in 128 bits so that it cannot overflow.
pub fn out_of_memory<T>(count: u128, param: &'static str, what: impl Into<String>) -> Error {
    Error::OutOfMemory {
        param,
        what: what.into(),
        bytes: count.saturating_mul(std::mem::size_of::<T>() as u128),
    }
}

/// `a × b` elements, or [`Error::OutOfMemory`] naming `param` when the product overflows `usize`.
///
/// # Errors
/// Overflow.
pub fn checked_len<T>(a: usize, b: usize, param: &'static str, what: &str) -> Result<usize> {
    a.checked_mul(b)
        .ok_or_else(|| out_of_memory::<T>(a as u128 * b as u128, param, what))
}

/// An empty vector with room for `n` elements.
///
/// # Errors
/// [`Error::OutOfMemory`] naming `param` when the allocation fails.
pub fn with_capacity<T>(n: usize, param: &'static str, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| out_of_memory::<T>(n as u128, param, what))?;
    Ok(v)
}

/// `n` copies of `T::default()` (zeros for numbers).
///
/// # Errors
/// [`Error::OutOfMemory`] naming `param` when the allocation fails.
pub fn zeroed<T: Clone + Default>(n: usize, param: &'static str, what: &str) -> Result<Vec<T>> {
    filled(n, T::default(), param, what)
}

/// `rows × cols` zeros (a row-major matrix); `what` names the buffer in the error.
///
/// # Errors
/// [`Error::OutOfMemory`] naming `param` when the size overflows or the allocation fails.
pub fn zeroed_2d<T: Clone + Default>(
    rows: usize,
    cols: usize,
    param: &'static str,
    what: &str,
) -> Result<Vec<T>> {
    let what = format!("{what} ({rows} × {cols})");
    zeroed(checked_len::<T>(rows, cols, param, &what)?, param, &what)
}

/// `n` copies of `value`.
///
/// # Errors
/// [`Error::OutOfMemory`] naming `param` when the allocation fails.
pub fn filled<T: Clone>(n: usize, value: T, param: &'static str, what: &str) -> Result<Vec<T>> {
    let mut v = with_capacity(n, param, what)?;
    v.resize(n, value);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_requests_are_errors_not_aborts() {
        let e = zeroed::<u32>(usize::MAX / 8, "n_buckets", "dense counts").unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::OutOfMemory { .. }));
        assert!(
            msg.contains("n_buckets") && msg.contains("dense counts"),
            "{msg}"
        );
        let e = checked_len::<u32>(usize::MAX, 3, "num_perm", "signatures").unwrap_err();
        assert!(e
            .to_string()
            .contains(&(usize::MAX as u128 * 12).to_string()));
        assert_eq!(zeroed::<u64>(3, "k", "x").unwrap(), vec![0; 3]);
        assert_eq!(filled(2, 7u8, "k", "x").unwrap(), vec![7, 7]);
        let e = zeroed_2d::<u32>(100_000, 1 << 40, "n_buckets", "dense counts").unwrap_err();
        assert!(
            e.to_string()
                .contains("dense counts (100000 × 1099511627776)"),
            "{e}"
        );
    }
}
