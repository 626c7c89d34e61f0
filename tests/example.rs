//! The library as a user depends on it: `examples/layout.rs`, compiled here against the public
//! surface alone, builds an OCI layout of a fixture binary and receives the build's events on a
//! channel. The target is this machine's gnu triple, whose standard library every rustup
//! install has, so this runs on a machine with nothing but Rust (the fast tier).

#[path = "../examples/layout.rs"]
#[allow(dead_code)]
mod layout;

use std::path::Path;

use cargo_imagebuild::Event;

#[test]
fn the_example_builds_a_layout_and_hears_every_stage() {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ws/Cargo.toml");
    let out = tempfile::tempdir().unwrap();
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let (outcome, events) = layout::run(
        ws,
        out.path().to_path_buf(),
        vec!["api".into()],
        vec![triple.clone()],
    )
    .unwrap_or_else(|e| panic!("the example's build failed: {e:#}"));

    // What it built is what it wrote: the layout's index names the outcome's manifest.
    let built = &outcome.images[0];
    assert_eq!(built.name(), "api");
    let image = built.images().next().unwrap();
    assert_eq!(image.target, triple);
    let layout = out.path().join("api");
    assert!(layout.join("oci-layout").is_file());
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let listed = index.to_string();
    assert!(
        listed.contains(built.index_digest()),
        "index.json does not list {}: {listed}",
        built.index_digest()
    );

    // Every stage spoke, in pipeline order.
    let first = |f: &dyn Fn(&Event) -> bool| events.iter().position(f);
    let plan = first(&|e| matches!(e, Event::Plan { .. })).expect("a plan event");
    let started = first(&|e| matches!(e, Event::CompileStarted { .. })).expect("compile-started");
    let finished =
        first(&|e| matches!(e, Event::CompileFinished { .. })).expect("compile-finished");
    let packed = first(&|e| matches!(e, Event::LayerPacked { .. })).expect("layer-packed");
    let written = first(&|e| {
        matches!(e, Event::ImageWritten { index_digest, .. } if index_digest == built.index_digest())
    })
    .expect("image-written with the outcome's digest");
    assert!(
        plan < started && started < finished && finished < written,
        "{events:#?}"
    );
    assert!(packed < written, "{events:#?}");
    assert!(
        events
            .iter()
            .all(|e| serde_json::to_value(e).unwrap()["reason"].is_string()),
        "every event serializes with a reason"
    );
}
