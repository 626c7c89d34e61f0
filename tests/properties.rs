//! Property tests (proptest, a bounded number of cases so the run stays short) of the parsers
//! every user value goes through: image references, platforms and triples, `--output` specs,
//! image names derived from binary names, and the `[package.metadata.imagebuild]` table. None
//! may panic on any input; what parses must mean what it says.

use std::path::Path;

use cargo_imagebuild::internals::naming::{image_name_for_bin, validate_repository, validate_tag};
use cargo_imagebuild::internals::output::OutputSpec;
use cargo_imagebuild::internals::platform::{parse_list, Platform};
use cargo_imagebuild::internals::reference::ImageRef;
use cargo_imagebuild::internals::workspace::table;
use proptest::prelude::*;
use serde_json::{json, Value};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 1000,
        // No files of failing cases in the source tree: a failure is printed, and made a test.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings near the shape of references: hosts, ports, paths, tags, digests, odd characters.
fn reference_like() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        "[a-z0-9]{1,8}",
        "[A-Za-z0-9._-]{0,8}",
        Just("localhost".to_string()),
        "[0-9]{1,6}",
        "\\PC{0,4}",
    ];
    (
        proptest::option::of((part.clone(), proptest::option::of("[0-9]{0,7}"))),
        proptest::collection::vec(part.clone(), 1..4),
        proptest::option::of(part),
        proptest::option::of("[0-9a-f]{0,64}"),
    )
        .prop_map(|(host, path, tag, digest)| {
            let mut s = String::new();
            if let Some((h, port)) = host {
                s.push_str(&h);
                if let Some(p) = port {
                    s.push(':');
                    s.push_str(&p);
                }
                s.push('/');
            }
            s.push_str(&path.join("/"));
            if let Some(t) = tag {
                s.push(':');
                s.push_str(&t);
            }
            if let Some(d) = digest {
                s.push_str("@sha256:");
                s.push_str(&d);
            }
            s
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn references_parse_or_refuse_and_round_trip(s in prop_oneof![reference_like(), "\\PC{0,40}"]) {
        if let Ok(r) = ImageRef::parse(&s) {
            let again = ImageRef::parse(&r.to_string()).expect("a parsed reference prints parseable");
            prop_assert_eq!(again.registry(), r.registry());
            prop_assert_eq!(again.repository(), r.repository());
            prop_assert_eq!(again.tag(), r.tag());
            prop_assert!(!r.repository().chars().any(|c| c.is_ascii_uppercase()));
        }
    }

    #[test]
    fn platforms_and_triples_parse_or_refuse(
        s in prop_oneof!["[a-z0-9]{1,8}/[a-z0-9]{1,8}(/v[0-9])?", "\\PC{0,30}"],
        t in prop_oneof!["[a-z0-9_]{1,10}-[a-z]{1,8}-[a-z]{1,6}-[a-z]{1,8}", "\\PC{0,30}"],
    ) {
        if let Ok(p) = s.parse::<Platform>() {
            prop_assert_eq!(p.to_string().parse::<Platform>().ok(), Some(p));
        }
        let _ = Platform::from_triple(&t);
        let list = format!("{s},{t}");
        let _ = parse_list([list.as_str()]);
    }

    #[test]
    fn output_specs_parse_or_refuse(
        s in "\\PC{0,60}",
        dest in "[A-Za-z0-9_./ -]{1,20}",
        kind in prop_oneof![Just("oci"), Just("docker")],
    ) {
        let _ = OutputSpec::parse(&s);
        // A dest holding commas is given quoted, as buildx reads it.
        let quoted = format!("type={kind},\"dest={dest},x\"");
        let spec = OutputSpec::parse(&quoted).expect("a quoted dest parses");
        prop_assert_eq!(
            spec.dest().map(|d| d.to_string_lossy().into_owned()),
            Some(format!("{dest},x").trim().to_string())
        );
    }

    #[test]
    fn every_binary_name_gives_a_valid_image_name(bin in "\\PC{0,30}") {
        let name = image_name_for_bin(&bin);
        prop_assert!(validate_repository(&name).is_ok(), "{bin:?} gave {name:?}");
    }

    #[test]
    fn tags_that_validate_are_spec_tags(t in "\\PC{0,12}") {
        if validate_tag(&t).is_ok() {
            prop_assert!(t.len() <= 128 && !t.starts_with(['.', '-']));
        }
    }

    #[test]
    fn metadata_tables_are_read_or_refused(v in metadata_value()) {
        let _ = table(&json!({ "imagebuild": v }), Path::new("Cargo.toml"), "package.metadata.imagebuild");
    }
}

/// JSON like what a `[package.metadata.imagebuild]` table holds, right and wrong: known keys
/// with values of any type and shape.
fn metadata_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-z/0-9-]{1,12}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let key = prop_oneof![
        Just("platforms"),
        Just("targets"),
        Just("base"),
        Just("entrypoint"),
        Just("cmd"),
        Just("env"),
        Just("workdir"),
        Just("user"),
        Just("labels"),
        Just("annotations"),
        Just("ports"),
        Just("assets"),
        Just("compression"),
        Just("compression-level"),
        Just("repository"),
        Just("tags"),
        Just("bin-dir"),
        Just("bin"),
        Just("strip"),
        Just("nope"),
    ];
    proptest::collection::btree_map(key, value, 0..5)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}
