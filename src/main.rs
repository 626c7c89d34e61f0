//! The `cargo-imagebuild` binary: accepts both `cargo imagebuild …` (cargo passes `imagebuild`
//! as the first argument) and `cargo-imagebuild …`, parses, plans, builds, writes each output,
//! prints the digests on stdout, and maps errors to a message and a non-zero exit.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use cargo_imagebuild::cli::CargoCli;
use cargo_imagebuild::output::OutputSpec;
use cargo_imagebuild::store::BlobStore;
use cargo_imagebuild::ui::Ui;
use cargo_imagebuild::{build, plan, sink};

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).map(|a| a != "imagebuild").unwrap_or(true) {
        args.insert(1.min(args.len()), "imagebuild".into());
    }
    let CargoCli::Imagebuild(cli) = CargoCli::parse_from(args);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
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

fn run(cli: cargo_imagebuild::cli::ImagebuildArgs) -> Result<()> {
    let opts = cli.into_options()?;
    let ui = Ui::new(opts.verbosity);
    let plan = plan::plan(&opts, &ui)?;
    if opts.dry_run {
        print!("{plan}");
        return Ok(());
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
    let mut out = std::io::stdout().lock();
    for set in &sets {
        for s in sink::for_outputs(&plan.outputs, &set.name) {
            let report = s.write(set, &store)?;
            ui.status("Wrote", &format!("{} ({})", report.destination, set.name));
            for note in &report.notes {
                ui.status("Note", note);
            }
        }
        writeln!(out, "{} {}", set.name, set.index.descriptor.digest)?;
        for img in &set.images {
            writeln!(out, "  {} {}", img.platform, img.manifest.descriptor.digest)?;
        }
    }
    Ok(())
}
