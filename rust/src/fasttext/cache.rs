//! A per-thread memo of the tokens a thread has seen: token bytes → its fastText hash, whether it
//! is a word, and its input rows (the word row and subword buckets, or an out-of-vocabulary
//! word's buckets).
//!
//! Why: the profile of `Dictionary::line` (perf, `examples/fasttext_predict.rs`) showed every
//! token paying for a probe of the dictionary's table (megabytes: cache misses), a compare
//! against the stored word, and, for out-of-vocabulary words of subword models, the hashing of
//! every character n-gram again at each occurrence. Word frequencies are Zipfian, so a small
//! table that stays in cache answers most tokens with one probe. The table is open addressing
//! over the FNV hash that the word n-grams need anyway, and it is emptied when full (no
//! eviction order to keep); results do not depend on it.

/// Tokens longer than this are not memoised (they are rare and their rows many).
pub(crate) const MAX_KEY: usize = 64;
/// Entries before the memo is emptied (the table has twice as many slots). 2^18: at 2^15 the memo
/// of the language-ID `.ftz` overflowed on the corpus's code vocabulary and was emptied again and
/// again (`benches/quality_fasttext.py`, quiet machine: 5,474 -> 6,499 docs/s at one thread, 2.5x
/// -> 3.2x the bindings). Per thread at most ~2 MB of slots, 6 MB of entries, 16 MB of rows and
/// the token bytes (< 64 B each).
const MAX_ENTRIES: usize = 1 << 18;
/// Rows held before the memo is emptied.
const MAX_ROWS: usize = 1 << 22;

#[derive(Clone, Copy)]
pub(crate) struct Entry {
    pub(crate) hash: u32,
    pub(crate) word: bool,
    key: (u32, u32),
    rows: (u32, u32),
}

#[derive(Default)]
pub(crate) struct TokenCache {
    slots: Vec<u32>,
    entries: Vec<Entry>,
    keys: Vec<u8>,
    pub(crate) rows: Vec<u32>,
}

impl TokenCache {
    /// The entry of `token` (whose hash is `h`), if memoised.
    #[inline]
    pub(crate) fn get(&self, token: &[u8], h: u32) -> Option<Entry> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut slot = spread(h) & mask;
        loop {
            let e = self.slots[slot];
            if e == 0 {
                return None;
            }
            let entry = self.entries[e as usize - 1];
            if entry.hash == h && super::table::same_key(self.key(&entry), token) {
                return Some(entry);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Starts loading the slot `h` probes first (a hint, see [`super::prefetch`]).
    #[inline]
    pub(crate) fn prefetch(&self, h: u32) {
        if !self.slots.is_empty() {
            super::prefetch::read(&self.slots[spread(h) & (self.slots.len() - 1)]);
        }
    }

    /// Starts loading the entry of the slot `h` probes first (once that slot is in cache).
    #[inline]
    pub(crate) fn prefetch_entry(&self, h: u32) {
        if !self.slots.is_empty() {
            let e = self.slots[spread(h) & (self.slots.len() - 1)];
            if e != 0 {
                super::prefetch::read(&self.entries[e as usize - 1]);
            }
        }
    }

    #[inline]
    fn key(&self, e: &Entry) -> &[u8] {
        &self.keys[e.key.0 as usize..(e.key.0 + e.key.1) as usize]
    }

    /// The rows of `e`.
    #[inline]
    pub(crate) fn rows_of(&self, e: &Entry) -> &[u32] {
        &self.rows[e.rows.0 as usize..(e.rows.0 + e.rows.1) as usize]
    }

    /// Makes room for a new entry (empties the memo when it is full); returns where its rows
    /// start in [`TokenCache::rows`], to which the caller appends them before [`insert`].
    ///
    /// [`insert`]: TokenCache::insert
    pub(crate) fn begin(&mut self) -> usize {
        if self.slots.is_empty() {
            self.slots = vec![0; 2 * MAX_ENTRIES];
        }
        if self.entries.len() >= MAX_ENTRIES || self.rows.len() >= MAX_ROWS {
            self.slots.fill(0);
            self.entries.clear();
            self.keys.clear();
            self.rows.clear();
        }
        self.rows.len()
    }

    /// Memoises `token` with the rows appended since [`TokenCache::begin`] returned `start`.
    pub(crate) fn insert(&mut self, token: &[u8], h: u32, word: bool, start: usize) -> Entry {
        let entry = Entry {
            hash: h,
            word,
            key: (self.keys.len() as u32, token.len() as u32),
            rows: (start as u32, (self.rows.len() - start) as u32),
        };
        self.keys.extend_from_slice(token);
        self.entries.push(entry);
        let mask = self.slots.len() - 1;
        let mut slot = spread(h) & mask;
        while self.slots[slot] != 0 {
            slot = (slot + 1) & mask;
        }
        self.slots[slot] = self.entries.len() as u32;
        entry
    }
}

/// FNV-1a's low bits are weak for short keys: mix before masking.
#[inline]
fn spread(h: u32) -> usize {
    (h.wrapping_mul(0x9E37_79B1) >> 7) as usize ^ h as usize
}
