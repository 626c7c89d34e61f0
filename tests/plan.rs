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
