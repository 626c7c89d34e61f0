//! The `cargo-imagebuild` binary: accepts both `cargo imagebuild …` (cargo passes `imagebuild`
//! as the first argument) and `cargo-imagebuild …`, parses, plans, builds, writes each output,
//! prints the digests (or, for a push, the pushed references) on stdout, and maps errors to a
//! message and a non-zero exit. `doctor` prints its table and fails when a needed piece is
//! missing.

use std::io::Write;
use std::process::ExitCode;

use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;

use cargo_imagebuild::cli::{CargoCli, ImagebuildCommand};
use cargo_imagebuild::model::ImageSet;
use cargo_imagebuild::output::OutputSpec;
use cargo_imagebuild::registry::Connector;
use cargo_imagebuild::store::BlobStore;
use cargo_imagebuild::ui::Ui;
use cargo_imagebuild::{build, cache, doctor, plan, sink};

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).map(|a| a != "imagebuild").unwrap_or(true) {
        args.insert(1.min(args.len()), "imagebuild".into());
    }
    let CargoCli::Imagebuild(cli) = CargoCli::parse_from(args);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let mut msg = format!("error: {e}");
            for cause in e.chain().skip(1) {
                msg.push_str(&format!("\n  caused by: {cause}"));
            }
            let _ = writeln!(std::io::stderr(), "{msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(mut cli: cargo_imagebuild::cli::ImagebuildArgs) -> Result<ExitCode> {
    if let Some(ImagebuildCommand::Doctor(args)) = cli.command.take() {
        let checks = doctor::run(&args.into_options())?;
        print!("{}", doctor::render(&checks));
        return Ok(match doctor::missing(&checks) {
            0 => ExitCode::SUCCESS,
            n => {
                eprintln!(
                    "error: {n} needed piece{} missing: run the fix shown for each MISSING row",
                    if n == 1 { " is" } else { "s are" }
                );
                ExitCode::FAILURE
            }
        });
    }
    let opts = cli.into_options()?;
    let ui = Ui::new(opts.verbosity);
    let plan = plan::plan(&opts, &ui)?;
    if opts.dry_run {
        print!("{plan}");
        return Ok(ExitCode::SUCCESS);
    }
    ui.detail("Plan", &format!("\n{plan}"));
    sink::load::preflight(&plan)?;
    // Only `type=cacheonly`: the blobs live in a temporary store, removed when this returns.
    let scratch = if OutputSpec::writes_nothing(&plan.outputs) {
        Some(
            tempfile::Builder::new()
                .prefix("cargo-imagebuild-cacheonly-")
                .tempdir()
                .context("creating a temporary blob store for type=cacheonly")?,
        )
    } else {
        None
    };
    let store = BlobStore::open(match &scratch {
        Some(dir) => dir.path().to_path_buf(),
        None => plan.store_dir(),
    })?;
    let sets = build::build_into(&plan, &ui, &store)?;
    let registry = Arc::new(Connector::new(&plan.registry, &ui));
    let mut out = std::io::stdout().lock();
    let mut pushed = Vec::new();
    for set in &sets {
        let sinks = sink::for_outputs(&plan.outputs, &set.name, &registry);
        if set.has_remote_layers() && sinks.iter().any(|s| s.needs_local_blobs()) {
            cache::fetch_base_blobs(set, &store, &*registry.get()?, &ui)?;
        }
        for s in sinks {
            let report = s.write(set, &store)?;
            let verb = if s.needs_local_blobs() {
                "Wrote"
            } else {
                "Pushed"
            };
            ui.status(verb, &format!("{} ({})", report.destination, set.name));
            for note in &report.notes {
                ui.status("Note", note);
            }
        }
        if plan.pushes() {
            // stdout carries only what was pushed, by digest, for scripts to pin.
            let reference = format!("{}@{}", set.repository, set.index.descriptor.digest);
            writeln!(out, "{reference}")?;
            pushed.push((set, reference));
        } else {
            writeln!(out, "{} {}", set.name, set.index.descriptor.digest)?;
            for img in &set.images {
                writeln!(out, "  {} {}", img.platform, img.manifest.descriptor.digest)?;
            }
        }
    }
    if let Some(path) = &plan.image_refs {
        let text: String = pushed.iter().map(|(_, r)| format!("{r}\n")).collect();
        write_whole(path, text.as_bytes(), "--image-refs")?;
    }
    if let Some(path) = &plan.metadata_file {
        write_whole(path, &push_metadata(&pushed)?, "--metadata-file")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The `--metadata-file` JSON: per binary, the index digest, each platform's manifest digest
/// and the tags, plus buildx's `containerimage.digest` and `image.name` keys.
fn push_metadata(pushed: &[(&ImageSet, String)]) -> Result<Vec<u8>> {
    let mut all = serde_json::Map::new();
    for (set, reference) in pushed {
        let tags: Vec<String> = set
            .tags
            .iter()
            .map(|t| format!("{}:{t}", set.repository))
            .collect();
        let manifests: serde_json::Map<String, serde_json::Value> = set
            .images
            .iter()
            .map(|i| {
                (
                    i.platform.to_string(),
                    serde_json::json!(i.manifest.descriptor.digest.as_str()),
                )
            })
            .collect();
        all.insert(
            set.name.clone(),
            serde_json::json!({
                "repository": set.repository,
                "reference": reference,
                "digest": set.index.descriptor.digest.as_str(),
                "manifests": manifests,
                "tags": tags,
                "containerimage.digest": set.index.descriptor.digest.as_str(),
                "image.name": tags.join(","),
            }),
        );
    }
    Ok(serde_json::to_vec_pretty(&serde_json::Value::Object(all))?)
}

/// Writes `bytes` to `path` through a temporary file renamed into place.
fn write_whole(path: &std::path::Path, bytes: &[u8], flag: &str) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).with_context(|| {
        format!(
            "{flag} {}: cannot write in {}",
            path.display(),
            dir.display()
        )
    })?;
    tmp.write_all(bytes)?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("{flag} {}: cannot write it", path.display()))?;
    Ok(())
}
