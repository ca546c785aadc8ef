use super::cluster::{lsh_clusters, Verify};
use super::lsh::LshParams;
use super::*;
use crate::parallel::Stop;

fn word(n: usize) -> ShingleConfig {
    ShingleConfig {
        normalizer: Normalizer {
            lowercase: true,
            ..Normalizer::default()
        },
        analyzer: Analyzer::Word,
        n,
    }
}

#[test]
fn sha1_and_fmix_match_datasketch() {
    // datasketch.hashfunc.sha1_hash32 and datasketch.minhash._fmix(·, 32).
    assert_eq!(sha1_hash32(b"hello"), 499_578_026);
    assert_eq!(sha1_hash32(b""), 4_003_674_586);
    assert_eq!(fmix32(499_578_026), 2_913_897_620);
}

#[test]
fn datasketch_known_signatures() {
    // MinHash(num_perm=4, seed=1, scheme=...).update_batch([b"the quick brown", b"quick brown fox"]).
    let text = "The quick brown fox";
    let h = MinHasher::new(
        word(3),
        Scheme::Affine32 {
            a: vec![3_582_191_691, 4_270_784_983, 1_892_572_953, 3_715_639_441],
            b: vec![491_263, 550_290_313, 1_298_508_491, 4_290_846_341],
        },
    )
    .unwrap();
    assert_eq!(
        h.signature(text),
        [2_370_716_273, 3_350_039_811, 2_578_302_449, 589_353_467]
    );
    let h = MinHasher::new(
        word(3),
        Scheme::Legacy {
            a: vec![
                775_169_054_918_279_404,
                2_109_959_069_025_162,
                401_325_382_989_534_145,
                1_130_051_441_076_870_728,
            ],
            b: vec![
                1_758_426_461_858_698_312,
                965_365_488_286_768_773,
                1_703_346_441_743_126_657,
                1_762_784_241_922_636_284,
            ],
        },
    )
    .unwrap();
    assert_eq!(
        h.signature(text),
        [358_938_649, 967_113_869, 116_297_962, 657_900_453]
    );
}

#[test]
fn shingles_short_and_empty() {
    let h = MinHasher::new(word(3), Scheme::fast(8, 1)).unwrap();
    assert_eq!(h.shingle_bytes("A b"), vec![b"a b".to_vec()]);
    assert_eq!(h.shingle_bytes("a b c d").len(), 2);
    assert!(h.shingle_bytes("  ").is_empty());
    assert_eq!(h.signature(""), vec![u32::MAX; 8]);
    let c = MinHasher::new(
        ShingleConfig {
            analyzer: Analyzer::Char,
            ..word(2)
        },
        Scheme::fast(8, 1),
    )
    .unwrap();
    assert_eq!(
        c.shingle_bytes("héé"),
        vec!["hé".as_bytes().to_vec(), "éé".as_bytes().to_vec()]
    );
    assert_eq!(c.shingle_bytes("x"), vec![b"x".to_vec()]);
}

#[test]
fn fast_scheme_is_consistent_with_its_definition() {
    let h = MinHasher::new(word(2), Scheme::fast(40, 7)).unwrap();
    let Scheme::Fast { a, b, seed } = &h.scheme else {
        unreachable!()
    };
    assert!(a.iter().all(|x| x & 1 == 1));
    let keys = TokenKeys::new(*seed);
    let toks = ["x", "y", "z"].map(|t| keys.hash(t.as_bytes(), 0, t.len()));
    let xs: Vec<u32> = toks
        .windows(2)
        .map(|w| (fold_hashes(w) >> 32) as u32)
        .collect();
    let want: Vec<u32> = (0..40)
        .map(|k| {
            xs.iter()
                .map(|&x| a[k].wrapping_mul(x).wrapping_add(b[k]))
                .min()
                .unwrap()
        })
        .collect();
    assert_eq!(h.signature("X y Z"), want);
}

#[test]
fn bad_parameters() {
    assert!(MinHasher::new(word(0), Scheme::fast(8, 1)).is_err());
    assert!(MinHasher::new(word(3), Scheme::fast(0, 1)).is_err());
    let even = Scheme::Affine32 {
        a: vec![2],
        b: vec![1],
    };
    assert!(MinHasher::new(word(3), even).is_err());
}

#[test]
fn signatures_independent_of_threads() {
    let texts: Vec<String> = (0..300)
        .map(|i| {
            format!(
                "doc {} about things number {} and more words here",
                i % 17,
                i
            )
        })
        .collect();
    let h = MinHasher::new(word(3), Scheme::fast(64, 3)).unwrap();
    let s1 = h.signatures(&texts[..], Some(1)).unwrap();
    let s3 = h.signatures(&texts[..], Some(3)).unwrap();
    assert_eq!(s1.values, s3.values);
    assert_eq!(s1.n_shingles, s3.n_shingles);
    assert_eq!(&s1.values[..64], &h.signature(&texts[0])[..]);
    let sets1 = h.shingle_sets(&texts[..], Some(1)).unwrap();
    for threads in [2, 3] {
        let s = h.signatures(&texts[..], Some(threads)).unwrap();
        assert_eq!(s.values, s1.values);
        assert_eq!(h.shingle_sets(&texts[..], Some(threads)).unwrap(), sets1);
    }
    assert_eq!(sets1.0.len(), texts.len() + 1);
    assert_eq!(sets1.0[1], s1.n_shingles[0]);
    let valid: Vec<bool> = s1.n_shingles.iter().map(|&c| c > 0).collect();
    let p = LshParams { bands: 8, rows: 8 };
    let v = Verify::Estimate { threshold: 0.5 };
    let r1 = lsh_clusters(
        &s1.values,
        64,
        &valid,
        p,
        v,
        None,
        Some(1),
        &Stop::default(),
    )
    .unwrap();
    let r3 = lsh_clusters(
        &s1.values,
        64,
        &valid,
        p,
        v,
        None,
        Some(3),
        &Stop::default(),
    )
    .unwrap();
    assert_eq!(r1, r3);
}

#[test]
fn estimate_close_to_truth() {
    // Two documents of 200 distinct words sharing 100: J = 100/300.
    let a: Vec<String> = (0..200).map(|i| format!("w{i}")).collect();
    let b: Vec<String> = (100..300).map(|i| format!("w{i}")).collect();
    let h = MinHasher::new(word(1), Scheme::fast(1024, 11)).unwrap();
    let j = estimate_jaccard(&h.signature(&a.join(" ")), &h.signature(&b.join(" ")));
    // Standard deviation sqrt(J(1-J)/1024) ≈ 0.0147; allow 4 sigma.
    assert!((j - 1.0 / 3.0).abs() < 0.06, "{j}");
    assert!((exact_jaccard(&[1, 2, 3], &[2, 3, 4]) - 0.5).abs() < 1e-12);
    assert!(exact_jaccard(&[], &[]).abs() < 1e-12);
}

#[test]
fn token_hash_paths_agree() {
    // The in-place (16-byte window) and copied (near the end of the text) paths agree.
    let keys = TokenKeys::new(5);
    let text = b"abcdefghijklmnopqrstuvwxyz0123456789";
    for a in 0..10 {
        for b in a + 1..(a + 17).min(text.len()) {
            assert_eq!(keys.hash(text, a, b), keys.hash(&text[a..b], 0, b - a));
        }
    }
    assert_ne!(keys.hash(b"ab", 0, 1), keys.hash(b"a\0", 0, 2));
    assert_eq!(keys.hash(text, 0, 20), hash64(&text[..20], 5));
}
