//! The `cargo-imagebuild` binary: accepts both `cargo imagebuild …` (cargo passes `imagebuild`
//! as the first argument) and `cargo-imagebuild …`, parses the arguments, calls the library once
//! ([`cargo_imagebuild::run::build`], or `dry_run`, or `doctor`), prints the results on stdout
//! (the digests, or for a push the pushed references) and maps errors to a message and a
//! non-zero exit.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use cargo_imagebuild::cli::{CargoCli, ImagebuildArgs, ImagebuildCommand};
use cargo_imagebuild::util::ui::Ui;
use cargo_imagebuild::{doctor, run};

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).map(|a| a != "imagebuild").unwrap_or(true) {
        args.insert(1.min(args.len()), "imagebuild".into());
    }
    let CargoCli::Imagebuild(cli) = CargoCli::parse_from(args);
    match main_with(cli) {
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

fn main_with(mut cli: ImagebuildArgs) -> Result<ExitCode> {
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
    if opts.dry_run {
        print!("{}", run::dry_run(&opts, &ui)?);
        return Ok(ExitCode::SUCCESS);
    }
    let outcome = run::build(&opts, &ui)?;
    let mut out = std::io::stdout().lock();
    for built in &outcome.images {
        if outcome.pushed {
            // stdout carries only what was pushed, by digest, for scripts to pin.
            writeln!(out, "{}", built.reference())?;
        } else {
            let set = &built.set;
            writeln!(out, "{} {}", set.name, set.index.descriptor.digest)?;
            for img in &set.images {
                writeln!(out, "  {} {}", img.platform, img.manifest.descriptor.digest)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
