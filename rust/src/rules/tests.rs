use super::*;

fn all() -> Rules {
    Rules::new(vec![
        Family::Gopher(GopherQuality::default()),
        Family::GopherRepetition(GopherRepetition::default()),
        Family::C4(C4::default()),
        Family::FineWeb(FineWeb::default()),
    ])
    .unwrap()
}

#[test]
fn reasons_and_stats_line_up() {
    let r = all();
    assert_eq!(r.reasons().len(), 10 + 5 + 3 + 6 + 3 + 5);
    assert_eq!(r.stat_names().len(), 9 + 4 + 3 + 6 + 3 + 4);
    let texts = vec![
        String::new(),
        "The cat sat on the mat and that was all. ".repeat(20),
        "x".repeat(100),
    ];
    let d = r.apply(&texts, true, Some(2)).unwrap();
    assert_eq!(d.stats.len(), 3 * r.stat_names().len());
    assert_eq!(d.reason[0], 1); // gopher_short_doc
    let d1 = r.apply(&texts, false, Some(1)).unwrap();
    assert_eq!(d.reason, d1.reason);
    assert!(d1.stats.is_empty());
}

#[test]
fn thread_count_does_not_matter() {
    let r = all();
    let texts: Vec<String> = (0..300)
        .map(|i| format!("Line {i}. The end of it all.\n").repeat(i % 17 + 1))
        .collect();
    let a = r.apply(&texts, true, Some(1)).unwrap();
    let b = r.apply(&texts, true, Some(3)).unwrap();
    assert_eq!(a.reason, b.reason);
    assert_eq!(
        a.stats.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        b.stats.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn rejects_bad_thresholds() {
    let mut q = GopherRepetition::default();
    q.top_n_grams.push((0, 0.1));
    assert!(Rules::new(vec![Family::GopherRepetition(q)]).is_err());
    let q = GopherQuality {
        min_doc_words: Some(f64::NAN),
        ..GopherQuality::default()
    };
    assert!(Rules::new(vec![Family::Gopher(q)]).is_err());
}
