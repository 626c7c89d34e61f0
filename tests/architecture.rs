//! The shape of the source tree, checked: stages import only from stages below them, and no
//! two modules import each other, directly or around a loop. The order, lowest first:
//!
//! `events` → `util` → `image` → `registry` → `plan` → `route` → `compile` → `provision` → `assemble` →
//! `attest` → `sink` → `run` → `commands` (then `lib.rs`, which may use anything). The binary
//! (`src/bin/cargo-imagebuild/`) sees only the library's public surface.
//!
//! A module's imports are every `crate::…` and `super::…` path in its code (`use` lines and
//! paths written inline), tests at the bottom of a file excluded. This is a text check, not a
//! compiler pass: it reads the sources the way a reviewer would, and fails with the offending
//! line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const STAGES: &[&str] = &[
    "events",
    "util",
    "image",
    "registry",
    "plan",
    "route",
    "compile",
    "provision",
    "assemble",
    "attest",
    "sink",
    "run",
    "commands",
];

/// Module path (`["image", "model"]`) of every source file.
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                // The binary is a crate of its own, on the library's public surface.
                if p != src.join("bin") {
                    stack.push(p);
                }
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(src).unwrap();
            let mut segs: Vec<String> = rel
                .iter()
                .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            if segs
                .last()
                .is_some_and(|s| s == "mod" || s == "lib" || s == "main")
            {
                segs.pop();
            }
            if rel == Path::new("main.rs") {
                continue;
            }
            out.insert(segs, p);
        }
    }
    out
}

/// The code of a file without its tests module and without comments.
fn code(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        let line = match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        };
        out.push((i + 1, line.to_string()));
    }
    out
}

/// Every path that starts with `crate::` or `super::` in `line`, brace groups expanded; and,
/// as `self::child…`, every path that starts with the name of one of `children` (the modules a
/// `mod.rs` declares, which it may name bare).
fn paths_with(line: &str, children: &[String]) -> Vec<Vec<String>> {
    let mut out = paths(line);
    let b = line.as_bytes();
    for child in children {
        let root = format!("{child}::");
        let mut from = 0;
        while let Some(at) = line[from..].find(&root) {
            let start = from + at;
            from = start + root.len();
            if start > 0
                && (b[start - 1].is_ascii_alphanumeric()
                    || b[start - 1] == b'_'
                    || b[start - 1] == b':')
            {
                continue;
            }
            expand(
                &line[from..],
                vec!["self".to_string(), child.clone()],
                &mut out,
            );
        }
    }
    out
}

/// Every path that starts with `crate::` or `super::` in `line`, brace groups expanded.
fn paths(line: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let b = line.as_bytes();
    for root in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = line[from..].find(root) {
            let start = from + at;
            from = start + root.len();
            if start > 0 && (b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_') {
                continue;
            }
            let head = root.trim_end_matches("::").to_string();
            expand(&line[from..], vec![head], &mut out);
        }
    }
    out
}

/// Reads `a::b::{c, d::e}` after a prefix, pushing each full path.
fn expand(rest: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    let mut s = rest;
    loop {
        let ident: String = s
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !ident.is_empty() {
            s = &s[ident.len()..];
            path.push(ident);
            if let Some(r) = s.strip_prefix("::") {
                s = r;
                continue;
            }
            out.push(path);
            return;
        }
        if let Some(r) = s.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            for c in r.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 || (depth == 1 && c == ',') {
                    let t = item.trim();
                    if !t.is_empty() && t != "self" {
                        expand(t, path.clone(), out);
                    } else if t == "self" {
                        out.push(path.clone());
                    }
                    item.clear();
                    if depth == 0 {
                        break;
                    }
                    continue;
                }
                item.push(c);
            }
        } else {
            out.push(path);
        }
        return;
    }
}

/// The module a path lands in: its longest prefix that is a module.
fn target(path: &[String], known: &BTreeMap<Vec<String>, PathBuf>) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| known.contains_key(p))
}

fn rank(module: &[String]) -> usize {
    match module.first() {
        None => STAGES.len(),
        Some(s) => STAGES
            .iter()
            .position(|x| x == s)
            .unwrap_or_else(|| panic!("src/{s} is in no stage: add it to STAGES in {}", file!())),
    }
}

#[test]
fn imports_point_down_the_stages_and_never_loop() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let known = modules(&src);
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut upward = Vec::new();
    for (module, file) in &known {
        let text = std::fs::read_to_string(file).unwrap();
        let children: Vec<String> = text
            .lines()
            .filter_map(|l| {
                l.trim()
                    .strip_prefix("pub mod ")
                    .or(l.trim().strip_prefix("mod "))
            })
            .filter_map(|l| l.strip_suffix(';'))
            .map(str::to_string)
            .collect();
        for (n, line) in code(&text) {
            if line.trim_start().starts_with("pub mod ") || line.trim_start().starts_with("mod ") {
                continue;
            }
            for p in paths_with(&line, &children) {
                // `crate::a` is the module path; `super::x` is relative to the parent module;
                // `self::x` to this one.
                let abs: Vec<String> = if p[0] == "crate" {
                    p[1..].to_vec()
                } else if p[0] == "self" {
                    module
                        .iter()
                        .cloned()
                        .chain(p[1..].iter().cloned())
                        .collect()
                } else {
                    // In `a/b.rs` and in `a/b/mod.rs` alike, `super` is `a`.
                    let parent = &module[..module.len().saturating_sub(1)];
                    parent
                        .iter()
                        .cloned()
                        .chain(p[1..].iter().cloned())
                        .collect()
                };
                let Some(to) = target(&abs, &known) else {
                    continue;
                };
                if to == *module || to.is_empty() {
                    continue;
                }
                if rank(&to) > rank(module) {
                    upward.push(format!(
                        "{}:{n}: {} (stage {}) imports {} (stage {}): {}",
                        file.strip_prefix(&src).unwrap().display(),
                        module.join("::"),
                        rank(module),
                        to.join("::"),
                        rank(&to),
                        line.trim()
                    ));
                }
                edges.entry(module.clone()).or_default().insert(to);
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that point up the stage order ({}):\n{}",
        STAGES.join(" → "),
        upward.join("\n")
    );
    // A loop among modules: depth-first search with colours.
    fn visit(
        m: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        state.insert(m.clone(), 1);
        stack.push(m.clone());
        for next in edges.get(m).into_iter().flatten() {
            match state.get(next).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == next).unwrap();
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(next, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(m.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in known.keys() {
        if state.get(m).copied().unwrap_or(0) == 0 {
            if let Some(cycle) = visit(m, &edges, &mut state, &mut Vec::new()) {
                let names: Vec<String> = cycle.iter().map(|c| c.join("::")).collect();
                panic!("modules import each other: {}", names.join(" → "));
            }
        }
    }
}

/// The binary's files, `src/bin/cargo-imagebuild/*.rs`.
fn binary_files(src: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(src.join("bin/cargo-imagebuild"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_binary_uses_only_the_public_surface() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = binary_files(&src);
    assert!(files.len() >= 3, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in code(&text) {
            assert!(
                !line.contains("internals"),
                "{}:{n} reaches the library's internals: {}",
                file.display(),
                line.trim()
            );
        }
    }
    // And clap is the binary's alone.
    for (module, file) in modules(&src) {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains("use clap") && !text.contains("clap::"),
            "{} ({}) uses clap: the command line belongs to the binary",
            file.display(),
            module.join("::")
        );
    }
}

#[test]
fn every_module_opens_with_a_doc_comment() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut missing = Vec::new();
    for file in modules(&src).values().chain(binary_files(&src).iter()) {
        let text = std::fs::read_to_string(file).unwrap();
        if !text.trim_start().starts_with("//!") {
            missing.push(file.strip_prefix(&src).unwrap().display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "modules without a `//!` opening: {missing:?}"
    );
}

#[test]
fn the_checker_sees_paths_in_every_form() {
    assert_eq!(
        paths("use crate::{image::model::{media, Layer}, util::ui::Ui};"),
        vec![
            vec!["crate", "image", "model", "media"],
            vec!["crate", "image", "model", "Layer"],
            vec!["crate", "util", "ui", "Ui"],
        ]
    );
    assert_eq!(
        paths("let x = crate::plan::naming::ENV_REPO; use super::{self, Report};"),
        vec![
            vec!["crate", "plan", "naming", "ENV_REPO"],
            vec!["super"],
            vec!["super", "Report"],
        ]
    );
}
