//! This machine's paths as attachments record them (provenance, SBOMs): relative to the
//! workspace root, so two machines that build one commit record the same thing and no directory
//! name of this one leaks. [`path`] turns one path; [`argument`] turns every absolute path inside
//! a command-line argument (`--sbom-dir=/x`, `type=oci,dest=/x`), and [`command`] a whole
//! command line, its program reduced to its file name.
//!
//! A path inside the workspace becomes `.` or `dir/file`; one under the home directory `~/…`; any
//! other absolute path is written relative to the workspace (`../elsewhere`). Only the text is
//! looked at: nothing is resolved on disk.

use std::path::{Component, Path, PathBuf};

/// `p` as recorded: see the module docs.
pub fn path(p: &Path, root: &Path, home: Option<&Path>) -> String {
    if !p.is_absolute() {
        return p.display().to_string();
    }
    if let Ok(rest) = p.strip_prefix(root) {
        return match rest.as_os_str().is_empty() {
            true => ".".to_string(),
            false => rest.display().to_string(),
        };
    }
    if let Some(rest) = home
        .filter(|h| h.is_absolute() && h.components().count() > 1)
        .and_then(|h| p.strip_prefix(h).ok())
    {
        return match rest.as_os_str().is_empty() {
            true => "~".to_string(),
            false => format!("~/{}", rest.display()),
        };
    }
    let from: Vec<Component> = root.components().collect();
    let to: Vec<Component> = p.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    out.display().to_string()
}

/// `arg` with every absolute path in it (a whole argument, or a value after `=` or `,`) as
/// [`path`] records it.
pub fn argument(arg: &str, root: &Path, home: Option<&Path>) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    loop {
        let end = rest.find(['=', ',']).unwrap_or(rest.len());
        let (piece, tail) = rest.split_at(end);
        if piece.starts_with('/') {
            out.push_str(&path(Path::new(piece), root, home));
        } else {
            out.push_str(piece);
        }
        let mut chars = tail.chars();
        match chars.next() {
            Some(sep) => {
                out.push(sep);
                rest = chars.as_str();
            }
            None => return out,
        }
    }
}

/// A command line as recorded: the program as its file name, every other argument through
/// [`argument`].
pub fn command<S: AsRef<str>>(args: &[S], root: &Path, home: Option<&Path>) -> Vec<String> {
    args.iter()
        .enumerate()
        .map(|(i, a)| {
            let a = a.as_ref();
            if i == 0 {
                Path::new(a)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| a.to_string())
            } else {
                argument(a, root, home)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_relative_to_the_workspace() {
        let root = Path::new("/home/ann/src/ws");
        let home = Some(Path::new("/home/ann"));
        assert_eq!(path(Path::new("/home/ann/src/ws"), root, home), ".");
        assert_eq!(
            path(Path::new("/home/ann/src/ws/out/api"), root, home),
            "out/api"
        );
        assert_eq!(path(Path::new("/home/ann/sboms"), root, home), "~/sboms");
        assert_eq!(
            path(Path::new("/tmp/x/y"), root, home),
            "../../../../tmp/x/y"
        );
        assert_eq!(path(Path::new("/tmp/x"), root, None), "../../../../tmp/x");
        assert_eq!(path(Path::new("out"), root, home), "out");
        // A sibling whose name starts like the root is not inside it.
        assert_eq!(
            path(Path::new("/home/ann/src/ws2/x"), root, home),
            "~/src/ws2/x"
        );
        // A home of `/` does not turn everything into `~`.
        assert_eq!(
            path(Path::new("/tmp/a"), Path::new("/w"), Some(Path::new("/"))),
            "../tmp/a"
        );
    }

    #[test]
    fn command_lines_lose_this_machines_paths() {
        let root = Path::new("/w/ws");
        let got = command(
            &[
                "/opt/bin/cargo-imagebuild",
                "imagebuild",
                "--output",
                "type=oci,dest=/w/ws/out/api",
                "--sbom-dir=/w/ws/sboms",
                "--manifest-path",
                "/w/ws/Cargo.toml",
                "--platform",
                "linux/amd64",
            ],
            root,
            None,
        );
        assert_eq!(
            got,
            vec![
                "cargo-imagebuild",
                "imagebuild",
                "--output",
                "type=oci,dest=out/api",
                "--sbom-dir=sboms",
                "--manifest-path",
                "Cargo.toml",
                "--platform",
                "linux/amd64",
            ]
        );
    }
}
