use super::datatrove::{simplify, Config, DtIndex, Splits};
use super::*;

fn index(items: &[&str], sets: &[u32], n_sets: usize, ngram: usize, min_tokens: usize) -> Index {
    Index::build(items, sets, n_sets, ngram, min_tokens, Some(2)).unwrap()
}

const ITEM: &str =
    "The quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat";

#[test]
fn tokens_ignore_case_punctuation_and_wrapping() {
    let mut a = Tokens::default();
    let mut b = Tokens::default();
    a.fill("Hello, WORLD!\n  it's  Ｆｉｎｅ");
    b.fill("hello world it s fine");
    assert_eq!(a.hashes, b.hashes);
    assert_eq!(a.spans[0], (0, 5));
    assert_eq!(a.len(), 5);
}

#[test]
fn finds_rewrapped_and_recased_copies() {
    let idx = index(&[ITEM], &[0], 1, 8, 8);
    assert_eq!(idx.n_ngrams(), 17 - 8 + 1);
    let wrapped = "Intro text here.\nTHE QUICK brown fox,\njumps over the lazy\ndog while the cat -- sleeps on the warm mat! End";
    let m = scan(&idx, &[wrapped][..], 10, Some(1)).unwrap();
    assert_eq!(m[0].n_matched, 10);
    assert_eq!(m[0].items, vec![(0, 10)]);
    assert_eq!(m[0].sets, vec![0]);
    assert_eq!(m[0].spans.len(), 1);
    let (a, b) = m[0].spans[0];
    assert!(wrapped[a as usize..b as usize].starts_with("THE QUICK"));
    assert!(wrapped[a as usize..b as usize].ends_with("warm mat"));
    let clean = scan(
        &idx,
        &["nothing to see here at all, move along please now"][..],
        10,
        None,
    )
    .unwrap();
    assert_eq!(clean[0].n_matched, 0);
    assert!(clean[0].windows.is_empty());
}

#[test]
fn short_items_are_indexed_whole() {
    let items = ["one two three four five", "a b", ITEM];
    let idx = index(&items, &[0, 0, 1], 2, 13, 4);
    assert_eq!(idx.meta().item_ngrams, vec![1, 0, 5]);
    let m = scan(
        &idx,
        &["x One, two; three four five y", "a b c"][..],
        10,
        None,
    )
    .unwrap();
    assert_eq!(m[0].n_short_matched, 1);
    assert_eq!(m[0].windows, vec![(1, 5)]);
    assert_eq!(m[0].spans, vec![(2, 27)]);
    assert_eq!(m[1].n_short_matched, 0);
}

#[test]
fn shared_ngrams_name_every_item_and_spans_are_chars() {
    let idx = index(&[ITEM, ITEM], &[0, 1], 2, 8, 8);
    let doc = format!("é {ITEM}");
    let m = scan(&idx, &[doc.as_str()][..], 1, None).unwrap();
    assert_eq!(m[0].n_items, 2);
    assert_eq!(m[0].items, vec![(0, 10)]);
    assert_eq!(m[0].sets, vec![0, 1]);
    assert_eq!(m[0].spans, vec![(2, 2 + ITEM.chars().count() as u64)]);
}

#[test]
fn results_do_not_depend_on_threads() {
    let docs: Vec<String> = (0..300)
        .map(|i| {
            if i % 7 == 0 {
                format!("doc {i} {ITEM} tail")
            } else {
                format!("doc {i} other words that are not in the eval set at all")
            }
        })
        .collect();
    let idx = index(&[ITEM], &[0], 1, 8, 8);
    let a = scan(&idx, &docs, 5, Some(1)).unwrap();
    let b = scan(&idx, &docs, 5, Some(3)).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.iter().filter(|m| m.n_matched > 0).count(), 43);
}

#[test]
fn bad_parameters_and_parts_are_errors() {
    let items = [ITEM];
    assert!(Index::build(&items[..], &[0], 1, 7, 7, None).is_err());
    assert!(Index::build(&items[..], &[0], 1, 13, 14, None).is_err());
    assert!(Index::build(&items[..], &[1], 1, 13, 8, None).is_err());
    assert!(Index::build(&items[..], &[0, 0], 1, 13, 8, None).is_err());
    let idx = index(&items, &[0], 1, 8, 8);
    let mut parts = idx.meta().clone();
    parts.keys = idx.long().keys().to_vec();
    parts.owners = idx.long().values().to_vec();
    assert!(Index::from_parts(parts.clone()).is_ok());
    parts.keys.reverse();
    assert!(Index::from_parts(parts.clone()).is_err());
    parts.keys.reverse();
    parts.owners[0] = 5;
    assert!(Index::from_parts(parts).is_err());
}

#[test]
fn keyset_lookups() {
    let keys: Vec<u64> = (0..1000u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    let vals: Vec<u32> = (0..1000).collect();
    let set = KeySet::new(sorted.clone(), vals).unwrap();
    for (i, k) in sorted.iter().enumerate() {
        assert_eq!(set.get(*k), Some(i as u32));
    }
    assert_eq!(set.get(12345), None);
    assert!(KeySet::new(vec![], vec![]).unwrap().get(1).is_none());
}

#[test]
fn datatrove_simplify() {
    assert_eq!(
        simplify("  Hello, World!  It's 3.14 and 1,000,000 "),
        "hello world it s 0 and 0 0"
    );
    assert_eq!(simplify("Café naïve\tx"), "cafe naive x");
    assert_eq!(simplify("a—b"), "a b");
}

#[test]
fn datatrove_index_and_filter() {
    let mut splits = Splits::default();
    splits.insert("dont".into(), vec!["do".into(), "nt".into()]);
    let cfg = Config {
        ngram: 3,
        find_query_ngrams: false,
        find_overlap_ngrams: true,
    };
    let labels = ["D E F"];
    let queries = ["A B C"];
    let idx = DtIndex::build(&labels[..], Some(&queries[..]), &[0], cfg, &splits, None).unwrap();
    // label: d e f; overlap: b c d, c d e.
    assert_eq!(idx.keys().len(), 3);
    assert_eq!(
        idx.first_match("x b, c: d y", &splits),
        Some(("b c d".into(), 0))
    );
    assert_eq!(idx.first_match("a b c", &splits), None);
    let idx = DtIndex::build(&["I dont know"][..], None, &[0], cfg, &splits, None).unwrap();
    assert_eq!(
        idx.first_match("i do nt", &splits),
        Some(("i do nt".into(), 0))
    );
}
