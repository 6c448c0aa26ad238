//! Each domain type accepts what Slack and Google produce, and nothing else.

use super::*;
use proptest::prelude::*;

#[test]
fn a_well_formed_instance_name_parses_into_its_parts() {
    let n = InstanceName::parse(
        "projects/example-project/locations/us-central1-a/instances/research-and-development-foo",
    )
    .unwrap();
    assert_eq!(
        n.parent(),
        "projects/example-project/locations/us-central1-a"
    );
    assert_eq!(n.instance_id(), "research-and-development-foo");
}

#[test]
fn instance_names_with_missing_or_extra_segments_are_rejected() {
    for bad in [
        "",
        "research-and-development-foo",
        "projects/example-project/instances/foo",
        "projects/example-project/locations/us-central1-a/instances/foo/extra",
        "projects/example-project/zones/us-central1-a/instances/foo",
        "projects/Example/locations/us-central1-a/instances/foo",
        "projects/example-project/locations/us-central1-a/instances/Foo",
        "projects/example-project/locations/us-central1-a/instances/foo;rm",
        "projects/example-project/locations/../instances/foo",
    ] {
        assert!(
            InstanceName::parse(bad).is_err(),
            "{bad} should be rejected"
        );
    }
}

#[test]
fn an_empty_alias_is_rejected() {
    assert!(Alias::parse("").is_err());
}

#[test]
fn an_alias_with_shell_characters_is_rejected() {
    for bad in ["foo; rm -rf /", "$(curl evil)", "Foo", "-foo", "foo bar"] {
        assert!(Alias::parse(bad).is_err(), "{bad} should be rejected");
    }
}

#[test]
fn slack_ids_need_their_prefix() {
    assert!(SlackUserId::parse("U01AAAAAAAA").is_ok());
    assert!(SlackUserId::parse("W01AAAAAAAA").is_ok());
    assert!(SlackUserId::parse("T01AAAAAAAA").is_err());
    assert!(SlackUserId::parse("u01aaaa").is_err());
    assert!(TeamId::parse("T0123ABCD").is_ok());
    assert!(BotId::parse("B0123ABCD").is_ok());
    assert!(BotId::parse("U0123ABCD").is_err());
}

proptest! {
    #[test]
    fn every_valid_instance_name_parses(
        p in "[a-z][a-z0-9-]{4,28}[a-z0-9]",
        l in "[a-z0-9-]{1,20}",
        i in "[a-z]([a-z0-9-]{0,40}[a-z0-9])?",
    ) {
        let s = format!("projects/{p}/locations/{l}/instances/{i}");
        let n = InstanceName::parse(&s).unwrap();
        prop_assert_eq!(n.instance_id(), i.as_str());
        prop_assert_eq!(n.as_ref(), s.as_str());
    }

    #[test]
    fn instance_name_parsing_never_panics(s in ".*") {
        let _ = InstanceName::parse(&s);
    }
}
