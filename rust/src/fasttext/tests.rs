//! Unit tests over hand-built model files: every truncation is an error (never a panic), and the
//! forward pass of a tiny model is checked by hand.

use super::*;

struct Spec {
    loss: i32,
    word_ngrams: i32,
    bucket: i32,
    minn: i32,
    maxn: i32,
    words: Vec<(&'static str, i64)>,
    labels: Vec<(&'static str, i64)>,
    dim: usize,
}

fn push_i32(b: &mut Vec<u8>, v: i32) {
    b.extend(v.to_le_bytes());
}

fn push_i64(b: &mut Vec<u8>, v: i64) {
    b.extend(v.to_le_bytes());
}

/// Serialises a dense model whose input row `r` is `[r + 1, 0, …]` scaled by 0.1 and whose
/// output row `l` is `[l, 1, …]`.
fn model_bytes(s: &Spec) -> Vec<u8> {
    let mut b = Vec::new();
    push_i32(&mut b, MAGIC);
    push_i32(&mut b, VERSION);
    for v in [
        s.dim as i32,
        5,
        5,
        1,
        5,
        s.word_ngrams,
        s.loss,
        3,
        s.bucket,
        s.minn,
        s.maxn,
        100,
    ] {
        push_i32(&mut b, v);
    }
    b.extend(1e-4f64.to_le_bytes());
    let size = (s.words.len() + s.labels.len()) as i32;
    push_i32(&mut b, size);
    push_i32(&mut b, s.words.len() as i32);
    push_i32(&mut b, s.labels.len() as i32);
    push_i64(&mut b, 100);
    push_i64(&mut b, -1);
    for (ty, entries) in [(0u8, &s.words), (1u8, &s.labels)] {
        for (w, c) in entries {
            b.extend(w.as_bytes());
            b.push(0);
            push_i64(&mut b, *c);
            b.push(ty);
        }
    }
    let rows = s.words.len() + s.bucket as usize;
    b.push(0);
    push_i64(&mut b, rows as i64);
    push_i64(&mut b, s.dim as i64);
    for r in 0..rows {
        for j in 0..s.dim {
            let v = if j == 0 { (r + 1) as f32 * 0.1 } else { 0.0 };
            b.extend(v.to_le_bytes());
        }
    }
    b.push(0);
    push_i64(&mut b, s.labels.len() as i64);
    push_i64(&mut b, s.dim as i64);
    for l in 0..s.labels.len() {
        for j in 0..s.dim {
            let v = if j == 0 { l as f32 } else { 1.0 };
            b.extend(v.to_le_bytes());
        }
    }
    b
}

fn spec(loss: i32) -> Spec {
    Spec {
        loss,
        word_ngrams: 1,
        bucket: 0,
        minn: 0,
        maxn: 0,
        words: vec![("</s>", 10), ("good", 5), ("bad", 4)],
        labels: vec![
            ("__label__pos", 6),
            ("__label__neg", 3),
            ("__label__mid", 1),
        ],
        dim: 2,
    }
}

#[test]
fn every_truncation_is_an_error() {
    for loss in [1, 3, 4] {
        let mut s = spec(loss);
        s.bucket = 7;
        s.maxn = 3;
        s.minn = 2;
        s.word_ngrams = 2;
        let b = model_bytes(&s);
        assert!(FastText::from_bytes(&b).is_ok());
        for cut in 0..b.len() {
            let e = FastText::from_bytes(&b[..cut]).unwrap_err();
            assert!(matches!(e, Error::InvalidModel(_)), "cut {cut}: {e}");
        }
    }
}

#[test]
fn corrupt_headers_are_errors() {
    let b = model_bytes(&spec(3));
    let mut bad = b.clone();
    bad[0] ^= 1;
    assert!(FastText::from_bytes(&bad)
        .unwrap_err()
        .to_string()
        .contains("magic"));
    // model = skipgram
    let mut bad = b.clone();
    bad[36..40].copy_from_slice(&2i32.to_le_bytes());
    assert!(FastText::from_bytes(&bad)
        .unwrap_err()
        .to_string()
        .contains("supervised"));
    // loss 9
    let mut bad = b.clone();
    bad[32..36].copy_from_slice(&9i32.to_le_bytes());
    assert!(FastText::from_bytes(&bad)
        .unwrap_err()
        .to_string()
        .contains("loss"));
    // a dictionary of 2^31-1 entries in a tiny file
    let mut bad = b.clone();
    bad[64..68].copy_from_slice(&i32::MAX.to_le_bytes());
    assert!(FastText::from_bytes(&bad).is_err());
    // every single-byte corruption is an error or a model, never a panic
    for i in 0..b.len() {
        for v in [0u8, 0xff, 0x80] {
            let mut c = b.clone();
            c[i] = v;
            let _ = FastText::from_bytes(&c);
        }
    }
}

#[test]
fn softmax_forward_by_hand() {
    let m = FastText::from_bytes(&model_bytes(&spec(3))).unwrap();
    assert_eq!(m.labels(), ["__label__pos", "__label__neg", "__label__mid"]);
    // "good" is row 1, "</s>" row 0: hidden = [(0.2 + 0.1) / 2, 0] = [0.15, 0].
    assert_eq!(m.input_rows("good __label__pos unknown"), vec![1, 0]);
    let p = m.predict(&["good"][..], 3, 0.0, Some(1)).unwrap();
    let h = 0.15f64;
    let z: f64 = (0..3).map(|l| (f64::from(l) * h).exp()).sum();
    for (c, want_label) in [2, 1, 0].into_iter().enumerate() {
        assert_eq!(p.labels[c], want_label);
        let want = (f64::from(want_label) * h).exp() / z + 1e-5;
        assert!((p.probs[c] - want).abs() < 1e-6, "{} vs {want}", p.probs[c]);
    }
    // Newlines are white space; text after a literal </s> is ignored.
    assert_eq!(m.input_rows("good\nbad"), vec![1, 2, 0]);
    assert_eq!(m.input_rows("good </s> bad"), vec![1, 0]);
    let top = m.predict(&["good", "bad"][..], 1, 0.0, Some(2)).unwrap();
    assert_eq!(top.labels, vec![2, 2]);
    let all = m.label_probs(&["good"][..], 0, None).unwrap();
    assert!((all[0] - p.probs[2]).abs() < 1e-12);
    assert!(m.predict(&["x"][..], 0, 0.0, None).is_err());
}

#[test]
fn thresholds_and_losses() {
    for loss in [1, 2, 3, 4] {
        let m = FastText::from_bytes(&model_bytes(&spec(loss))).unwrap();
        let p = m.predict(&["good bad", ""][..], 5, 0.0, Some(1)).unwrap();
        assert_eq!(p.k, 3);
        let none = m.predict(&["good bad"][..], 3, 1.5, Some(1)).unwrap();
        assert!(none.labels.iter().all(|&l| l == -1), "{loss}: {none:?}");
        if loss != 1 {
            let sum: f64 = p.probs[..3].iter().sum();
            assert!(sum > 0.0);
        }
    }
}

#[test]
fn huffman_tree_is_valid_for_sorted_counts() {
    let t = huffman(&[5, 3, 2, 1]).unwrap();
    assert_eq!(t.len(), 7);
    // Every non-root node has exactly one parent.
    let mut parents = [0; 7];
    for n in &t[4..] {
        parents[n.left as usize] += 1;
        parents[n.right as usize] += 1;
    }
    assert_eq!(parents, [1, 1, 1, 1, 1, 1, 0]);
    assert!(huffman(&[UNBUILT, UNBUILT]).is_err());
}

/// fastText's `getLine` for a model without subwords, written out naively: tokens split at
/// white space, `</s>` appended, each token looked up by a scan of the dictionary (the last
/// equal entry), word rows in token order, then the word n-gram buckets.
fn naive_rows(
    words: &[&str],
    labels: &[&str],
    word_ngrams: usize,
    bucket: u64,
    text: &str,
) -> Vec<u32> {
    let mut rows = Vec::new();
    let mut hashes = Vec::new();
    let tokens = text
        .as_bytes()
        .split(|&b| matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c | 0))
        .filter(|t| !t.is_empty())
        .chain(std::iter::once(EOS));
    for t in tokens {
        let all: Vec<&str> = words.iter().chain(labels).copied().collect();
        let entry = all.iter().rposition(|w| w.as_bytes() == t);
        let is_word = match entry {
            Some(e) => e < words.len(),
            None => !t.starts_with(LABEL_PREFIX),
        };
        if is_word {
            if let Some(e) = entry {
                rows.push(e as u32);
            }
            hashes.push(hash(t) as i32);
        }
        if t == EOS {
            break;
        }
    }
    for i in 0..hashes.len() {
        let mut h = i64::from(hashes[i]) as u64;
        for &next in hashes
            .iter()
            .take((i + word_ngrams).min(hashes.len()))
            .skip(i + 1)
        {
            h = h
                .wrapping_mul(116_049_371)
                .wrapping_add(i64::from(next) as u64);
            rows.push((words.len() as u64 + h % bucket) as u32);
        }
    }
    rows
}

proptest::proptest! {
    /// The word-only path (SIMD token boundaries, inline table keys, multiplicative remainder)
    /// against the naive reading, on texts built to hit its edges: every white-space byte, runs
    /// of them, tokens across 64-byte blocks, long and 8-byte words, labels as tokens, a literal
    /// `</s>`, non-ASCII bytes.
    #[test]
    fn word_rows_equal_a_naive_reading(
        parts in proptest::collection::vec((0usize..16, 0usize..9), 0..120),
        word_ngrams in 1i32..4,
        bucket in proptest::sample::select(vec![1i32, 7, 200_000, 2_000_000, i32::MAX]),
    ) {
        let words = [
            "</s>", "the", "a", "abcdefgh", "abcdefghi", "über", "ab", "x", "__label__neg",
            "longer-word-of-twenty",
        ];
        let labels = ["__label__pos", "__label__mid"];
        let pieces = [
            "the", "a", "abcdefgh", "abcdefghi", "über", "oov", "abcdefg", "__label__pos",
            "__label__other", "</s>", "x", "ab", "abc", "longer-word-of-twenty", "__label__neg",
            "é",
        ];
        let seps = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\0", "  \t ", "\u{a0}"];
        let mut text = String::new();
        for (p, sp) in parts {
            text.push_str(pieces[p]);
            text.push_str(seps[sp]);
        }
        let s = Spec {
            loss: 3,
            word_ngrams,
            bucket,
            minn: 0,
            maxn: 0,
            words: words.iter().map(|&w| (w, 1)).collect(),
            labels: labels.iter().map(|&l| (l, 1)).collect(),
            dim: 1,
        };
        let rows = if bucket > 1000 {
            // Too many rows to serialise: only the dictionary matters here.
            let mut small = s;
            small.bucket = 1;
            let m = FastText::from_bytes(&model_bytes(&small)).unwrap();
            let mut d = m.dict;
            d.bucket = bucket as u32;
            d.bucket_magic = (u64::MAX / u64::from(bucket as u32)).wrapping_add(1);
            d.bucket_magic64 = (u128::MAX / u128::from(bucket as u32)).wrapping_add(1);
            let mut out = Vec::new();
            d.line(text.as_bytes(), &mut out, &mut LineScratch::default(), |_| {});
            out
        } else {
            FastText::from_bytes(&model_bytes(&s)).unwrap().input_rows(&text)
        };
        let want = naive_rows(&words, &labels, word_ngrams as usize, bucket as u64, &text);
        proptest::prop_assert_eq!(rows, want, "text {:?}", text);
    }
}
