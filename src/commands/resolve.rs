//! `cargo imagebuild resolve`, after ko's: YAML (Kubernetes manifests or any other) that names
//! images as `imagebuild://BIN` or `imagebuild://PACKAGE/BIN` comes back with each such
//! reference replaced by `REPOSITORY@sha256:…`, the index of that binary's image, built for every
//! configured platform and pushed (or, with `push` off, built and not pushed: the digests are
//! reproducible, so they are the ones a push would give).
//!
//! The replacement is textual: [`references`] finds the exact scalar tokens (outside comments,
//! bounded by YAML's separators and quotes) and only their bytes change; comments, order, other
//! documents and formatting stay as they were, which a parse and re-serialization would not
//! keep. Each binary is built once however often it is named. Applying the result is left to
//! `kubectl apply -f -`.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::events::Listener;
use crate::plan::options::Options;
use crate::plan::workspace;
use crate::run::{build, Outcome};

/// What a reference starts with.
pub const SCHEME: &str = "imagebuild://";

/// What `resolve` is asked: the build (its platforms, repository, registry settings; its
/// outputs and binary selection are resolve's own) and whether to push.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ResolveOptions {
    /// The build settings every referenced binary is built with.
    pub build: Options,
    /// Push the images (`--push=false`: build them and print the digests a push would give).
    pub push: bool,
}

impl ResolveOptions {
    /// Resolving with `build`'s settings, pushing.
    pub fn new(build: Options) -> Self {
        ResolveOptions { build, push: true }
    }
}

/// One YAML input: where it came from (for messages) and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The file, or `-` for standard input.
    pub name: String,
    /// Its text, as read.
    pub text: String,
}

/// One `imagebuild://` reference found in a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Its bytes in the text (the whole `imagebuild://…` token, no quotes).
    pub range: Range<usize>,
    /// The package it names, when written `PACKAGE/BIN`.
    pub package: Option<String>,
    /// The binary.
    pub bin: String,
    /// The line it is on (1-based), for messages.
    pub line: usize,
}

/// What `resolve` gives: the inputs with their references replaced, each reference's pinned
/// value, and the build's outcome (for the summary).
#[derive(Debug)]
#[non_exhaustive]
pub struct Resolved {
    /// The inputs, in order, each with its references replaced.
    pub outputs: Vec<Source>,
    /// Each distinct reference as written, with what replaced it.
    pub pinned: Vec<(String, String)>,
    /// The build of the referenced binaries (`None` when the inputs named none).
    pub outcome: Option<Outcome>,
}

impl Resolved {
    /// The outputs as one stream: a single input as it is; several joined as ko joins them,
    /// by YAML document separators (`---`) on lines of their own.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.outputs.iter().enumerate() {
            if i > 0 {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str("---\n");
            }
            out.push_str(&s.text);
        }
        out
    }
}

/// Reads `path`: a file, or a directory whose `*.yaml` and `*.yml` files (below it too) are read
/// in path order.
pub fn read_sources(path: &Path) -> Result<Vec<Source>> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("-f {}: cannot read it", path.display()))?;
    if !meta.is_dir() {
        return Ok(vec![read_one(path)?]);
    }
    let mut files = Vec::new();
    collect_yaml(path, &mut files, 0)?;
    files.sort();
    if files.is_empty() {
        bail!(
            "-f {}: the directory holds no .yaml or .yml file; give a file, a directory of \
             them, or - for standard input",
            path.display()
        );
    }
    files.iter().map(|f| read_one(f)).collect()
}

fn read_one(path: &Path) -> Result<Source> {
    let bytes =
        std::fs::read(path).with_context(|| format!("-f {}: cannot read it", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        anyhow::anyhow!(
            "-f {}: not UTF-8 text; YAML is read as UTF-8",
            path.display()
        )
    })?;
    Ok(Source {
        name: path.display().to_string(),
        text,
    })
}

/// The YAML files below `dir` (at most 32 directories deep: a link loop ends there).
fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<()> {
    if depth > 32 {
        bail!(
            "-f: {} is more than 32 directories deep (a symbolic link loop?)",
            dir.display()
        );
    }
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("-f {}: cannot list it", dir.display()))?;
    for e in entries {
        let e = e.with_context(|| format!("-f {}: cannot list it", dir.display()))?;
        let p = e.path();
        if p.is_dir() {
            collect_yaml(&p, out, depth + 1)?;
        } else if p
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("yaml") || x.eq_ignore_ascii_case("yml"))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Whether `c` may stand right before a scalar's first character.
fn opens_scalar(c: char) -> bool {
    c.is_whitespace() || matches!(c, '[' | '{' | ',' | '-' | ':')
}

/// Where the comment of `line` begins (its length when it has none): a `#` at its start or
/// after whitespace, outside quotes.
fn comment_start(line: &str) -> usize {
    let mut quote: Option<char> = None;
    let mut prev: Option<char> = None;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match quote {
            Some('"') if c == '\\' => {
                chars.next();
            }
            Some(q) if c == q => {
                // `''` inside single quotes is a quote.
                if q == '\'' && chars.peek().is_some_and(|(_, n)| *n == '\'') {
                    chars.next();
                } else {
                    quote = None;
                }
            }
            Some(_) => {}
            None if c == '#' && prev.is_none_or(char::is_whitespace) => return i,
            None if (c == '"' || c == '\'') && prev.is_none_or(opens_scalar) => quote = Some(c),
            None => {}
        }
        prev = Some(c);
    }
    line.len()
}

/// The `imagebuild://` references of `text`: whole scalars (plain or quoted), outside comments.
/// A token that starts like one but does not read as `BIN` or `PACKAGE/BIN` is an error that
/// names its line.
pub fn references(text: &str, source: &str) -> Result<Vec<Found>> {
    let mut found = Vec::new();
    let mut offset = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let code = &line[..comment_start(line)];
        let mut from = 0;
        while let Some(at) = code[from..].find(SCHEME) {
            let start = from + at;
            let rest = &code[start + SCHEME.len()..];
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')))
                .unwrap_or(rest.len());
            let end = start + SCHEME.len() + len;
            from = end;
            let before = code[..start].chars().next_back();
            let after = code[end..].chars().next();
            let quoted = matches!(before, Some('"' | '\''));
            // What stands before the scalar (past its quote and blanks): nothing, or YAML's
            // `key:`, `- `, `[`, `{` or `,`; anything else makes the token part of a longer one.
            let scalar_start = if quoted { start - 1 } else { start };
            let lead = code[..scalar_start].trim_end().chars().next_back();
            let bounded_before = before
                .is_none_or(|c| quoted || c.is_whitespace() || matches!(c, '[' | '{' | ','))
                && lead.is_none_or(|c| matches!(c, ':' | '-' | '[' | '{' | ','));
            let bounded_after = match (quoted, before) {
                (true, q) => after == q,
                (false, _) => {
                    after.is_none_or(|c| c.is_whitespace() || matches!(c, ',' | ']' | '}'))
                }
            };
            if !(bounded_before && bounded_after) {
                // Part of a longer scalar (`x-imagebuild://…`, a URL in prose): not a reference.
                continue;
            }
            let name = &rest[..len];
            let parts: Vec<&str> = name.split('/').collect();
            let (package, bin) = match parts.as_slice() {
                [bin] if !bin.is_empty() => (None, bin.to_string()),
                [pkg, bin] if !pkg.is_empty() && !bin.is_empty() => {
                    (Some(pkg.to_string()), bin.to_string())
                }
                _ => bail!(
                    "{source}:{}: `{SCHEME}{name}` is not a reference to a binary: write \
                     {SCHEME}BIN or {SCHEME}PACKAGE/BIN",
                    n + 1
                ),
            };
            found.push(Found {
                range: offset + start..offset + end,
                package,
                bin,
                line: n + 1,
            });
        }
        offset += line.len();
    }
    Ok(found)
}

/// `text` with each reference in `found` replaced by `with(found)`; every other byte kept.
fn replace(text: &str, found: &[Found], with: impl Fn(&Found) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in found {
        out.push_str(&text[at..f.range.start]);
        out.push_str(&with(f));
        at = f.range.end;
    }
    out.push_str(&text[at..]);
    out
}

/// A reference as written, for messages and the pinned list.
fn written(package: &Option<String>, bin: &str) -> String {
    match package {
        Some(p) => format!("{SCHEME}{p}/{bin}"),
        None => format!("{SCHEME}{bin}"),
    }
}

/// Resolves the references of `sources`: finds them, checks each names a binary of the
/// workspace, builds each named binary once (pushing it unless `push` is off) and replaces the
/// references by `REPOSITORY@DIGEST`. Nothing is printed or written: the caller prints
/// [`Resolved::text`] once everything has succeeded.
pub fn resolve(
    opts: &ResolveOptions,
    sources: &[Source],
    listener: impl Listener + 'static,
) -> Result<Resolved> {
    let mut all_found = Vec::new();
    for s in sources {
        all_found.push(references(&s.text, &s.name)?);
    }
    // Each distinct reference, first seen first: (package, bin) and where it was seen.
    let mut wanted: Vec<(Option<String>, String, String)> = Vec::new();
    for (s, found) in sources.iter().zip(&all_found) {
        for f in found {
            if !wanted
                .iter()
                .any(|(p, b, _)| *p == f.package && *b == f.bin)
            {
                let at = format!("{}:{}", s.name, f.line);
                wanted.push((f.package.clone(), f.bin.clone(), at));
            }
        }
    }
    if wanted.is_empty() {
        return Ok(Resolved {
            outputs: sources.to_vec(),
            pinned: Vec::new(),
            outcome: None,
        });
    }
    // Every binary of the workspace, to check the names against.
    let (meta, _) = workspace::metadata(&opts.build)?;
    let mut every = opts.build.clone();
    every.packages.clear();
    every.exclude.clear();
    every.bins.clear();
    every.workspace = true;
    let members = workspace::select_packages(&meta, &every)?;
    let bins = workspace::select_bins(&members, &every)?;
    let known = || {
        bins.iter()
            .map(|(p, b)| format!("{b} (package {})", p.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // (package, bin) of each wanted reference.
    let mut chosen: Vec<(String, String)> = Vec::new();
    for (package, bin, at) in &wanted {
        let hits: Vec<&str> = bins
            .iter()
            .filter(|(p, b)| b == bin && package.as_ref().is_none_or(|want| p.name == *want))
            .map(|(p, _)| p.name.as_str())
            .collect();
        match hits.as_slice() {
            [one] => chosen.push((one.to_string(), bin.clone())),
            [] => bail!(
                "{at}: `{}` names no binary of the workspace; the binaries are: {}\n  help: \
                 write {SCHEME}BIN or {SCHEME}PACKAGE/BIN with one of them",
                written(package, bin),
                known()
            ),
            many => bail!(
                "{at}: `{}` is a binary of several packages ({}): write {SCHEME}PACKAGE/{bin}",
                written(package, bin),
                many.join(", ")
            ),
        }
    }
    let names: BTreeSet<&str> = chosen.iter().map(|(_, b)| b.as_str()).collect();
    if names.len() < chosen.len() {
        bail!(
            "the inputs name binaries of the same name from different packages ({}); one \
             resolve builds one binary of a name: resolve them in separate runs",
            chosen
                .iter()
                .map(|(p, b)| format!("{p}/{b}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut build_opts = opts.build.clone();
    build_opts.workspace = false;
    build_opts.exclude.clear();
    build_opts.packages = chosen
        .iter()
        .map(|(p, _)| p.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    build_opts.bins = chosen.iter().map(|(_, b)| b.clone()).collect();
    build_opts.load = false;
    build_opts.loader = None;
    build_opts.load_platform = None;
    if opts.push {
        build_opts.push = true;
        build_opts.outputs.clear();
    } else {
        build_opts.push = false;
        build_opts.outputs = vec!["type=cacheonly".into()];
    }
    let outcome = build(&build_opts, listener)?;
    let pinned_for = |bin: &str| -> Result<String> {
        outcome
            .images
            .iter()
            .find(|b| b.name() == bin)
            .map(|b| b.reference())
            .with_context(|| format!("the build made no image of {bin}"))
    };
    let mut pinned = Vec::new();
    for (package, bin, _) in &wanted {
        pinned.push((written(package, bin), pinned_for(bin)?));
    }
    let outputs = sources
        .iter()
        .zip(&all_found)
        .map(|(s, found)| Source {
            name: s.name.clone(),
            text: replace(&s.text, found, |f| {
                let w = written(&f.package, &f.bin);
                pinned
                    .iter()
                    .find(|(k, _)| *k == w)
                    .map(|(_, v)| v.clone())
                    .unwrap_or(w)
            }),
        })
        .collect();
    Ok(Resolved {
        outputs,
        pinned,
        outcome: Some(outcome),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bins(text: &str) -> Vec<String> {
        references(text, "t.yaml")
            .unwrap()
            .into_iter()
            .map(|f| {
                assert!(text[f.range.clone()].starts_with(SCHEME));
                written(&f.package, &f.bin)
            })
            .collect()
    }

    #[test]
    fn finds_whole_scalars_outside_comments() {
        let text = "# image: imagebuild://commented\nspec:\n  image: imagebuild://api # imagebuild://x\n  \
                    b: \"imagebuild://server/migrate\"\n  c: 'imagebuild://ctl'\n  d: [imagebuild://a, imagebuild://b]\n  \
                    e: see imagebuild://prose-is-plain\n  f: x-imagebuild://no\n  g: \"imagebuild://half\n  \
                    - imagebuild://item\n";
        assert_eq!(
            bins(text),
            [
                "imagebuild://api",
                "imagebuild://server/migrate",
                "imagebuild://ctl",
                "imagebuild://a",
                "imagebuild://b",
                "imagebuild://item"
            ]
        );
    }

    #[test]
    fn hash_inside_quotes_is_no_comment() {
        assert_eq!(
            bins("a: \"x # y\" \nb: imagebuild://api\n"),
            ["imagebuild://api"]
        );
        assert_eq!(
            bins("a: 'it''s # not'\nb: imagebuild://api"),
            ["imagebuild://api"]
        );
        assert_eq!(
            bins("a: \"b#c\"\nc: imagebuild://api"),
            ["imagebuild://api"]
        );
    }

    #[test]
    fn bad_names_name_their_line() {
        let e = references("a: 1\nb: imagebuild://a/b/c\n", "k.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("k.yaml:2") && e.contains("PACKAGE/BIN"), "{e}");
        assert!(references("b: imagebuild://\n", "k.yaml").is_err());
    }

    #[test]
    fn replacement_keeps_every_other_byte() {
        let text = "a: imagebuild://api  # keep\r\n---\nb: \"imagebuild://api\"\n";
        let found = references(text, "t").unwrap();
        let out = replace(text, &found, |_| "r@sha256:1".into());
        assert_eq!(out, "a: r@sha256:1  # keep\r\n---\nb: \"r@sha256:1\"\n");
    }

    #[test]
    fn a_directory_gives_its_yaml_files_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("b")).unwrap();
        std::fs::write(dir.path().join("b/z.yml"), "z: 1\n").unwrap();
        std::fs::write(dir.path().join("a.yaml"), "a: 1\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not yaml").unwrap();
        let read = read_sources(dir.path()).unwrap();
        let texts: Vec<&str> = read.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["a: 1\n", "z: 1\n"]);
        let empty = tempfile::tempdir().unwrap();
        let e = read_sources(empty.path()).unwrap_err().to_string();
        assert!(e.contains("no .yaml or .yml file"), "{e}");
        let e = read_sources(&dir.path().join("missing.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read it"), "{e}");
    }

    #[test]
    fn several_inputs_join_as_documents() {
        let r = Resolved {
            outputs: vec![
                Source {
                    name: "a".into(),
                    text: "a: 1".into(),
                },
                Source {
                    name: "b".into(),
                    text: "b: 2\n".into(),
                },
            ],
            pinned: Vec::new(),
            outcome: None,
        };
        assert_eq!(r.text(), "a: 1\n---\nb: 2\n");
    }
}
