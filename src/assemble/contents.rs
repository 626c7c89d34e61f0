//! What goes into our own layers: the binary layer (the executable at its image path, 0755) and
//! the assets layer (extra files and directories from the settings, walked in sorted order).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

use crate::image::layer::{normalize, Entry, EntryKind, LayerSpec, Source};
use crate::plan::config::AssetSpec;

/// The layer holding the executable `exe` at `bin_path`.
pub fn binary_layer(exe: &Path, bin_path: &str, triple: &str) -> LayerSpec {
    LayerSpec {
        entries: vec![Entry::file(
            bin_path,
            Source::Path(exe.to_path_buf()),
            0o755,
        )],
        created_by: format!("cargo-imagebuild: {bin_path} built for {triple}"),
    }
}

/// The layer holding every asset. A file keeps the given mode, else 0755 when its source is
/// executable and 0644 when not; a directory is copied recursively with the same rule.
pub fn assets_layer(assets: &[AssetSpec]) -> Result<LayerSpec> {
    let mut entries = Vec::new();
    for a in assets {
        let dest = normalize(&a.dest)?;
        add(&a.source, &dest, a.mode, &mut entries, 0)?;
    }
    let names: Vec<&str> = assets.iter().map(|a| a.dest.as_str()).collect();
    Ok(LayerSpec {
        entries,
        created_by: format!("cargo-imagebuild: assets {}", names.join(", ")),
    })
}

fn add(src: &Path, dest: &str, mode: Option<u32>, out: &mut Vec<Entry>, depth: u32) -> Result<()> {
    // Bounded: deeper trees than this are almost certainly a symlink loop.
    if depth > 64 {
        anyhow::bail!(
            "asset {} is nested more than 64 directories deep",
            src.display()
        );
    }
    let meta =
        fs::symlink_metadata(src).with_context(|| format!("reading asset {}", src.display()))?;
    if meta.file_type().is_symlink() {
        let target = fs::read_link(src)?;
        out.push(Entry {
            path: dest.to_string(),
            kind: EntryKind::Symlink(target.to_string_lossy().into_owned()),
            mode: 0o777,
            uid: 0,
            gid: 0,
        });
    } else if meta.is_dir() {
        out.push(Entry::dir(dest, 0o755));
        let mut children: Vec<_> = fs::read_dir(src)
            .with_context(|| format!("listing asset directory {}", src.display()))?
            .collect::<Result<_, _>>()?;
        children.sort_by_key(|c| c.file_name());
        for c in children {
            let name = c.file_name();
            let child_dest = format!("{dest}/{}", name.to_string_lossy());
            add(&c.path(), &child_dest, mode, out, depth + 1)?;
        }
    } else if !meta.is_file() {
        // Packing would block on a FIFO forever, or read a device without end.
        anyhow::bail!(
            "asset {} is {}, not a regular file, directory or symlink: an image layer cannot \
             hold it. Move it out of the asset directory, or name only the files you mean in \
             `assets`",
            src.display(),
            special_kind(&meta.file_type())
        );
    } else {
        let exec = meta.permissions().mode() & 0o111 != 0;
        let m = mode.unwrap_or(if exec { 0o755 } else { 0o644 });
        out.push(Entry::file(dest, Source::Path(src.to_path_buf()), m));
    }
    Ok(())
}

/// What a special file is, in words.
fn special_kind(t: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_char_device() {
        "a character device"
    } else {
        "a special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_walked_in_order_with_modes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("static");
        fs::create_dir_all(root.join("b")).unwrap();
        fs::write(root.join("b/z.txt"), "z").unwrap();
        fs::write(root.join("a.sh"), "#!/bin/sh").unwrap();
        fs::set_permissions(root.join("a.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        let spec = assets_layer(&[AssetSpec {
            source: root,
            dest: "/srv/static".into(),
            mode: None,
        }])
        .unwrap();
        let got: Vec<(&str, u32)> = spec
            .entries
            .iter()
            .map(|e| (e.path.as_str(), e.mode))
            .collect();
        assert_eq!(
            got,
            [
                ("srv/static", 0o755),
                ("srv/static/a.sh", 0o755),
                ("srv/static/b", 0o755),
                ("srv/static/b/z.txt", 0o644)
            ]
        );
    }

    /// A FIFO or a socket in an asset directory is refused when the layer is listed, naming
    /// its path (reading a FIFO would block the build forever).
    #[test]
    fn special_files_are_refused_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("static");
        fs::create_dir_all(&root).unwrap();
        fs::write(root.join("a.txt"), "a").unwrap();
        let fifo = root.join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let spec = |root: &Path| {
            assets_layer(&[AssetSpec {
                source: root.to_path_buf(),
                dest: "/srv".into(),
                mode: None,
            }])
        };
        let err = spec(&root).unwrap_err().to_string();
        assert!(
            err.contains(&fifo.display().to_string()) && err.contains("a FIFO"),
            "{err}"
        );
        fs::remove_file(&fifo).unwrap();
        let sock = root.join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let err = spec(&root).unwrap_err().to_string();
        assert!(
            err.contains(&sock.display().to_string()) && err.contains("a socket"),
            "{err}"
        );
    }
}
