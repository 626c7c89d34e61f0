//! The `cargo-imagebuild` binary: accepts both `cargo imagebuild …` (cargo passes `imagebuild`
//! as the first argument) and `cargo-imagebuild …`, parses the arguments, calls the library once
//! ([`cargo_imagebuild::run::build`], or `dry_run`, or `doctor`, or `sbom`), prints the results on stdout
//! (the digests, or for a push the pushed references) and maps errors to a message and a
//! non-zero exit.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use cargo_imagebuild::cli::{CargoCli, DoctorArgs, ImagebuildArgs, ImagebuildCommand, SbomArgs};
use cargo_imagebuild::util::ui::{MessageFormat, Progress, Ui, Verbosity};
use cargo_imagebuild::{doctor, run};

fn main() -> ExitCode {
    cargo_imagebuild::util::temp::remove_on_signal();
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).map(|a| a != "imagebuild").unwrap_or(true) {
        args.insert(1.min(args.len()), "imagebuild".into());
    }
    let CargoCli::Imagebuild(cli) = CargoCli::parse_from(args);
    match main_with(cli) {
        Ok(code) => code,
        Err(e) => {
            // An error caused by a signal's cleanup: the handler's exit (130) is the answer.
            cargo_imagebuild::util::temp::wait_if_exiting();
            let mut msg = format!("error: {e}");
            for cause in e.chain().skip(1) {
                msg.push_str(&format!("\n  caused by: {cause}"));
            }
            let _ = writeln!(std::io::stderr(), "{msg}");
            ExitCode::FAILURE
        }
    }
}

/// `doctor`: the table and the grouped fixes; with `--fix`, runs them (asking first unless
/// `--yes`) and checks again. The exit code is that of the last check.
fn doctor_main(args: DoctorArgs) -> Result<ExitCode> {
    let (fix, yes) = (args.fix, args.yes);
    let opts = args.into_options();
    let mut checks = doctor::run(&opts)?;
    print!("{}", doctor::render(&checks));
    print!("{}", doctor::render_fixes(&checks));
    let mut failed_fix = false;
    if fix {
        let steps = doctor::fix_steps(&checks);
        if steps.is_empty() {
            println!("\n--fix: nothing needed is missing; nothing to run.");
        } else {
            std::io::stdout().flush()?;
            if !doctor::confirm(yes)? {
                eprintln!("nothing was run");
                return Ok(ExitCode::FAILURE);
            }
            if let Err(e) = doctor::apply(&steps) {
                eprintln!("error: {e:#}");
                failed_fix = true;
            }
            checks = doctor::run(&opts)?;
            println!("\nAfter the fixes:");
            print!("{}", doctor::render(&checks));
            print!("{}", doctor::render_fixes(&checks));
        }
    }
    Ok(match doctor::missing(&checks) {
        0 if !failed_fix => ExitCode::SUCCESS,
        0 => ExitCode::FAILURE,
        n => {
            eprintln!(
                "error: {n} needed piece{} missing for the platforms asked: run the commands under \"To fix\"{}",
                if n == 1 { " is" } else { "s are" },
                if fix { "" } else { " (or add --fix)" }
            );
            ExitCode::FAILURE
        }
    })
}

/// `sbom REF`: what is attached to each platform, on stdout.
fn sbom_main(args: SbomArgs) -> Result<ExitCode> {
    let ui = Ui::new(cargo_imagebuild::util::ui::Verbosity::Normal);
    let found = run::attached(
        args.reference.as_deref(),
        args.manifest_path.as_deref(),
        &args.registry(),
        args.out.as_deref(),
        &ui,
    )?;
    print!("{}", run::describe_attached(&found));
    Ok(ExitCode::SUCCESS)
}

fn main_with(mut cli: ImagebuildArgs) -> Result<ExitCode> {
    match cli.command.take() {
        Some(ImagebuildCommand::Doctor(args)) => return doctor_main(args),
        Some(ImagebuildCommand::Clean(args)) => {
            let removed = run::clean(args.manifest_path.as_deref())?;
            if !args.quiet {
                if removed.is_empty() {
                    eprintln!("     Cleaned nothing: no cache of cargo-imagebuild was there");
                }
                for (dir, bytes) in removed {
                    eprintln!("     Removed {} ({} MiB)", dir.display(), bytes >> 20);
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        Some(ImagebuildCommand::Sbom(args)) => return sbom_main(args),
        Some(ImagebuildCommand::Merge(args)) => {
            let opts = args.into_options();
            let ui = Ui::with(opts.verbosity, Progress::Auto, opts.message_format);
            let started = std::time::Instant::now();
            let outcome = run::merge(&opts, &ui)?;
            report(&outcome, &ui, started)?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(ImagebuildCommand::Platforms(args)) => {
            print!("{}", doctor::platforms(&args.cargo_config)?);
            return Ok(ExitCode::SUCCESS);
        }
        Some(ImagebuildCommand::Init(args)) => {
            let written = cargo_imagebuild::init::init(&args.into_options())?;
            for f in &written.files {
                eprintln!("{:>12} {}", "Wrote", f.display());
            }
            eprintln!(
                "{:>12} edit [{}] as you need, then run `cargo imagebuild`",
                "Next", written.table
            );
            return Ok(ExitCode::SUCCESS);
        }
        None => {}
    }
    let opts = cli.into_options()?;
    let ui = Ui::with(opts.verbosity, opts.progress, opts.message_format);
    let json = opts.message_format == MessageFormat::Json;
    if opts.dry_run {
        if json {
            let (plan, _) = run::prepare(&opts, &ui)?;
            println!("{}", serde_json::json!({ "reason": "plan", "plan": plan }));
        } else {
            print!("{}", run::dry_run(&opts, &ui)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let started = std::time::Instant::now();
    let outcome = run::build(&opts, &ui)?;
    report(&outcome, &ui, started)?;
    Ok(ExitCode::SUCCESS)
}

/// The summary for people on stderr, then the results on stdout: JSON result objects, the
/// pushed references by digest, or each binary's index and manifest digests.
fn report(outcome: &run::Outcome, ui: &Ui, started: std::time::Instant) -> Result<()> {
    let json = ui.format == MessageFormat::Json;
    ui.finish();
    if ui.verbosity > Verbosity::Quiet {
        // The summary table, then the time per stage, for people (stderr).
        let table = run::summary(outcome, &ui.times(), started.elapsed());
        ui.block(&format!("\n{table}"));
        let hidden = ui.hidden_warnings();
        if hidden > 0 {
            ui.warn(&format!(
                "cargo reported {hidden} warning{}; run with -v to see {}",
                if hidden == 1 { "" } else { "s" },
                if hidden == 1 { "it" } else { "them" }
            ));
        }
    }
    let mut out = std::io::stdout().lock();
    for built in &outcome.images {
        if json {
            writeln!(out, "{}", run::result_json(built, outcome.pushed))?;
        } else if outcome.pushed {
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
    Ok(())
}
