//! The index: a sorted array of 64-bit n-gram hashes with a radix directory, and who owns each.
//!
//! Memory per indexed n-gram: 8 bytes of key, 4 of owner and about 1 of directory (one 4-byte
//! entry per 4 keys); n-grams shared by several items add 4 bytes per extra item. A lookup reads
//! the directory entry of the key's top bits and searches the few keys of its bucket, one or
//! two cache lines, instead of the ~log₂ m cache misses of a plain binary search.

use rayon::prelude::*;

use super::{check_params, Tokens};
use crate::alloc;
use crate::column::Texts;
use crate::error::{Error, Result};
use crate::parallel::with_threads;

/// An owner with this bit set indexes the shared-owner lists instead of naming one item.
const MULTI: u32 = 1 << 31;

/// A sorted set of 64-bit keys, each with a 32-bit value, and a directory over the top bits.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: Vec<u64>,
    values: Vec<u32>,
    bits: u32,
    dir: Vec<u32>,
}

impl KeySet {
    /// Builds the set from strictly increasing `keys` and their `values`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] or [`Error::MalformedColumn`] when the arrays disagree or the keys
    /// are not strictly increasing (a corrupt file).
    pub fn new(keys: Vec<u64>, values: Vec<u32>) -> Result<Self> {
        if keys.len() != values.len() {
            return Err(Error::ShapeMismatch(format!(
                "{} keys but {} values",
                keys.len(),
                values.len()
            )));
        }
        if keys.len() >= u32::MAX as usize {
            return Err(Error::param("index", "too many n-grams (>= 2^32)"));
        }
        if let Some(i) = keys.windows(2).position(|w| w[0] >= w[1]) {
            return Err(Error::MalformedColumn(format!(
                "index keys are not strictly increasing at position {i}"
            )));
        }
        // About four keys per bucket: the directory costs one byte per key.
        let bits = (usize::BITS - (keys.len() / 4).leading_zeros()).min(30);
        let n_buckets = 1usize << bits;
        let mut dir = alloc::zeroed::<u32>(n_buckets + 1, "index", "index directory")?;
        for &k in &keys {
            dir[Self::bucket_of(k, bits) + 1] += 1;
        }
        for i in 0..n_buckets {
            dir[i + 1] += dir[i];
        }
        Ok(Self {
            keys,
            values,
            bits,
            dir,
        })
    }

    #[inline]
    fn bucket_of(key: u64, bits: u32) -> usize {
        if bits == 0 {
            0
        } else {
            (key >> (64 - bits)) as usize
        }
    }

    /// The value of `key`, if present.
    #[inline]
    pub fn get(&self, key: u64) -> Option<u32> {
        if self.keys.is_empty() {
            return None;
        }
        let b = Self::bucket_of(key, self.bits);
        let (lo, hi) = (self.dir[b] as usize, self.dir[b + 1] as usize);
        let bucket = &self.keys[lo..hi];
        // Buckets hold ~4 keys: a linear scan beats a binary search.
        bucket
            .iter()
            .position(|&k| k == key)
            .map(|i| self.values[lo + i])
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys, ascending.
    pub fn keys(&self) -> &[u64] {
        &self.keys
    }

    /// The values, in key order.
    pub fn values(&self) -> &[u32] {
        &self.values
    }

    /// Heap bytes held.
    pub fn nbytes(&self) -> usize {
        self.keys.len() * 8 + self.values.len() * 4 + self.dir.len() * 4
    }
}

/// The arrays an [`Index`] is made of (what is saved and loaded; the directories are rebuilt).
#[derive(Clone, Debug, Default)]
pub struct IndexParts {
    /// n-gram length.
    pub ngram: usize,
    /// Shortest item indexed whole.
    pub min_tokens: usize,
    /// Hashes of the n-grams, ascending.
    pub keys: Vec<u64>,
    /// Owner of each n-gram: an item, or `MULTI | j` for the list `j` of `multi_indptr`.
    pub owners: Vec<u32>,
    /// Hashes of the short items (indexed whole), ascending.
    pub short_keys: Vec<u64>,
    /// Owner of each short key.
    pub short_owners: Vec<u32>,
    /// Token count of each short key.
    pub short_lengths: Vec<u32>,
    /// CSR offsets of the shared-owner lists.
    pub multi_indptr: Vec<u64>,
    /// Items of the shared-owner lists.
    pub multi_items: Vec<u32>,
    /// Eval set of each item.
    pub item_set: Vec<u32>,
    /// Number of indexed n-grams of each item (1 for an item indexed whole, 0 if too short).
    pub item_ngrams: Vec<u32>,
    /// Number of eval sets.
    pub n_sets: usize,
}

/// The decontamination index of one or more eval sets.
#[derive(Clone, Debug)]
pub struct Index {
    /// Everything but the key sets (their arrays are moved out).
    pub(crate) parts: IndexParts,
    pub(crate) long: KeySet,
    pub(crate) short: KeySet,
    /// Distinct lengths of the short items, ascending.
    pub(crate) lengths: Vec<usize>,
}

impl Index {
    /// Indexes `items` (texts), item `i` belonging to eval set `item_set[i]` (< `n_sets`).
    ///
    /// # Errors
    /// Bad parameters, a length mismatch, invalid UTF-8, or an allocation failure.
    pub fn build<T: Texts + ?Sized>(
        items: &T,
        item_set: &[u32],
        n_sets: usize,
        ngram: usize,
        min_tokens: usize,
        n_threads: Option<usize>,
    ) -> Result<Self> {
        check_params(ngram, min_tokens)?;
        if items.len() != item_set.len() {
            return Err(Error::ShapeMismatch(format!(
                "{} items but {} set labels",
                items.len(),
                item_set.len()
            )));
        }
        if items.len() >= MULTI as usize {
            return Err(Error::param("items", "too many items (>= 2^31)"));
        }
        if let Some(&s) = item_set.iter().find(|&&s| s as usize >= n_sets) {
            return Err(Error::param(
                "item_set",
                format!("names set {s} but there are {n_sets} sets"),
            ));
        }
        // (key, item, short length or 0) of every item, in item order.
        let per_item: Vec<Vec<(u64, u32, u32)>> = with_threads(n_threads, || {
            (0..items.len())
                .into_par_iter()
                .map_init(Tokens::default, |tok, i| -> Result<Vec<(u64, u32, u32)>> {
                    let Some(text) = items.get(i)? else {
                        return Ok(Vec::new());
                    };
                    tok.fill(text);
                    let t = tok.len();
                    let item = i as u32;
                    if t >= ngram {
                        let mut v = alloc::with_capacity(t - ngram + 1, "items", "item n-grams")?;
                        v.extend((0..=t - ngram).map(|s| (tok.window(s, ngram), item, 0)));
                        Ok(v)
                    } else if t >= min_tokens {
                        Ok(vec![(tok.window(0, t), item, t as u32)])
                    } else {
                        Ok(Vec::new())
                    }
                })
                .collect::<Result<Vec<_>>>()
        })??;
        let total: usize = per_item.iter().map(Vec::len).sum();
        let mut item_ngrams = alloc::zeroed::<u32>(items.len(), "items", "item counts")?;
        let mut long = alloc::with_capacity::<(u64, u32)>(total, "items", "n-gram hashes")?;
        let mut short = Vec::new();
        for v in per_item {
            for (key, item, len) in v {
                if len == 0 {
                    long.push((key, item));
                } else {
                    short.push((key, item, len));
                }
            }
        }
        long.par_sort_unstable();
        long.dedup();
        short.sort_unstable();
        short.dedup();
        let mut parts = IndexParts {
            ngram,
            min_tokens,
            n_sets,
            item_set: item_set.to_vec(),
            multi_indptr: vec![0],
            ..IndexParts::default()
        };
        for &(_, item) in &long {
            item_ngrams[item as usize] += 1;
        }
        for &(_, item, _) in &short {
            item_ngrams[item as usize] += 1;
        }
        parts.item_ngrams = item_ngrams;
        let (keys, owners) = group(&long, &mut parts.multi_indptr, &mut parts.multi_items)?;
        parts.keys = keys;
        parts.owners = owners;
        let pairs: Vec<(u64, u32)> = short.iter().map(|&(k, i, _)| (k, i)).collect();
        let (skeys, sowners) = group(&pairs, &mut parts.multi_indptr, &mut parts.multi_items)?;
        // A short key's length: that of its first item (a key is a hash of its own length's
        // tokens, so two lengths share a key only through a 2^-64 collision).
        let mut lengths = Vec::with_capacity(skeys.len());
        let mut j = 0;
        for &k in &skeys {
            while short[j].0 != k {
                j += 1;
            }
            lengths.push(short[j].2);
        }
        parts.short_keys = skeys;
        parts.short_owners = sowners;
        parts.short_lengths = lengths;
        Self::from_parts(parts)
    }

    /// Rebuilds an index from its arrays, checking them (they may come from a file).
    ///
    /// # Errors
    /// Inconsistent arrays, named.
    pub fn from_parts(mut parts: IndexParts) -> Result<Self> {
        check_params(parts.ngram, parts.min_tokens)?;
        let n_items = parts.item_set.len();
        let n_multi = parts.multi_indptr.len().saturating_sub(1);
        let bad = |what: String| Error::MalformedColumn(format!("decontamination index: {what}"));
        if parts.multi_indptr.first() != Some(&0)
            || parts.multi_indptr.windows(2).any(|w| w[0] > w[1])
            || parts.multi_indptr.last().copied() != Some(parts.multi_items.len() as u64)
        {
            return Err(bad("multi_indptr is not a CSR offset array".into()));
        }
        if parts.multi_items.iter().any(|&i| i as usize >= n_items) {
            return Err(bad("an owner list names a missing item".into()));
        }
        let check_owner = |o: u32| {
            if o & MULTI != 0 {
                ((o & !MULTI) as usize) < n_multi
            } else {
                (o as usize) < n_items
            }
        };
        if !parts.owners.iter().all(|&o| check_owner(o))
            || !parts.short_owners.iter().all(|&o| check_owner(o))
        {
            return Err(bad("an owner names a missing item".into()));
        }
        if parts.item_set.iter().any(|&s| s as usize >= parts.n_sets) {
            return Err(bad("an item names a missing set".into()));
        }
        if parts.item_ngrams.len() != n_items
            || parts.short_lengths.len() != parts.short_keys.len()
            || parts.owners.len() != parts.keys.len()
            || parts.short_owners.len() != parts.short_keys.len()
        {
            return Err(bad("array lengths disagree".into()));
        }
        if parts
            .short_lengths
            .iter()
            .any(|&l| (l as usize) < parts.min_tokens || l as usize >= parts.ngram)
        {
            return Err(bad(
                "a short item length is outside min_tokens..ngram".into()
            ));
        }
        // The key arrays move into the sets (10⁷ n-grams are 120 MB: never held twice).
        let long = KeySet::new(
            std::mem::take(&mut parts.keys),
            std::mem::take(&mut parts.owners),
        )?;
        let short = KeySet::new(
            std::mem::take(&mut parts.short_keys),
            std::mem::take(&mut parts.short_owners),
        )?;
        let mut lengths: Vec<usize> = parts.short_lengths.iter().map(|&l| l as usize).collect();
        lengths.sort_unstable();
        lengths.dedup();
        Ok(Self {
            parts,
            long,
            short,
            lengths,
        })
    }

    /// The arrays of the index other than the keys and owners (see [`Index::long`],
    /// [`Index::short`]): parameters, short lengths, owner lists, item sets and counts.
    pub fn meta(&self) -> &IndexParts {
        &self.parts
    }

    /// The n-grams of the items indexed by window.
    pub fn long(&self) -> &KeySet {
        &self.long
    }

    /// The short items, indexed whole.
    pub fn short(&self) -> &KeySet {
        &self.short
    }

    /// n-gram length.
    pub fn ngram(&self) -> usize {
        self.parts.ngram
    }

    /// Number of distinct indexed n-grams (short items included).
    pub fn n_ngrams(&self) -> usize {
        self.long.len() + self.short.len()
    }

    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.parts.item_set.len()
    }

    /// Heap bytes used by the lookup structures (keys, owners, directories, owner lists).
    pub fn nbytes(&self) -> usize {
        self.long.nbytes()
            + self.short.nbytes()
            + self.parts.short_lengths.len() * 4
            + self.parts.multi_indptr.len() * 8
            + self.parts.multi_items.len() * 4
            + self.parts.item_set.len() * 4
            + self.parts.item_ngrams.len() * 4
    }

    /// Calls `f(item)` for every item owning `owner`.
    #[inline]
    pub(crate) fn for_items(&self, owner: u32, mut f: impl FnMut(u32)) {
        if owner & MULTI == 0 {
            f(owner);
        } else {
            let j = (owner & !MULTI) as usize;
            let (a, b) = (
                self.parts.multi_indptr[j] as usize,
                self.parts.multi_indptr[j + 1] as usize,
            );
            self.parts.multi_items[a..b].iter().copied().for_each(f);
        }
    }
}

/// Groups sorted `(key, item)` pairs into distinct keys and owners, appending shared-owner
/// lists to `indptr`/`items`.
fn group(
    pairs: &[(u64, u32)],
    indptr: &mut Vec<u64>,
    items: &mut Vec<u32>,
) -> Result<(Vec<u64>, Vec<u32>)> {
    let mut keys = alloc::with_capacity(pairs.len(), "items", "index keys")?;
    let mut owners = alloc::with_capacity(pairs.len(), "items", "index owners")?;
    let mut i = 0;
    while i < pairs.len() {
        let k = pairs[i].0;
        let mut j = i + 1;
        while j < pairs.len() && pairs[j].0 == k {
            j += 1;
        }
        keys.push(k);
        if j - i == 1 {
            owners.push(pairs[i].1);
        } else {
            let list = indptr.len() - 1;
            if list >= MULTI as usize {
                return Err(Error::param("items", "too many shared n-grams (>= 2^31)"));
            }
            owners.push(MULTI | list as u32);
            items.extend(pairs[i..j].iter().map(|p| p.1));
            indptr.push(items.len() as u64);
        }
        i = j;
    }
    Ok((keys, owners))
}
