//! fastText supervised-model inference (Joulin, Grave, Bojanowski & Mikolov, "Bag of Tricks for
//! Efficient Text Classification", 2017; quantized models: Joulin et al., "FastText.zip", 2016).
//!
//! [`FastText::from_bytes`] reads a `.bin` or quantized `.ftz` file (format in [`read`]),
//! [`FastText::predict`] returns the top-k labels of many documents in parallel with the
//! probabilities the `fasttext` Python bindings (0.9.x) report for `predict(text, k, threshold)`:
//!
//! - the document is one line: its newlines are white space like spaces and tabs (the bindings
//!   refuse a `\n`; callers that replace it with a space get the same tokens), and `</s>` ends it;
//! - the hidden vector is the mean of the input rows of the line's words, subwords and word
//!   n-grams ([`dict`]); with no input row at all there is no prediction;
//! - softmax: `softmax(W h)`; one-vs-all and negative sampling: fastText's 512-entry sigmoid table
//!   on `[-8, 8]`; hierarchical softmax: the Huffman tree over the label counts, searched depth
//!   first with the same pruning, so the same top-k;
//! - a reported probability is `exp(log(p + 1e-5))` (fastText ranks by `log(p + 1e-5)`), labels
//!   with `p < threshold` are skipped, and results are sorted by probability, ties by label index.
//!
//! Arithmetic is `f32` in fastText's order, so results match the C++ code to a few ulps.

mod cache;
mod dict;
mod huge;
mod matrix;
mod prefetch;
pub mod read;
mod table;

use rayon::prelude::*;

use crate::alloc;
use crate::column::Texts;
use crate::error::{Error, Result};
use crate::parallel::{with_threads, PerThread};
use dict::{Dictionary, LineScratch};
use matrix::Matrix;
use read::{invalid, Reader, MAGIC, VERSION};

pub use dict::{hash, EOS, LABEL_PREFIX};

/// The output layer's loss, which decides how label probabilities are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Hierarchical softmax (`-loss hs`).
    HierarchicalSoftmax,
    /// Negative sampling (`-loss ns`): predicts like one-vs-all.
    NegativeSampling,
    /// Softmax (`-loss softmax`, fastText's supervised default).
    Softmax,
    /// One-vs-all (`-loss ova`): independent sigmoids.
    OneVsAll,
}

impl Loss {
    /// fastText's name for the loss.
    pub fn name(self) -> &'static str {
        match self {
            Loss::HierarchicalSoftmax => "hs",
            Loss::NegativeSampling => "ns",
            Loss::Softmax => "softmax",
            Loss::OneVsAll => "ova",
        }
    }
}

/// The training arguments stored in the file that inference needs.
#[derive(Clone, Debug)]
pub struct Args {
    /// Dimension of the hidden vector.
    pub dim: usize,
    /// Longest word n-gram.
    pub word_ngrams: i32,
    /// The loss.
    pub loss: Loss,
    /// Hash buckets of subwords and word n-grams.
    pub bucket: i32,
    /// Shortest character n-gram.
    pub minn: i32,
    /// Longest character n-gram (0: no subwords).
    pub maxn: i32,
    /// File format version.
    pub version: i32,
}

/// fastText's sigmoid table: 512 steps on `[-8, 8]`.
const SIGMOID_TABLE_SIZE: usize = 512;
const MAX_SIGMOID: f32 = 8.0;

#[derive(Debug)]
struct Node {
    left: i32,
    right: i32,
}

/// A loaded supervised fastText model.
#[derive(Debug)]
pub struct FastText {
    args: Args,
    dict: Dictionary,
    input: Matrix,
    output: Matrix,
    sigmoid: Vec<f32>,
    tree: Vec<Node>,
    labels: Vec<String>,
}

/// Top-k predictions of a batch: row-major `(n_rows, k)` label indices (`-1` where a row has
/// fewer than `k` predictions) and probabilities (`0.0` there).
#[derive(Debug)]
pub struct Predictions {
    /// Label indices into [`FastText::labels`].
    pub labels: Vec<i32>,
    /// Probabilities as fastText reports them (`f32` values widened exactly).
    pub probs: Vec<f64>,
    /// Columns per row.
    pub k: usize,
}

/// fastText's `std_log`: `log(x + 1e-5)` in double precision, rounded to `f32`.
#[inline]
fn std_log(x: f32) -> f32 {
    (f64::from(x) + 1e-5).ln() as f32
}

/// Per-thread buffers.
#[derive(Default)]
struct Scratch {
    line: LineScratch,
    rows: Vec<u32>,
    hidden: Vec<f32>,
    output: Vec<f32>,
    heap: Vec<(f32, i32)>,
    stack: Vec<(usize, f32)>,
}

/// Rows per parallel task (documents are short; one task per document would cost more than it).
const ROWS_PER_TASK: usize = 64;

impl FastText {
    /// Reads a model from its file's bytes (`.bin` or `.ftz`).
    ///
    /// # Errors
    /// [`Error::InvalidModel`] for a file that is not a supervised fastText model, is truncated,
    /// or whose parts disagree (every size is checked against the bytes left before allocating).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let r = &mut Reader::new(bytes);
        let args = read_args(r)?;
        let Args {
            dim,
            word_ngrams,
            loss,
            bucket,
            minn,
            maxn,
            ..
        } = args;
        let dict = Dictionary::read(r, bucket, minn, maxn, word_ngrams)?;
        if dict.nlabels == 0 {
            return Err(invalid("the dictionary has no label"));
        }
        let quant_input = r.flag("input quantization flag")?;
        if !quant_input && dict.prune.is_some() {
            return Err(invalid(
                "a pruned dictionary with a dense input matrix (fastText rejects such files too)",
            ));
        }
        let input = Matrix::read(r, quant_input, "input matrix")?;
        let quant_output = r.flag("output quantization flag")?;
        // fastText reads a quantized output only when the input is quantized too.
        let output = Matrix::read(r, quant_input && quant_output, "output matrix")?;
        debug_assert!(input.is_quantized() == quant_input);
        for (m, name) in [(&input, "input"), (&output, "output")] {
            if m.cols != dim {
                return Err(invalid(format!(
                    "{name} matrix has {} columns, dim is {dim}",
                    m.cols
                )));
            }
        }
        let needed = dict.input_rows_needed();
        if input.rows < needed {
            return Err(invalid(format!(
                "input matrix has {} rows, the dictionary needs {needed} ({} words + buckets)",
                input.rows, dict.nwords
            )));
        }
        let out_needed = if loss == Loss::HierarchicalSoftmax {
            dict.nlabels - 1
        } else {
            dict.nlabels
        };
        if output.rows < out_needed {
            return Err(invalid(format!(
                "output matrix has {} rows for {} labels",
                output.rows, dict.nlabels
            )));
        }
        let labels = (0..dict.nlabels)
            .map(|j| String::from_utf8_lossy(dict.label(j)).into_owned())
            .collect();
        let tree = if loss == Loss::HierarchicalSoftmax {
            huffman(&dict.counts[dict.nwords..])?
        } else {
            Vec::new()
        };
        Ok(Self {
            args,
            dict,
            input,
            output,
            sigmoid: sigmoid_table(),
            tree,
            labels,
        })
    }

    /// Reads a model file.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; [`FastText::from_bytes`]'s errors, prefixed
    /// with the path.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let bytes = std::fs::read(path)?;
        Self::from_bytes(&bytes).map_err(|e| match e {
            Error::InvalidModel(m) => Error::InvalidModel(format!("{}: {m}", path.display())),
            e => e,
        })
    }

    /// The stored training arguments inference uses.
    pub fn args(&self) -> &Args {
        &self.args
    }

    /// Label names (with their `__label__` prefix), in fastText's order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Number of in-vocabulary words.
    pub fn n_words(&self) -> usize {
        self.dict.nwords
    }

    /// Whether the input matrix is product-quantized (an `.ftz` model).
    pub fn is_quantized(&self) -> bool {
        self.input.is_quantized()
    }

    /// The input rows of one document (its words, subwords and word n-grams), for tests.
    pub fn input_rows(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.dict.line(
            text.as_bytes(),
            &mut out,
            &mut LineScratch::default(),
            |_| {},
        );
        out
    }

    fn sigmoid(&self, x: f32) -> f32 {
        if x < -MAX_SIGMOID {
            0.0
        } else if x > MAX_SIGMOID {
            1.0
        } else {
            let i = ((x + MAX_SIGMOID) * SIGMOID_TABLE_SIZE as f32 / MAX_SIGMOID / 2.0) as usize;
            self.sigmoid[i]
        }
    }

    /// Top-`k` `(log score, label)` of one document into `s.heap`, best first.
    fn predict_into(&self, text: &str, k: usize, threshold: f32, s: &mut Scratch) {
        s.heap.clear();
        self.dict
            .line(text.as_bytes(), &mut s.rows, &mut s.line, |r| {
                self.input.prefetch_row(r);
            });
        if s.rows.is_empty() || k == 0 {
            return;
        }
        s.hidden.clear();
        s.hidden.resize(self.args.dim, 0.0);
        self.input.add_rows(&mut s.hidden, &s.rows);
        let scale = (1.0 / s.rows.len() as f64) as f32;
        for h in &mut s.hidden {
            *h *= scale;
        }
        let nlabels = self.dict.nlabels;
        match self.args.loss {
            Loss::HierarchicalSoftmax => self.dfs(k, std_log(threshold), s),
            loss => {
                s.output.clear();
                s.output
                    .extend((0..nlabels).map(|i| self.output.dot_row(&s.hidden, i)));
                if loss == Loss::Softmax {
                    let max = s.output.iter().copied().fold(s.output[0], f32::max);
                    let mut z = 0.0f32;
                    for o in &mut s.output {
                        *o = f64::from(*o - max).exp() as f32;
                        z += *o;
                    }
                    for o in &mut s.output {
                        *o /= z;
                    }
                } else {
                    for o in &mut s.output {
                        *o = self.sigmoid(*o);
                    }
                }
                for (i, &p) in s.output.iter().enumerate() {
                    if p < threshold {
                        continue;
                    }
                    push_top_k(&mut s.heap, k, std_log(p), i as i32);
                }
            }
        }
        s.heap
            .sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    }

    /// Depth-first search of the Huffman tree with fastText's pruning: a subtree is skipped when
    /// its score (a sum of log-probabilities, which only decreases) is below the threshold or
    /// below the k-th best leaf so far. Iterative (left child first, as fastText recurses), so a
    /// degenerate tree of a hostile file cannot overflow the stack.
    fn dfs(&self, k: usize, log_threshold: f32, scratch: &mut Scratch) {
        let nlabels = self.dict.nlabels;
        let Scratch {
            stack,
            heap,
            hidden,
            ..
        } = scratch;
        stack.clear();
        stack.push((2 * nlabels - 2, 0.0));
        while let Some((node, score)) = stack.pop() {
            if score < log_threshold || (heap.len() == k && score < heap_min(heap)) {
                continue;
            }
            let children = &self.tree[node];
            if children.left < 0 && children.right < 0 {
                push_top_k(heap, k, score, node as i32);
                continue;
            }
            let logit = self.output.dot_row(hidden, node - nlabels);
            let p_right = (1.0 / f64::from(1.0f32 + (-logit).exp())) as f32;
            let left = score + std_log((1.0 - f64::from(p_right)) as f32);
            let right = score + std_log(p_right);
            stack.push((children.right as usize, right));
            stack.push((children.left as usize, left));
        }
    }

    /// Top-`k` labels and probabilities of every row of `texts` (null rows: no prediction).
    ///
    /// # Errors
    /// `k == 0`, a row that is not UTF-8, or a thread pool that cannot start.
    pub fn predict<T: Texts + ?Sized>(
        &self,
        texts: &T,
        k: usize,
        threshold: f32,
        n_threads: Option<usize>,
    ) -> Result<Predictions> {
        if k == 0 {
            return Err(Error::param("k", "must be >= 1, got 0"));
        }
        let k = k.min(self.dict.nlabels);
        let n = texts.len();
        let mut labels = alloc::filled(
            alloc::checked_len::<i32>(n, k, "k", "predictions")?,
            -1i32,
            "k",
            "predicted labels (rows × k)",
        )?;
        let mut probs = alloc::zeroed::<f64>(labels.len(), "k", "probabilities (rows × k)")?;
        with_threads(n_threads, || {
            let scratch = PerThread::new(Scratch::default);
            labels
                .par_chunks_mut(ROWS_PER_TASK * k)
                .zip(probs.par_chunks_mut(ROWS_PER_TASK * k))
                .enumerate()
                .with_max_len(1)
                .try_for_each(|(chunk, (ls, ps))| {
                    scratch.with(|s| {
                        let lo = chunk * ROWS_PER_TASK;
                        for (j, (l, p)) in ls.chunks_mut(k).zip(ps.chunks_mut(k)).enumerate() {
                            if let Some(t) = texts.get(lo + j)? {
                                self.predict_into(t, k, threshold, s);
                                for (c, &(score, label)) in s.heap.iter().enumerate() {
                                    l[c] = label;
                                    p[c] = f64::from(score.exp());
                                }
                            }
                        }
                        Ok::<(), Error>(())
                    })
                })
        })??;
        Ok(Predictions { labels, probs, k })
    }

    /// Probability of label `label` for every row, as the bindings report it in
    /// `predict(text, k=-1)` (all labels, threshold 0): `0.0` when fastText leaves the label out
    /// (hierarchical softmax prunes leaves below `log(1e-5)`), NaN for a null row.
    ///
    /// # Errors
    /// `label` out of range, a row that is not UTF-8, or a thread pool that cannot start.
    pub fn label_probs<T: Texts + ?Sized>(
        &self,
        texts: &T,
        label: usize,
        n_threads: Option<usize>,
    ) -> Result<Vec<f64>> {
        if label >= self.dict.nlabels {
            return Err(Error::param(
                "label",
                format!(
                    "index {label} out of range for {} labels",
                    self.dict.nlabels
                ),
            ));
        }
        let mut out = alloc::zeroed::<f64>(texts.len(), "texts", "label probabilities")?;
        let k = self.dict.nlabels;
        with_threads(n_threads, || {
            let scratch = PerThread::new(Scratch::default);
            out.par_chunks_mut(ROWS_PER_TASK)
                .enumerate()
                .with_max_len(1)
                .try_for_each(|(chunk, ps)| {
                    scratch.with(|s| {
                        for (j, p) in ps.iter_mut().enumerate() {
                            *p = match texts.get(chunk * ROWS_PER_TASK + j)? {
                                None => f64::NAN,
                                Some(t) => {
                                    self.predict_into(t, k, 0.0, s);
                                    s.heap
                                        .iter()
                                        .find(|&&(_, l)| l as usize == label)
                                        .map_or(0.0, |&(score, _)| f64::from(score.exp()))
                                }
                            };
                        }
                        Ok::<(), Error>(())
                    })
                })
        })??;
        Ok(out)
    }
}

/// The header and the training arguments (`Args::load` in fastText).
fn read_args(r: &mut Reader<'_>) -> Result<Args> {
    let magic = r.i32("magic number")?;
    if magic != MAGIC {
        return Err(invalid(format!(
            "not a fastText model (magic number {magic}, expected {MAGIC})"
        )));
    }
    let version = r.i32("version")?;
    if version > VERSION {
        return Err(invalid(format!(
            "fastText file format version {version} is newer than the supported {VERSION}"
        )));
    }
    let dim = r.i32("args")?;
    for _ in 0..4 {
        r.i32("args")?; // ws, epoch, minCount, neg: training only
    }
    let word_ngrams = r.i32("args")?;
    let loss = match r.i32("args")? {
        1 => Loss::HierarchicalSoftmax,
        2 => Loss::NegativeSampling,
        3 => Loss::Softmax,
        4 => Loss::OneVsAll,
        l => return Err(invalid(format!("unknown loss {l} (expected 1 to 4)"))),
    };
    let model = r.i32("args")?;
    if model != 3 {
        return Err(invalid(format!(
            "not a supervised model (model {model}: {}); only classifiers predict labels",
            match model {
                1 => "cbow",
                2 => "skipgram",
                _ => "unknown",
            }
        )));
    }
    let bucket = r.i32("args")?;
    let minn = r.i32("args")?;
    let mut maxn = r.i32("args")?;
    let _lr_update_rate = r.i32("args")?;
    let _t = r.f64("args")?;
    if version == 11 {
        // Supervised models of format 11 were trained without subwords (fastText's loader
        // forces maxn = 0 for them).
        maxn = 0;
    }
    let dim = read::non_negative(dim.into(), "dim")?;
    if dim == 0 {
        return Err(invalid("dim must be >= 1, got 0"));
    }
    Ok(Args {
        dim,
        word_ngrams,
        loss,
        bucket,
        minn,
        maxn,
        version,
    })
}

#[inline]
fn heap_min(heap: &[(f32, i32)]) -> f32 {
    heap.iter().map(|h| h.0).fold(f32::INFINITY, f32::min)
}

/// Keeps the `k` best `(score, label)` (fastText's `findKBest`: a candidate below the current
/// k-th best is skipped, otherwise it enters and the worst leaves). `k` is small (the number of
/// labels asked for), so a linear scan beats a binary heap.
#[inline]
fn push_top_k(heap: &mut Vec<(f32, i32)>, k: usize, score: f32, label: i32) {
    if heap.len() == k {
        let (worst, &(min, _)) = heap
            .iter()
            .enumerate()
            .min_by(|a, b| a.1 .0.total_cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1)))
            .expect("k >= 1");
        if score < min {
            return;
        }
        heap.swap_remove(worst);
    }
    heap.push((score, label));
}

/// fastText's sigmoid table: entry `i` is `σ(16 i / 512 - 8)`, computed as fastText does
/// (`f32` argument, `f64` quotient).
fn sigmoid_table() -> Vec<f32> {
    (0..=SIGMOID_TABLE_SIZE)
        .map(|i| {
            let x = (i as f32 * 2.0 * MAX_SIGMOID) / SIGMOID_TABLE_SIZE as f32 - MAX_SIGMOID;
            (1.0 / (1.0 + f64::from((-x).exp()))) as f32
        })
        .collect()
}

/// The Huffman tree fastText's hierarchical softmax builds from the label counts (leaves
/// `0..n`, internal nodes `n..2n-1`, root `2n-2`): the two lightest of the remaining leaves
/// (scanned from the last, the labels being sorted by decreasing count) and internal nodes are
/// merged, the first taken on the left.
fn huffman(counts: &[i64]) -> Result<Vec<Node>> {
    let n = counts.len();
    let mut count: Vec<i64> = counts.to_vec();
    count.resize(2 * n - 1, UNBUILT);
    let mut tree: Vec<Node> = (0..2 * n - 1)
        .map(|_| Node {
            left: -1,
            right: -1,
        })
        .collect();
    let mut leaf = n as i64 - 1;
    let mut node = n;
    for i in n..2 * n - 1 {
        let mut mini = [0usize; 2];
        for m in &mut mini {
            if leaf >= 0 && count[leaf as usize] < count[node] {
                *m = leaf as usize;
                leaf -= 1;
            } else {
                *m = node;
                node += 1;
            }
            // Only label counts of 1e15 or more make the merge pick a node not built yet (a
            // cycle in fastText); refuse them.
            if *m >= i {
                return Err(invalid(format!(
                    "label counts too large for the hierarchical softmax tree (>= {UNBUILT})"
                )));
            }
        }
        tree[i].left = mini[0] as i32;
        tree[i].right = mini[1] as i32;
        count[i] = count[mini[0]].saturating_add(count[mini[1]]);
    }
    Ok(tree)
}

/// fastText's initial count of a tree node not yet built.
const UNBUILT: i64 = 1_000_000_000_000_000;

#[cfg(test)]
mod tests;
