//! Golden bytes: a fixed, committed input packed with gzip, zstd and no compression must give
//! exactly these digests. Every other reproducibility test compares two runs of the same code;
//! this one compares against constants, so a dependency upgrade (flate2, zlib-rs, zstd, tar)
//! that changes the bytes fails here instead of silently changing every user's image digests.
//! When a constant has to change, the commit that changes it says why.

use std::path::PathBuf;

use cargo_imagebuild::internals::base::skeleton_layer;
use cargo_imagebuild::internals::layer::{pack, Entry, LayerSpec, PackOptions, Source};
use cargo_imagebuild::internals::model::{Compression, CompressionKind};
use cargo_imagebuild::internals::store::BlobStore;

fn fixture(name: &str) -> Source {
    Source::Path(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/golden")
            .join(name),
    )
}

/// 3 MiB of text that compresses like a binary does, made by a fixed recurrence (no RNG crate,
/// whose output could change): more than one parallel-gzip block and one zstd job.
fn payload() -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    let mut out = Vec::with_capacity(3 << 20);
    while out.len() < 3 << 20 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let word = [
            "alpha", "beta", "gamma", "delta", "ELF", "\0\0\0\0", "ret", "mov",
        ][(x % 8) as usize];
        out.extend_from_slice(word.as_bytes());
        out.push((x >> 24) as u8);
    }
    out.truncate(3 << 20);
    out
}

fn spec() -> LayerSpec {
    LayerSpec {
        entries: vec![
            Entry::file("hello.txt", fixture("hello.txt"), 0o644),
            Entry::file("etc/app.json", fixture("etc/app.json"), 0o644),
            Entry::file("usr/local/bin/tool", fixture("bin/tool.sh"), 0o755),
            Entry::file("usr/local/bin/payload", Source::Bytes(payload()), 0o755)
                .owned_by(65532, 65532),
            Entry::dir("var/lib/app", 0o750),
        ],
        created_by: "golden".to_string(),
    }
}

/// The diff_id (digest of the uncompressed tar) every compression must give.
const TAR: &str = "sha256:aada5d3d2002b44a59e2bb2255286a6c3804a07823b9e14557b1319388495d79";

/// (compression, level, digest of the blob, diff_id of the tar).
const GOLDEN: &[(CompressionKind, i32, &str, &str)] = &[
    (
        CompressionKind::Gzip,
        6,
        "sha256:c0c82104c0b2a4dcdf42a8379a231f148dadb403e6c48e4194c092438c2d4cf3",
        TAR,
    ),
    (
        CompressionKind::Gzip,
        1,
        "sha256:da5bb8a7940b1b54809d373614fece1e83e4e918e5a8eaa5daee4956d721f657",
        TAR,
    ),
    (
        CompressionKind::Zstd,
        3,
        "sha256:21bc306488eaf3a17e37a7b201842cd90353090a182a31d14d559e79ca2a5572",
        TAR,
    ),
    (
        CompressionKind::Zstd,
        19,
        "sha256:1ab4a5da09fcf207d3fb9aad788842be343843a458f11848fcc62d5b922eda37",
        TAR,
    ),
    (CompressionKind::None, 0, TAR, TAR),
];

#[test]
fn packed_layers_have_the_committed_digests() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let mut wrong = Vec::new();
    for &(compression, level, digest, diff_id) in GOLDEN {
        let opts = PackOptions {
            compression: Compression::new(compression, Some(level)).unwrap(),
            mtime: 1_700_000_000,
        };
        let layer = pack(&spec(), &opts, &store).unwrap();
        let got = (layer.blob.digest.to_string(), layer.diff_id.to_string());
        if got != (digest.to_string(), diff_id.to_string()) {
            wrong.push(format!("{compression} level {level}: got {got:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "layer bytes changed:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_scratch_skeleton_has_its_committed_digests() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let opts = PackOptions {
        compression: Compression::Gzip(6),
        mtime: 0,
    };
    let layer = pack(&skeleton_layer(), &opts, &store).unwrap();
    assert_eq!(
        (layer.blob.digest.to_string(), layer.diff_id.to_string()),
        (
            "sha256:508aedae9159af937ff1cbc0cc338b219aee1bc32562d71190012a6da2ec7b2d".to_string(),
            "sha256:3252f197676128efb29580697d25bf1638cc2112e9b4600fe444882e6e96f689".to_string()
        )
    );
}
