//! Invariants of the MinHash pipeline on random inputs: identical output for any thread count,
//! clusters equal to the connected components of the verified candidate graph (brute force), and
//! the partitioned path equal to the in-memory one.

use _core::minhash::cluster::{band_keys, edges_from_keys, lsh_clusters, union_roots, Verify};
use _core::minhash::lsh::{candidate_pairs, LshParams};
use _core::minhash::{estimate_jaccard, MinHasher, Scheme, ShingleConfig};
use _core::parallel::Stop;
use _core::{Analyzer, Normalizer};
use proptest::prelude::*;

const K: usize = 16;

fn components(n: usize, edges: &[(u32, u32)]) -> Vec<u32> {
    let mut parent: Vec<u32> = (0..n as u32).collect();
    fn find(p: &mut [u32], mut x: u32) -> u32 {
        while p[x as usize] != x {
            x = p[x as usize];
        }
        x
    }
    for &(a, b) in edges {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            parent[ra.max(rb) as usize] = ra.min(rb);
        }
    }
    (0..n as u32).map(|i| find(&mut parent, i)).collect()
}

/// Signatures drawn from a small alphabet so that bands collide often.
fn signatures() -> impl Strategy<Value = Vec<u32>> {
    (2usize..60).prop_flat_map(|n| proptest::collection::vec(0u32..3, n * K))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn clusters_are_verified_components(sigs in signatures(), t in 0.2f64..0.9) {
        let n = sigs.len() / K;
        let valid = vec![true; n];
        let p = LshParams { bands: 4, rows: 3 };
        let v = Verify::Estimate { threshold: t };
        let r1 = lsh_clusters(&sigs, K, &valid, p, v, None, Some(1), &Stop::default()).unwrap();
        let r3 = lsh_clusters(&sigs, K, &valid, p, v, None, Some(3), &Stop::default()).unwrap();
        prop_assert_eq!(&r1, &r3);
        let edges: Vec<(u32, u32)> = candidate_pairs(&sigs, K, &valid, p, Some(2), &Stop::default())
            .unwrap()
            .into_iter()
            .filter(|&(a, b)| {
                let (a, b) = (a as usize * K, b as usize * K);
                estimate_jaccard(&sigs[a..a + K], &sigs[b..b + K]) >= t
            })
            .collect();
        prop_assert_eq!(&r1, &components(n, &edges));
        let keys = band_keys(&sigs, K, p, Some(2)).unwrap();
        let rows: Vec<u32> = (0..keys.len()).map(|i| (i / p.bands) as u32).collect();
        let e = edges_from_keys(&keys, &rows, &sigs, K, v, Some(3)).unwrap();
        prop_assert_eq!(&r1, &union_roots(n, &e).unwrap());
    }

    #[test]
    fn signatures_do_not_depend_on_threads(texts in proptest::collection::vec("[a-c ]{0,40}", 1..80)) {
        let cfg = ShingleConfig {
            normalizer: Normalizer::default(),
            analyzer: Analyzer::Word,
            n: 2,
        };
        let h = MinHasher::new(cfg, Scheme::fast(K, 3)).unwrap();
        let s1 = h.signatures(&texts[..], Some(1)).unwrap();
        let s4 = h.signatures(&texts[..], Some(4)).unwrap();
        prop_assert_eq!(s1.values, s4.values);
        prop_assert_eq!(s1.n_shingles, s4.n_shingles);
    }
}
