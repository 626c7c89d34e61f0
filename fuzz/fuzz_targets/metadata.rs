//! The metadata parser: `[package.metadata.imagebuild]` written as any TOML (any bytes, read as
//! TOML first, as cargo would) gives settings or a clear error, never a panic.
#![no_main]

use cargo_imagebuild::internals::workspace::table;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(value) = toml::from_str::<toml::Value>(text) else {
        return;
    };
    let Ok(json) = serde_json::to_value(&value) else {
        return;
    };
    // `imagebuild` at the top, as cargo metadata hands a package's `metadata` table over.
    let _ = table(&json, std::path::Path::new("Cargo.toml"), "package.metadata.imagebuild");
    if let Some(inner) = json.get("package") {
        let _ = table(inner, std::path::Path::new("Cargo.toml"), "package.metadata.imagebuild");
    }
});
