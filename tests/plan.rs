//! The plan as a library value: computed without side effects (a platform whose standard library
//! is missing is planned, not installed; `--platform all` asks the caller's lookup, not the
//! network) and serializable, so it can be printed as JSON.

use std::path::{Path, PathBuf};

use anyhow::Result;
use cargo_imagebuild::internals::plan::{self, Lookup};
use cargo_imagebuild::internals::platform::Platform;
use cargo_imagebuild::internals::reference::ImageRef;
use cargo_imagebuild::{Options, PlatformChoice};

/// Options for the fixture workspace, with `--platform` set to `platforms`.
fn options(platforms: &str) -> Options {
    let mut opts = Options::default();
    opts.manifest_path = Some(ws());
    opts.platforms = PlatformChoice::parse(&[platforms]).unwrap();
    opts
}

fn ws() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ws/Cargo.toml")
}

/// Answers from a table, and counts the questions.
struct Table(std::cell::Cell<usize>);

impl Lookup for Table {
    fn base_platforms(&self, base: &ImageRef) -> Result<Vec<Platform>> {
        self.0.set(self.0.get() + 1);
        assert_eq!(base.repository(), "acme/base");
        Ok(vec!["linux/amd64".parse()?, "linux/arm64".parse()?])
    }
}

#[test]
fn planning_installs_nothing_and_asks_the_lookup() {
    let lookup = Table(std::cell::Cell::new(0));
    // loong64: no candidate's standard library is installed here, and planning must not add it.
    let mut opts = options("linux/loong64");
    opts.bins = vec!["api".into()];
    let p = plan::plan(&opts, &lookup).unwrap();
    let t = &p.images[0].targets()[0];
    assert_eq!(t.platform.to_string(), "linux/loong64");
    assert!(
        !p.toolchain.has_std(&t.triple),
        "{} std appeared: planning installed it",
        t.triple
    );
    assert_eq!(p.profile, "release");
    assert_eq!(lookup.0.get(), 0, "no registry question for a plain plan");

    // `--platform all` on a registry base: the platforms are the lookup's answer.
    let mut opts = options("all");
    opts.bins = vec!["api".into()];
    opts.settings.base = Some("127.0.0.1:1/acme/base:1".into());
    let p = plan::plan(&opts, &lookup).unwrap();
    let got: Vec<String> = p.images[0]
        .targets()
        .iter()
        .map(|t| t.platform.to_string())
        .collect();
    assert_eq!(got, ["linux/amd64", "linux/arm64"]);
    assert_eq!(lookup.0.get(), 1);
}

#[test]
fn a_plan_serializes_to_json() {
    let mut opts = options("linux/amd64,linux/arm/v7");
    opts.workspace = true;
    opts.outputs = vec!["type=oci,dest=out/{bin}".into()];
    let p = plan::plan(&opts, &Table(std::cell::Cell::new(0))).unwrap();
    let v = serde_json::to_value(&p).unwrap();
    let images = v["images"].as_array().unwrap();
    let bins: Vec<&str> = images.iter().map(|i| i["bin"].as_str().unwrap()).collect();
    assert!(bins.contains(&"api") && bins.contains(&"ctl"), "{bins:?}");
    assert_eq!(images[0]["targets"][1]["platform"], "linux/arm/v7");
    assert_eq!(images[0]["base"], "scratch");
    assert_eq!(images[0]["compression"], "gzip");
    assert_eq!(v["outputs"][0], "OCI layout out/{bin}");
    assert_eq!(v["profile"], "release");
}

/// A one-package workspace whose `[package.metadata.imagebuild]` holds `metadata`.
fn package_with(metadata: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [package.metadata.imagebuild]\n{metadata}\n"
        ),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/main.rs"), "fn main() {}\n").unwrap();
    dir
}

/// The error planning `dir`'s package gives (with `opts` changed by `edit`), without the
/// temporary directory's name (which could hold any letters).
fn plan_error(dir: &Path, edit: impl FnOnce(&mut Options)) -> String {
    let mut opts = Options::default();
    opts.manifest_path = Some(dir.join("Cargo.toml"));
    opts.platforms = PlatformChoice::parse(&["linux/amd64"]).unwrap();
    edit(&mut opts);
    let e = plan::plan(&opts, &Table(std::cell::Cell::new(0)))
        .err()
        .unwrap_or_else(|| panic!("planning {} succeeded", dir.display()));
    format!("{e:#}").replace(&dir.display().to_string(), "DIR")
}

/// Metadata errors speak the user's language: the key path, the table, and what the key
/// accepts; never the Rust types behind them (`untagged enum Port`, `struct ImageSettings`,
/// `expected i32`, `unknown variant`).
#[test]
fn metadata_errors_name_the_key_and_the_accepted_forms_not_rust_types() {
    let cases: &[(&str, &[&str])] = &[
        (
            "ports = [-1]",
            &["ports[0]", "a port is 1–65535 or \"8080/udp\""],
        ),
        ("ports = [70000]", &["ports[0]", "a port is 1–65535"]),
        ("ports = [true]", &["ports[0]", "a port is 1–65535"]),
        ("ports = [8080, { a = 1 }]", &["ports[1]", "a port is"]),
        (
            "compression-level = \"high\"",
            &["compression-level", "gzip 0-9, zstd 1-22"],
        ),
        (
            "compression-level = 1.5",
            &["compression-level", "whole number"],
        ),
        (
            "compression-level = 99999999999",
            &["compression-level", "out of range"],
        ),
        ("compression = \"lz4\"", &["compression", "gzip", "zstd"]),
        ("compression = 3", &["compression", "a string"]),
        ("strip = \"all\"", &["strip", "none, debuginfo or symbols"]),
        ("strip = true", &["strip", "a string"]),
        ("cache-limit = -5", &["cache-limit", "is not a size"]),
        ("cache-limit = true", &["cache-limit", "a size"]),
        (
            "registry-timeout = \"soon\"",
            &["registry-timeout", "a number of seconds, 1 to 3600"],
        ),
        ("retries = -1", &["retries", "0 to 20"]),
        ("assets = [3]", &["assets[0]", "an asset is"]),
        ("assets = \"static\"", &["assets", "expected"]),
        (
            "assets = [{ source = \"a\" }]",
            &["assets[0]", "dest", "an asset is"],
        ),
        (
            "assets = [{ source = \"a\", dest = \"/a\", owner = \"x\" }]",
            &["assets[0]", "owner"],
        ),
        ("assets = [[\"a\", 1]]", &["assets[0]", "is not a string"]),
        ("bin = 3", &["bin", "expected"]),
        (
            "bin = { app = 3 }",
            &["bin.app", "a table of imagebuild settings"],
        ),
        ("tags = [1]", &["tags[0]", "a string"]),
        ("env = { A = 1 }", &["env.A", "a string"]),
        ("user = 1", &["user", "a string"]),
        ("user = \"a:b:c\"", &["key `user`", "is not USER[:GROUP]"]),
        ("labels = { \"\" = \"x\" }", &["key `labels`", "empty key"]),
        (
            "annotations = { \"manifest[linux/nope]:k\" = \"v\" }",
            &["key `annotations`", "manifest[linux/nope]:k"],
        ),
        ("remap-paths = \"yes\"", &["remap-paths", "a boolean"]),
        ("targets = [1]", &["targets", "expected"]),
        (
            "bin-dir = \"/../../x\"",
            &["bin-dir", "absolute path inside the image", "`..`"],
        ),
        (
            "workdir = \"/srv/../..\"",
            &["workdir", "without `.` or `..`"],
        ),
        (
            "bin-dir = \"bin\"",
            &["bin-dir", "must be an absolute path"],
        ),
        ("env = { \"A\\nB\" = \"x\" }", &["env.", "line break"]),
        ("env = { \"A=B\" = \"x\" }", &["env.", "contains `=`"]),
        (
            "annotations = { \"index[:k\" = \"v\" }",
            &["index[:k", "is not closed"],
        ),
    ];
    for (metadata, expect) in cases {
        let ws = package_with(metadata);
        let e = plan_error(ws.path(), |_| {});
        for want in *expect {
            assert!(
                e.contains(want),
                "{metadata}: the message lacks `{want}`: {e}"
            );
        }
        if !metadata.starts_with("annotations") && !metadata.starts_with("env = { \"") {
            assert!(
                e.contains("[package.metadata.imagebuild]"),
                "{metadata}: {e}"
            );
        }
        for rust in [
            "enum",
            "struct",
            "variant",
            "untagged",
            "i32",
            "u64",
            "u32",
            "u16",
            "ImageSettings",
        ] {
            assert!(
                !e.contains(rust),
                "{metadata}: the message says `{rust}`: {e}"
            );
        }
    }
}

/// A change to the options of a case.
type Edit = Box<dyn FnOnce(&mut Options)>;

/// What the caller's options alone decide is refused while planning, before anything runs:
/// each message names the value and the fix.
#[test]
fn options_that_cannot_work_are_refused_while_planning() {
    let ws = package_with("");
    let dir = ws.path().to_path_buf();
    let cases: Vec<(Edit, &[&str])> = vec![
        (
            Box::new(|o| o.cargo_config = vec!["garbage".into()]),
            &["--config `garbage`", "KEY=VALUE", "build.jobs=2"],
        ),
        (
            Box::new(|o| o.cargo_config = vec!["a=b c".into()]),
            &["--config `a=b c`", "quote a string value"],
        ),
        (
            Box::new(|o| o.cargo_config = vec!["[build]\njobs=1".into()]),
            &["is not a single KEY=VALUE"],
        ),
        (
            Box::new(|o| o.profile = "rel ease".into()),
            &["--profile `rel ease`", "letters, digits"],
        ),
        (
            Box::new(|o| o.registry.ca = Some("missing.pem".into())),
            &["--registry-ca missing.pem", "PEM certificate"],
        ),
        (
            Box::new(|o| o.registry.ca = Some(env!("CARGO_MANIFEST_DIR").into())),
            &["--registry-ca", "PEM certificate"],
        ),
        (
            Box::new(move |o| {
                o.push = true;
                o.settings.repository = Some("127.0.0.1:1/app".into());
                o.metadata_file = Some(dir.clone());
            }),
            &["--metadata-file DIR is a directory", "metadata.json"],
        ),
        (
            Box::new(|o| {
                o.settings.env = Some([("A\nB".to_string(), "x".to_string())].into());
            }),
            &["environment variable \"A\\nB\"", "line break"],
        ),
        (
            Box::new(|o| {
                o.settings.annotations =
                    Some([("manifest[linux/amd64:k".to_string(), "v".to_string())].into());
            }),
            &[
                "manifest[linux/amd64:k",
                "is not closed",
                "manifest[linux/arm64]:KEY=VALUE",
            ],
        ),
        (
            Box::new(|o| {
                o.settings.annotations = Some([("big".to_string(), "x".repeat(5 << 20))].into());
            }),
            &[
                "manifest of app would be",
                "more than the 4 MiB",
                "annotations",
            ],
        ),
        (
            Box::new(|o| {
                o.settings.annotations =
                    Some([("index:big".to_string(), "x".repeat(5 << 20))].into());
            }),
            &["the index of app would be", "4 MiB"],
        ),
    ];
    for (edit, expect) in cases {
        let e = plan_error(ws.path(), edit);
        for want in expect {
            assert!(e.contains(want), "the message lacks `{want}`: {e}");
        }
    }
}
