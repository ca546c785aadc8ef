//! The only place that touches rayon pools.
//!
//! Every parallel entry point runs inside [`with_threads`], which installs a pool of the requested
//! size. Pools are cached per process id: after `fork()` the child sees a different pid and builds a
//! fresh pool instead of submitting work to worker threads that do not exist in it (the failure
//! mode that makes `tokenizers` disable parallelism after a fork).
//!
//! Determinism does not depend on the pool: all parallel code in the crate produces per-item results
//! that are combined in index order, or integer sums, which are associative.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rayon::ThreadPool;

use crate::error::{Error, Result};

struct CachedPool {
    pid: u32,
    n_threads: usize,
    pool: Arc<ThreadPool>,
}

static POOLS: Mutex<Vec<CachedPool>> = Mutex::new(Vec::new());

/// The environment variable that sets the thread count when the caller does not choose.
pub const THREADS_ENV: &str = "TAMIS_NUM_THREADS";

/// The machine's available parallelism.
fn machine_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// `TAMIS_NUM_THREADS`, if set (and not blank).
///
/// Counts above twice the machine's threads (at least 4) give the machine's count, as an explicit
/// `n_threads` does in the Python layer: more threads only add overhead, and results never depend
/// on the count.
///
/// # Errors
/// A value that is not a positive integer is an [`Error::InvalidParameter`] naming the variable.
fn env_threads() -> Result<Option<usize>> {
    let raw = match std::env::var(THREADS_ENV) {
        Err(std::env::VarError::NotPresent) => return Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => format!("{v:?}"),
        Ok(v) => v,
    };
    if raw.trim().is_empty() {
        return Ok(None);
    }
    match raw.trim().parse::<usize>() {
        Ok(n) if n >= 1 => {
            let machine = machine_threads();
            Ok(Some(if n > (2 * machine).max(4) { machine } else { n }))
        }
        _ => Err(Error::param(
            THREADS_ENV,
            format!("must be a positive integer, got {raw:?}"),
        )),
    }
}

/// Number of threads used when the caller does not choose: `TAMIS_NUM_THREADS` when it is set to
/// a valid count, else the machine's available parallelism.
pub fn default_threads() -> usize {
    env_threads().ok().flatten().unwrap_or_else(machine_threads)
}

fn pool(n_threads: usize) -> Result<Arc<ThreadPool>> {
    let pid = std::process::id();
    let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
    // Pools inherited through fork() have no threads in this process: leak them rather than run
    // their destructor, which would signal threads that were never started here.
    let (stale, mut live): (Vec<_>, Vec<_>) = pools.drain(..).partition(|p| p.pid != pid);
    stale.into_iter().for_each(std::mem::forget);
    let found = live
        .iter()
        .find(|p| p.n_threads == n_threads)
        .map(|p| Arc::clone(&p.pool));
    let result = if let Some(p) = found {
        Ok(p)
    } else {
        match rayon::ThreadPoolBuilder::new()
            .num_threads(n_threads)
            .thread_name(|i| format!("tamis-{i}"))
            .build()
        {
            Ok(p) => {
                let p = Arc::new(p);
                live.push(CachedPool {
                    pid,
                    n_threads,
                    pool: Arc::clone(&p),
                });
                Ok(p)
            }
            Err(e) => Err(Error::ThreadPool {
                n_threads,
                reason: e.to_string(),
            }),
        }
    };
    *pools = live;
    result
}

/// Runs `f` on a pool of `n_threads` workers (`None`: [`default_threads`]).
///
/// # Errors
/// `n_threads == Some(0)` or an invalid `TAMIS_NUM_THREADS` (with `None`) is an
/// [`Error::InvalidParameter`]; a pool that cannot start is [`Error::ThreadPool`].
pub fn with_threads<R: Send>(n_threads: Option<usize>, f: impl FnOnce() -> R + Send) -> Result<R> {
    let n = match n_threads {
        Some(0) => return Err(Error::param("n_threads", "must be >= 1, got 0")),
        Some(n) => n,
        None => env_threads()?.unwrap_or_else(machine_threads),
    };
    Ok(pool(n)?.install(f))
}

/// State kept per worker thread of the current pool (scratch buffers, an accumulator), for loops
/// that make every task a job of its own (`with_max_len(1)`).
///
/// rayon's `map_init` / `try_fold` make their state per *split*, and a split, once started, runs
/// to its end on one thread: with the default splitting a thread that finished its share could
/// not take over the last few hundred tasks of the other's, so on 2 threads the featuriser's
/// speed-up varied from 1.2x to 2.0x from one run to the next. One job per task balances the
/// load to the last task; this keeps the state per thread rather than per task.
pub struct PerThread<T> {
    slots: Vec<Mutex<T>>,
}

impl<T> PerThread<T> {
    /// One state per thread of the current pool (call it inside [`with_threads`]).
    pub fn new(init: impl Fn() -> T) -> Self {
        Self {
            slots: (0..rayon::current_num_threads())
                .map(|_| Mutex::new(init()))
                .collect(),
        }
    }

    /// Runs `f` on this thread's state. `f` must not run rayon work itself: a job stolen while
    /// it waits could ask for the same state and wait on itself.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let i = rayon::current_thread_index().unwrap_or(0) % self.slots.len();
        // Only this thread takes this slot, so the lock is never contended.
        let mut state = self.slots[i].lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut state)
    }

    /// The states, in thread order.
    pub fn into_inner(self) -> impl Iterator<Item = T> {
        self.slots
            .into_iter()
            .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A request to stop a long computation between two units of work (an LSH band, a fixed-point
/// iteration). The Python binding sets it when Ctrl-C arrives while the core runs on another
/// thread; the core polls it with [`Stop::check`] and returns [`Error::Interrupted`].
#[derive(Debug, Default)]
pub struct Stop(AtomicBool);

impl Stop {
    /// Asks the computation to stop at its next check.
    pub fn request(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was requested.
    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err(Error::Interrupted)` once a stop was requested.
    ///
    /// # Errors
    /// [`Error::Interrupted`].
    pub fn check(&self) -> Result<()> {
        if self.is_requested() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_threads_is_an_error() {
        assert!(matches!(
            with_threads(Some(0), || 1),
            Err(Error::InvalidParameter { .. })
        ));
    }

    #[test]
    fn per_thread_state_adds_up() {
        use rayon::prelude::*;
        for n in [1, 2, 3] {
            let slots = with_threads(Some(n), || {
                let slots = PerThread::new(|| (0u64, 0usize));
                (0..1000u32).into_par_iter().with_max_len(1).for_each(|i| {
                    slots.with(|(sum, count)| {
                        *sum += u64::from(i);
                        *count += 1;
                    });
                });
                slots
            })
            .unwrap();
            let all: Vec<(u64, usize)> = slots.into_inner().collect();
            assert_eq!(all.len(), n);
            assert_eq!(all.iter().map(|s| s.0).sum::<u64>(), 499_500);
            assert_eq!(all.iter().map(|s| s.1).sum::<usize>(), 1000);
        }
    }

    #[test]
    fn stop_is_sticky() {
        let s = Stop::default();
        assert!(s.check().is_ok());
        s.request();
        assert!(matches!(s.check(), Err(Error::Interrupted)));
    }

    #[test]
    fn runs_on_requested_pool_size() {
        for n in [1, 2, 3] {
            assert_eq!(
                with_threads(Some(n), rayon::current_num_threads).unwrap(),
                n
            );
        }
    }
}
