//! Transparent huge pages for the model's large arrays.
//!
//! A document's tokens touch random rows of the input matrix (tens of megabytes for a
//! word-bigram model) and random slots of the word table: with 4 KB pages nearly every touch
//! also misses the TLB (a few thousand entries cover a few megabytes), and the page walks showed
//! in the profile as stalls on the very prefetches meant to hide the misses. Linux backs a
//! region with 2 MB pages when it is advised to (`MADV_HUGEPAGE`) before being touched; where
//! the kernel's setting is `never` or on other systems nothing happens. Values are unaffected.

/// Below this a buffer spans too few 2 MB pages to matter.
const MIN_BYTES: usize = 8 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// Advises the kernel to back the 2 MB-aligned interior of `v`'s capacity with huge pages. Call
/// it right after reserving, before writing the elements.
pub(crate) fn advise<T>(v: &mut Vec<T>) {
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if bytes < MIN_BYTES {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let start = v.as_mut_ptr() as usize;
        let lo = start.next_multiple_of(HUGE_PAGE);
        let hi = (start + bytes) / HUGE_PAGE * HUGE_PAGE;
        if hi > lo {
            // SAFETY: [lo, hi) lies inside the allocation owned by `v` (its reserved capacity)
            // and is page-aligned; MADV_HUGEPAGE only changes how the kernel backs those pages,
            // never their contents. A failure (e.g. THP disabled) is harmless and ignored.
            unsafe {
                libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE);
            }
        }
    }
}
