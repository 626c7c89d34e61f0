//! Supply-chain documents attached to the images once they are assembled: per image and
//! platform, an SBOM ([`spdx`] or [`cyclonedx`], from the [`graph`](crate::compile::graph) of exactly that binary for
//! that target) and a [`provenance`] statement, each wrapped in an OCI 1.1 artifact manifest
//! whose `subject` is the platform's manifest ([`Attachment`]). The sinks write or push the
//! attachments beside the image; the image's own manifests and index do not change.
//!
//! An image rebuilt exactly as before keeps the provenance statement of the run that built it
//! ([`kept`]), so a run that changed nothing attaches nothing new.
//!
//! [`attach`] is the one entry: it reads each target's graph from the run's one `cargo metadata`
//! (filtered by the target's cached `rustc --print cfg`), takes rustc's and cargo's versions
//! from the cached toolchain answers, and asks a C compiler its version only for a target
//! that compiles C.

pub mod cyclonedx;
pub mod facts;
pub mod kept;
pub mod provenance;
pub mod spdx;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use serde_json::json;

pub use facts::{Facts, Tool};

use crate::compile::graph;
use crate::image::document::{self, rfc3339};
use crate::image::model::{annotation, media, Attachment, Document, ImageSet};
use crate::image::platform::Platform;
use crate::plan::options::SbomFormat;
use crate::plan::{ImagePlan, Plan};
use crate::route::{Builder, CCompiler, Route};
use crate::util::report::Reporter;

/// File name of a document in `--sbom-dir`: `api-linux-arm-v7.spdx.json`.
pub fn file_name(bin: &str, platform: &Platform, media_type: &str) -> String {
    let kind = match media_type {
        media::SPDX => "spdx",
        media::CYCLONEDX => "cdx",
        _ => "provenance",
    };
    format!(
        "{bin}-{}.{kind}.json",
        platform.to_string().replace('/', "-")
    )
}

/// The first line a program prints for `args`, or `None` when it cannot run.
fn first_line(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(dir);
    let out = crate::util::process::run(&mut cmd, Duration::from_secs(30), program).ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().map(|l| l.trim().to_string())
}

/// A tool from the first line it prints: its version is the first word that starts with a digit.
fn tool(name: &str, line: String) -> Tool {
    let version = line
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or("unknown")
        .trim_end_matches(',')
        .to_string();
    Tool {
        name: name.to_string(),
        version,
        description: line,
    }
}

/// The C compiler a route compiles C with, when it does.
fn c_compiler(route: &Route, dir: &Path) -> Option<Tool> {
    if route.builds_c.is_empty() && !route.openssl {
        return None;
    }
    match &route.c_compiler {
        CCompiler::Zig { zig, .. } => {
            crate::route::tools::zig_version(zig).map(|v| tool("zig", format!("zig {v}")))
        }
        CCompiler::Gcc { cc, .. } => {
            let name = cc.file_name()?.to_string_lossy().into_owned();
            first_line(&cc.to_string_lossy(), &["--version"], dir).map(|l| tool(&name, l))
        }
        CCompiler::User(cc) => {
            let mut words = cc.split_whitespace();
            let program = words.next()?;
            let mut args: Vec<&str> = words.collect();
            args.push("--version");
            first_line(program, &args, dir).map(|l| tool(program, l))
        }
        CCompiler::Default if route.builder == Builder::Zigbuild => {
            first_line("zig", &["version"], dir).map(|v| tool("zig", format!("zig {v}")))
        }
        CCompiler::Default => first_line("cc", &["--version"], dir).map(|l| tool("cc", l)),
    }
}

/// The settings a provenance statement records, as the build saw them.
fn settings(plan: &Plan, img: &ImagePlan) -> serde_json::Value {
    json!({
        "profile": plan.profile,
        "features": plan.features,
        "cargoConfig": plan
            .cargo_config
            .iter()
            .map(|c| crate::util::redact::config_value(c))
            .collect::<Vec<_>>(),
        "base": img.base.name(),
        "repository": img.repository,
        "tags": img.tags,
        "compression": img.compression,
        "compressionLevel": img.compression.level(),
        "sourceDateEpoch": plan.epoch,
        "epochSource": plan.epoch_source,
        "remapPaths": !plan.remap.is_empty(),
        "sbom": plan.sbom,
    })
}

/// The base's reference and manifest digest, from the annotations of a manifest we wrote.
fn base_of(manifest: &Document) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(&manifest.bytes).ok()?;
    let a = v.get("annotations")?;
    Some((
        a.get(annotation::BASE_NAME)?.as_str()?.to_string(),
        a.get(annotation::BASE_DIGEST)?.as_str()?.to_string(),
    ))
}

/// Attaches the SBOM and provenance that `plan` asks for to every platform of every set (in
/// plan order), and writes them to `--sbom-dir` when given. `started` is when the build began.
pub fn attach(
    plan: &Plan,
    routes: &BTreeMap<String, Route>,
    sets: &mut [ImageSet],
    started: SystemTime,
    ui: &Reporter,
) -> Result<()> {
    if plan.sbom == SbomFormat::None && !plan.provenance {
        return Ok(());
    }
    let root = &plan.workspace_root;
    let rustc = tool("rustc", plan.toolchain.version().to_string());
    let cargo = plan.toolchain.cargo_version().map(|l| tool("cargo", l));
    let checksums = graph::lock_checksums(root);
    let command = &plan.command;
    let created = rfc3339(plan.epoch);
    let finished = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let started = humantime::format_rfc3339_seconds(started).to_string();
    let kept_dir = plan.work_dir().join("provenance");
    let mut compilers: BTreeMap<String, Option<Tool>> = BTreeMap::new();
    for (set, img) in sets.iter_mut().zip(&plan.images) {
        let mut attachments = Vec::new();
        for image in &set.images {
            let triple = image.triple.as_str();
            let applies = crate::route::cdeps::applies_to(triple, || plan.toolchain.cfg(triple));
            let graph = graph::of_package(&plan.metadata, &img.package, &checksums, applies)
                .with_context(|| format!("reading the dependency graph for {triple}"))?;
            let route = routes.get(triple);
            let cc = compilers
                .entry(triple.to_string())
                .or_insert_with(|| route.and_then(|r| c_compiler(r, root)))
                .clone();
            let mut tools = vec![rustc.clone()];
            tools.extend(cc);
            let facts = Facts {
                bin: &img.bin,
                package: &img.package,
                platform: &image.platform,
                triple,
                manifest: &image.manifest.descriptor,
                created: created.clone(),
                tools,
            };
            let mut docs = Vec::new();
            match plan.sbom {
                SbomFormat::Spdx => docs.push((media::SPDX, spdx::document(&graph, &facts)?)),
                SbomFormat::CycloneDx => {
                    docs.push((media::CYCLONEDX, cyclonedx::document(&graph, &facts)?))
                }
                SbomFormat::None => {}
            }
            if plan.provenance {
                let base = base_of(&image.manifest);
                let mut versions = facts.tools.clone();
                versions.extend(cargo.clone());
                let facts = Facts {
                    tools: versions,
                    ..facts
                };
                let mut run = provenance::Run {
                    command,
                    settings: settings(plan, img),
                    route: json!(route.map(|r| r.to_string())),
                    source: img.described.source.as_deref(),
                    revision: img.described.revision.as_deref(),
                    base: base.as_ref().map(|(n, d)| (n.as_str(), d.as_str())),
                    repository: &img.repository,
                    started: String::new(),
                    finished: String::new(),
                };
                // The same image built the same way again keeps its first statement.
                // The key leaves out the times and the command line (which also carries what
                // does not change the image: `-q`, `--message-format`, `--image-refs`, …);
                // the settings that do are recorded apart and stay in it.
                run.command = &[];
                let timeless = provenance::statement(&facts, &run)?;
                run.command = command;
                run.started = started.clone();
                run.finished = finished.clone();
                let statement = provenance::statement(&facts, &run)?;
                let statement = kept::same_or_new(&kept_dir, &timeless, statement);
                docs.push((media::IN_TOTO, statement));
            }
            for (media_type, bytes) in docs {
                let document = Document::new(media_type, bytes);
                let annotations: BTreeMap<String, String> =
                    [(annotation::CREATED.to_string(), created.clone())].into();
                let manifest = document::artifact_manifest(
                    &document,
                    &image.manifest.descriptor,
                    &annotations,
                )?;
                attachments.push(Attachment {
                    platform: image.platform.clone(),
                    document,
                    manifest,
                });
            }
        }
        if let Some(dir) = &plan.sbom_dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("--sbom-dir: cannot create {}", dir.display()))?;
            for a in &attachments {
                let path = dir.join(file_name(&set.name, &a.platform, a.artifact_type()));
                crate::util::atomic::write(&path, &a.document.bytes)
                    .with_context(|| format!("--sbom-dir: cannot write {}", path.display()))?;
            }
        }
        ui.detail(
            "Attached",
            &format!(
                "{} documents to the manifests of {}",
                attachments.len(),
                set.name
            ),
        );
        set.attachments = attachments;
    }
    Ok(())
}
