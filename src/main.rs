//! The `cargo-imagebuild` binary: accepts both `cargo imagebuild …` (cargo passes `imagebuild`
//! as the first argument) and `cargo-imagebuild …`, parses, plans, builds, writes each output,
//! prints the digests on stdout, and maps errors to a message and a non-zero exit. `doctor`
//! prints its table and fails when a needed piece is missing.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use cargo_imagebuild::cli::{CargoCli, ImagebuildCommand};
use cargo_imagebuild::ui::Ui;
use cargo_imagebuild::{build, doctor, plan, sink};

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
    let sets = build::build(&plan, &ui)?;
    let store = cargo_imagebuild::store::BlobStore::open(plan.store_dir())?;
    let mut out = std::io::stdout().lock();
    for set in &sets {
        for s in sink::for_outputs(&plan.outputs, &set.name) {
            let report = s.write(set, &store)?;
            ui.status("Wrote", &format!("{} ({})", report.destination, set.name));
        }
        writeln!(out, "{} {}", set.name, set.index.descriptor.digest)?;
        for img in &set.images {
            writeln!(out, "  {} {}", img.platform, img.manifest.descriptor.digest)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
