//! Software prefetch: a hint that starts loading a cache line before it is needed, so that the
//! misses of consecutive tokens (table slots, input rows: random places in tens of megabytes)
//! overlap instead of being paid one after another. It never changes a result.

/// Starts loading the cache line holding `*p` (no effect where prefetching is not available).
#[inline(always)]
pub(crate) fn read<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: SSE is part of the x86_64 baseline; a prefetch is a hint that never faults
        // and reads no memory into Rust values, and `p` is a valid reference anyway.
        #[allow(unused_unsafe)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(p).cast::<i8>());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = p;
    }
}
