//! Property tests of the `vault:v<N>:` envelope (`ciphertext.rs`): format
//! then parse gives the version and body back, and no string makes the
//! parser panic. The `transit_ciphertext` fuzz target drives the same
//! parser through the engine (docs/FUZZING.md).

use crate::ciphertext::{Kind, format, parse};
use proptest::prelude::*;

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Ciphertext),
        Just(Kind::Signature),
        Just(Kind::Hmac)
    ]
}

proptest! {
    #[test]
    fn format_then_parse_gives_the_version_and_body_back(
        k in kind(),
        version in 1u64..,
        body in "\\PC{0,80}",
    ) {
        let value = format(version, &body);
        prop_assert_eq!(parse(k, &value).expect("parse"), (version, body.as_str()));
    }

    #[test]
    fn version_zero_reads_as_one(k in kind(), body in "[A-Za-z0-9+/=:]{0,40}") {
        let value = format(0, &body);
        prop_assert_eq!(parse(k, &value).expect("parse"), (1, body.as_str()));
    }

    #[test]
    fn any_string_parses_or_is_refused_with_a_message(k in kind(), value in "\\PC{0,60}") {
        match parse(k, &value) {
            Ok((version, body)) => {
                prop_assert!(version >= 1);
                prop_assert!(value.starts_with("vault:v"));
                prop_assert!(value.ends_with(body));
            }
            Err(e) => prop_assert!(e.to_string().starts_with("invalid "), "{}", e),
        }
    }

    #[test]
    fn prefixed_strings_parse_or_are_refused_without_panicking(
        k in kind(),
        rest in "[0-9a-z:+-]{0,24}",
    ) {
        let _ = parse(k, &format!("vault:v{rest}"));
    }
}
