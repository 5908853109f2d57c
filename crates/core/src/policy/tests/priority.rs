//! Which rule decides when several patterns match: one test per documented
//! priority rule (<https://developer.hashicorp.com/vault/docs/concepts/policies#policy-syntax>),
//! with the documentation's own examples where it gives them.

use super::{acl, can, check};
use crate::policy::AclOperation::{Create, Delete, List, Read, Update};

/// `(pattern, capabilities)` → one policy with one stanza per pair.
fn stanzas(rules: &[(&str, &str)]) -> String {
    rules
        .iter()
        .map(|(path, caps)| format!("path \"{path}\" {{\n  capabilities = [{caps}]\n}}\n"))
        .collect()
}

fn winner(rules: &[(&str, &str)], op: crate::policy::AclOperation, path: &str) -> Option<String> {
    let text = stanzas(rules);
    check(&acl(&[("p", &text)]), op, path).matched
}

#[test]
fn doc_example_explicit_deny_on_a_specific_path_beats_the_broad_grant() {
    // "Even though we allowed secret/*, this line explicitly denies
    // secret/super-secret. This takes precedence."
    let acl = acl(&[(
        "p",
        &stanzas(&[
            (
                "secret/*",
                r#""create", "read", "update", "patch", "delete", "list""#,
            ),
            ("secret/super-secret", r#""deny""#),
        ]),
    )]);
    assert!(can(&acl, Read, "secret/anything"));
    assert!(can(&acl, Update, "secret/anything/deeper"));
    assert!(!can(&acl, Read, "secret/super-secret"));
    assert!(!can(&acl, Delete, "secret/super-secret"));
}

#[test]
fn exact_match_beats_every_wildcard() {
    let rules = [
        ("secret/*", r#""deny""#),
        ("secret/+", r#""deny""#),
        ("secret/foo", r#""read""#),
    ];
    assert_eq!(
        winner(&rules, Read, "secret/foo").as_deref(),
        Some("secret/foo")
    );
    // So a broad deny does not reach a path that has its own exact rule.
    let text = stanzas(&rules);
    assert!(can(&acl(&[("p", &text)]), Read, "secret/foo"));
}

#[test]
fn rule_1_earlier_first_wildcard_loses() {
    // "If the first wildcard (+) or glob (*) occurs earlier in P1, P1 is lower priority"
    let rules = [("secret/+/bar", r#""read""#), ("secret/foo/+", r#""list""#)];
    assert_eq!(
        winner(&rules, Read, "secret/foo/bar").as_deref(),
        Some("secret/foo/+")
    );
    // Plain globs: the longer prefix has its glob later, so it wins.
    let rules = [("secret/*", r#""read""#), ("secret/foo*", r#""list""#)];
    assert_eq!(
        winner(&rules, Read, "secret/foobar").as_deref(),
        Some("secret/foo*")
    );
    // "+" at offset 7 loses to a glob at offset 9.
    let rules = [("secret/+/x", r#""read""#), ("secret/ab*", r#""list""#)];
    assert_eq!(
        winner(&rules, Read, "secret/ab/x").as_deref(),
        Some("secret/ab*")
    );
}

#[test]
fn rule_2_ending_in_glob_loses() {
    // "If P1 ends in * and P2 doesn't, P1 is lower priority"
    let rules = [
        ("secret/+/foo*", r#""read""#),
        ("secret/+/foo", r#""list""#),
    ];
    assert_eq!(
        winner(&rules, Read, "secret/a/foo").as_deref(),
        Some("secret/+/foo")
    );
    let rules = [("secret/ab/*", r#""read""#), ("secret/ab/+", r#""list""#)];
    assert_eq!(
        winner(&rules, Read, "secret/ab/c").as_deref(),
        Some("secret/ab/+")
    );
}

#[test]
fn rule_3_more_plus_segments_loses() {
    // The documentation's example: "given the two paths, secret/* and
    // secret/+/+/foo/*, the first wildcard appears in the same place, both end
    // in * and the latter has two wildcard segments while the former has zero.
    // So we end at rule (3), and give secret/+/+/foo/* lower priority."
    let rules = [("secret/*", r#""read""#), ("secret/+/+/foo/*", r#""deny""#)];
    assert_eq!(
        winner(&rules, Read, "secret/a/b/foo/x").as_deref(),
        Some("secret/*")
    );
    let text = stanzas(&rules);
    assert!(can(&acl(&[("p", &text)]), Read, "secret/a/b/foo/x"));
    // Without a glob on either side.
    let rules = [("secret/+/+/c", r#""read""#), ("secret/+/b/c", r#""list""#)];
    assert_eq!(
        winner(&rules, Read, "secret/a/b/c").as_deref(),
        Some("secret/+/b/c")
    );
}

#[test]
fn rule_4_shorter_loses() {
    // "If P1 is shorter, it is lower priority"
    let rules = [("secret/+/a*", r#""read""#), ("secret/+/ab*", r#""list""#)];
    assert_eq!(
        winner(&rules, Read, "secret/x/abc").as_deref(),
        Some("secret/+/ab*")
    );
}

#[test]
fn rule_5_lexicographically_smaller_loses() {
    // "If P1 is smaller lexicographically, it is lower priority"
    // Same first wildcard (2), no glob, two "+" each, same length: '+' < 'c'.
    let rules = [("a/+/+/d", r#""read""#), ("a/+/c/+", r#""list""#)];
    assert_eq!(winner(&rules, Read, "a/b/c/d").as_deref(), Some("a/+/c/+"));
    let reversed = [rules[1], rules[0]];
    assert_eq!(
        winner(&reversed, Read, "a/b/c/d").as_deref(),
        Some("a/+/c/+")
    );
}

#[test]
fn doc_example_prefix_globs_match_by_prefix_not_segment() {
    // "if you define a policy for secret/foo*, the policy would also match secret/foobar"
    let acl = acl(&[("p", &stanzas(&[("secret/foo*", r#""read""#)]))]);
    assert!(can(&acl, Read, "secret/foobar"));
    assert!(can(&acl, Read, "secret/foo/bar"));
    assert!(!can(&acl, Read, "secret/fo"));
}

#[test]
fn doc_example_plus_matches_one_segment() {
    let acl = acl(&[(
        "p",
        &stanzas(&[
            ("secret/+/teamb", r#""read""#),
            ("secret/+/+/teamb", r#""read""#),
        ]),
    )]);
    assert!(can(&acl, Read, "secret/foo/teamb"));
    assert!(can(&acl, Read, "secret/foo/bar/teamb"));
    assert!(can(&acl, Read, "secret/bar/foo/teamb"));
    assert!(!can(&acl, Read, "secret/teamb"));
    assert!(!can(&acl, Read, "secret/a/b/c/teamb"));
}

#[test]
fn a_lower_priority_deny_does_not_override_a_higher_priority_grant() {
    // Deny wins only within one pattern; across patterns the priority decides.
    let rules = [("secret/*", r#""deny""#), ("secret/app/+", r#""read""#)];
    assert_eq!(
        winner(&rules, Read, "secret/app/db").as_deref(),
        Some("secret/app/+")
    );
    let text = stanzas(&rules);
    let acl = acl(&[("p", &text)]);
    assert!(can(&acl, Read, "secret/app/db"));
    assert!(!can(&acl, Read, "secret/other"));
}

#[test]
fn the_winning_rule_alone_decides_even_if_it_lacks_the_capability() {
    // No fallback to a lower-priority rule that would grant the operation.
    let rules = [
        ("secret/*", r#""create", "update""#),
        ("secret/foo/*", r#""read""#),
    ];
    let text = stanzas(&rules);
    let acl = acl(&[("p", &text)]);
    assert!(!can(&acl, Create, "secret/foo/x"));
    assert!(can(&acl, Create, "secret/bar"));
}

#[test]
fn priority_does_not_depend_on_policy_or_stanza_order() {
    let rules = [
        ("*", r#""list""#),
        ("secret/*", r#""read""#),
        ("secret/+/x", r#""update""#),
        ("secret/a/+", r#""delete""#),
        ("secret/a/x*", r#""create""#),
    ];
    // Wildcards at offsets 0, 7, 7, 9 and 10: the glob of "secret/a/x*" comes last.
    let expected = winner(&rules, Read, "secret/a/x");
    assert_eq!(expected.as_deref(), Some("secret/a/x*"));
    for rotation in 0..rules.len() {
        let mut rotated = rules.to_vec();
        rotated.rotate_left(rotation);
        assert_eq!(
            winner(&rotated, Read, "secret/a/x"),
            expected,
            "rotation {rotation}"
        );
        // One policy per stanza, in rotated order.
        let texts: Vec<String> = rotated.iter().map(|r| stanzas(&[*r])).collect();
        let named: Vec<(String, &str)> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("p{i}"), t.as_str()))
            .collect();
        let pairs: Vec<(&str, &str)> = named.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        assert_eq!(check(&acl(&pairs), List, "secret/a/x").matched, expected);
    }
}
