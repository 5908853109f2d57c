//! Property tests over an exhaustive small universe of patterns and paths
//! (deterministic, so no proptest dependency and no flaky seeds):
//! - the matcher agrees with an independent backtracking reference matcher;
//! - priority is a strict total order on distinct wildcard patterns;
//! - the deciding rule is the exact rule if any, else the highest-priority
//!   matching wildcard, whatever the order the rules were given in.

use std::cmp::Ordering;

use serde_json::Value;

use crate::policy::{Acl, AclOperation, PathPattern, Policy};

const PATTERN_SEGMENTS: [&str; 4] = ["a", "b", "ab", "+"];
const PATH_SEGMENTS: [&str; 4] = ["a", "b", "ab", "abc"];

fn sequences(alphabet: &[&str], max_len: usize) -> Vec<Vec<String>> {
    let mut all: Vec<Vec<String>> = vec![Vec::new()];
    let mut out = Vec::new();
    for _ in 0..max_len {
        let mut next = Vec::new();
        for prefix in &all {
            for seg in alphabet {
                let mut seq = prefix.clone();
                seq.push((*seg).to_owned());
                next.push(seq);
            }
        }
        out.extend(next.iter().cloned());
        all = next;
    }
    out
}

fn patterns() -> Vec<PathPattern> {
    let mut raws = vec!["*".to_owned()];
    for seq in sequences(&PATTERN_SEGMENTS, 3) {
        let raw = seq.join("/");
        raws.push(format!("{raw}*"));
        raws.push(format!("{raw}/*"));
        raws.push(raw);
    }
    raws.iter()
        .filter_map(|r| PathPattern::parse(r).ok())
        .collect()
}

fn paths() -> Vec<String> {
    let mut out = Vec::new();
    for seq in sequences(&PATH_SEGMENTS, 4) {
        let path = seq.join("/");
        out.push(format!("{path}/"));
        out.push(path);
    }
    out
}

/// Reference matcher: backtracking over characters. `+` (as a whole segment)
/// eats any run of non-`/` characters; a trailing `*` accepts any rest.
fn reference_match(raw: &str, path: &str) -> bool {
    let (body, glob) = match raw.strip_suffix('*') {
        Some(body) => (body, true),
        None => (raw, false),
    };
    let mut tokens: Vec<Option<char>> = Vec::new(); // None = `+` segment
    for (i, seg) in body.split('/').enumerate() {
        if i > 0 {
            tokens.push(Some('/'));
        }
        if seg == "+" {
            tokens.push(None);
        } else {
            tokens.extend(seg.chars().map(Some));
        }
    }
    fn go(tokens: &[Option<char>], path: &[char], glob: bool) -> bool {
        match tokens.split_first() {
            None => glob || path.is_empty(),
            Some((Some(c), rest)) => path.first() == Some(c) && go(rest, &path[1..], glob),
            Some((None, rest)) => {
                let run = path.iter().take_while(|c| **c != '/').count();
                (0..=run).any(|k| go(rest, &path[k..], glob))
            }
        }
    }
    let path: Vec<char> = path.chars().collect();
    go(&tokens, &path, glob)
}

#[test]
fn matcher_agrees_with_a_reference_matcher() {
    let patterns = patterns();
    let paths = paths();
    assert!(patterns.len() > 200 && paths.len() > 600);
    for pattern in &patterns {
        for path in &paths {
            assert_eq!(
                pattern.matches(path),
                reference_match(pattern.as_str(), path),
                "pattern {pattern} path {path}"
            );
        }
    }
}

#[test]
fn priority_is_a_strict_total_order_on_distinct_patterns() {
    let mut wildcards: Vec<PathPattern> =
        patterns().into_iter().filter(|p| !p.is_exact()).collect();
    let rank = |a: &PathPattern, b: &PathPattern| match (a.priority(), b.priority()) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => panic!("wildcard patterns have a priority"),
    };
    wildcards.sort_by(rank);
    for (i, a) in wildcards.iter().enumerate() {
        for b in &wildcards[i + 1..] {
            assert_eq!(rank(a, b), Ordering::Less, "{a} vs {b}");
            assert_eq!(rank(b, a), Ordering::Greater, "{b} vs {a}");
        }
    }
}

/// A small deterministic generator (64-bit LCG), enough to pick rule subsets.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % bound
    }
}

fn acl_of(rules: &[&PathPattern]) -> Acl {
    // One policy per rule, so merging never hides a pattern.
    let policies: Vec<Policy> = rules
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            Policy::parse(
                &format!("p{i}"),
                &format!(
                    "path \"{}\" {{\n  capabilities = [\"read\"]\n}}\n",
                    p.as_str()
                ),
            )
            .ok()
        })
        .collect();
    assert_eq!(policies.len(), rules.len());
    Acl::new(&policies).unwrap_or_default()
}

#[test]
fn the_deciding_rule_is_the_best_match_in_any_order() {
    let patterns = patterns();
    let paths: Vec<String> = paths().into_iter().filter(|p| !p.ends_with('/')).collect();
    let mut rng = Lcg(0x5eed);
    for round in 0..60 {
        let mut chosen: Vec<&PathPattern> = Vec::new();
        while chosen.len() < 10 {
            let p = &patterns[rng.next(patterns.len())];
            if !chosen.contains(&p) {
                chosen.push(p);
            }
        }
        let forward = acl_of(&chosen);
        chosen.reverse();
        let backward = acl_of(&chosen);
        for path in &paths {
            let matching: Vec<&&PathPattern> = chosen.iter().filter(|p| p.matches(path)).collect();
            let expected = matching
                .iter()
                .find(|p| p.is_exact())
                .or_else(|| {
                    matching
                        .iter()
                        .max_by(|a, b| match (a.priority(), b.priority()) {
                            (Some(x), Some(y)) => x.cmp(&y),
                            _ => Ordering::Equal,
                        })
                })
                .map(|p| p.as_str().to_owned());
            let none = Value::Null;
            let got = forward.allowed(AclOperation::Read, path, &none);
            assert_eq!(got.matched, expected, "round {round} path {path}");
            assert_eq!(got.allowed, expected.is_some());
            let again = backward.allowed(AclOperation::Read, path, &none);
            assert_eq!(
                again.matched, expected,
                "reversed, round {round} path {path}"
            );
        }
    }
}
