//! The `cargo-imagebuild` binary: accepts both `cargo imagebuild …` (cargo passes `imagebuild`
//! as the first argument) and `cargo-imagebuild …`. [`cli`] parses the arguments (clap) into the
//! library's options, one library call does the work ([`cargo_imagebuild::build`], `plan`,
//! `merge`, or a subcommand of [`cargo_imagebuild::commands`]), [`terminal`] shows its events
//! as they come, [`render`] prints the results (stdout: the digests, or for a push the pushed
//! references; stderr: the summary), and errors become a message and a non-zero exit.

mod cli;
mod render;
mod terminal;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use clap::Parser;

use cargo_imagebuild::commands::{self, doctor};
use cargo_imagebuild::Outcome;
use cli::{CargoCli, DoctorArgs, ImagebuildArgs, ImagebuildCommand, ResolveArgs, SbomArgs};
use terminal::{MessageFormat, Progress, Terminal, Verbosity};

fn main() -> ExitCode {
    if let Some(code) = cargo_imagebuild::run_as_rustc_wrapper() {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    cargo_imagebuild::remove_temporaries_on_signal();
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).map(|a| a != "imagebuild").unwrap_or(true) {
        args.insert(1.min(args.len()), "imagebuild".into());
    }
    let CargoCli::Imagebuild(cli) = CargoCli::parse_from(args);
    match main_with(cli) {
        Ok(code) => code,
        Err(e) => {
            // An error caused by a signal's cleanup: the handler's exit (130) is the answer.
            cargo_imagebuild::wait_if_exiting();
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
    print!("{}", render::checks(&checks));
    print!("{}", render::fixes(&checks));
    let mut failed_fix = false;
    if fix {
        let steps = doctor::fix_steps(&checks);
        if steps.is_empty() {
            println!("\n--fix: nothing needed is missing; nothing to run.");
        } else {
            std::io::stdout().flush()?;
            if !confirm(yes)? {
                eprintln!("nothing was run");
                return Ok(ExitCode::FAILURE);
            }
            if let Err(e) = doctor::apply(&steps) {
                eprintln!("error: {e:#}");
                failed_fix = true;
            }
            checks = doctor::run(&opts)?;
            println!("\nAfter the fixes:");
            print!("{}", render::checks(&checks));
            print!("{}", render::fixes(&checks));
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

/// Whether to run the fixes: yes with `--yes`; on a terminal, the user's answer; else a refusal.
fn confirm(yes: bool) -> Result<bool> {
    use std::io::{BufRead, IsTerminal};
    if yes {
        return Ok(true);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!(
            "doctor --fix runs the commands above, and stdin is not a terminal to ask on: \
             nothing was run; add --yes to run them"
        );
    }
    let mut err = std::io::stderr();
    write!(err, "Run these? [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// `sbom REF`: what is attached to each platform, on stdout.
fn sbom_main(args: SbomArgs) -> Result<ExitCode> {
    let terminal = Arc::new(Terminal::new(Verbosity::Normal));
    let found = commands::sbom::attached(&args.into_options(), terminal)?;
    print!("{}", render::attached(&found));
    Ok(ExitCode::SUCCESS)
}

fn main_with(mut cli: ImagebuildArgs) -> Result<ExitCode> {
    match cli.command.take() {
        Some(ImagebuildCommand::Doctor(args)) => return doctor_main(args),
        Some(ImagebuildCommand::Clean(args)) => {
            let removed = commands::clean::clean(
                args.manifest_path.as_deref(),
                &cargo_imagebuild::Environment::from_process(),
            )?;
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
        Some(ImagebuildCommand::Verify(args)) => {
            let terminal = Arc::new(Terminal::new(Verbosity::Normal));
            let verified = commands::verify::verify(&args.into_options(), terminal)?;
            for v in &verified {
                println!(
                    "Verified {} {} ({}, signed for {})",
                    v.subject, v.digest, v.signature_tag, v.reference
                );
                for a in &v.attestations {
                    println!("Verified {} attestation {a}", v.subject);
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        Some(ImagebuildCommand::Merge(args)) => {
            let terminal = Arc::new(Terminal::with(
                Verbosity::from_flags(args.quiet, args.verbose),
                Progress::Auto,
                args.message_format,
            ));
            let started = std::time::Instant::now();
            let outcome = cargo_imagebuild::merge(&args.into_options()?, terminal.clone())?;
            report(&outcome, &terminal, started)?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(ImagebuildCommand::Platforms(args)) => {
            let rows = commands::platforms::platforms(
                &args.cargo_config,
                &cargo_imagebuild::Environment::from_process(),
            )?;
            print!("{}", render::platforms(&rows));
            return Ok(ExitCode::SUCCESS);
        }
        Some(ImagebuildCommand::Resolve(args)) => return resolve_main(args),
        Some(ImagebuildCommand::Run(args)) => {
            use std::io::IsTerminal;
            let terminal = Arc::new(Terminal::new(args.verbosity()));
            let opts = args.into_options(
                std::io::stdin().is_terminal(),
                std::io::stdout().is_terminal(),
            );
            let loaded = commands::run::load(&opts, terminal.clone())?;
            // The live display ends before the container takes the terminal.
            terminal.finish();
            let code = loaded.run()?;
            // Exit codes are 0-255; anything else is reported as a failure.
            return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
        }
        Some(ImagebuildCommand::Init(args)) => {
            let written = commands::init::init(&args.into_options())?;
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
    let view = cli.view();
    let used = cli::variables_in_use(&cli, &cargo_imagebuild::Environment::from_process());
    let named = |e| cli::name_the_variable(e, &used);
    let opts = cli.into_options()?;
    let terminal = Arc::new(Terminal::with(view.verbosity, view.progress, view.format));
    if view.dry_run {
        let plan = cargo_imagebuild::plan(&opts, terminal.clone()).map_err(named)?;
        if view.format == MessageFormat::Json {
            println!(
                "{}",
                serde_json::json!({ "reason": "plan", "plan": plan.to_json() })
            );
        } else {
            print!("{plan}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let started = std::time::Instant::now();
    let outcome = cargo_imagebuild::build(&opts, terminal.clone()).map_err(named)?;
    report(&outcome, &terminal, started)?;
    Ok(ExitCode::SUCCESS)
}

/// `resolve -f …`: the inputs read (`-` is standard input), resolved, and printed on stdout
/// only once every reference has its digest; the build's summary goes to stderr.
fn resolve_main(args: ResolveArgs) -> Result<ExitCode> {
    use std::io::Read;
    let verbosity = args.verbosity();
    let files = args.files.clone();
    let opts = args.into_options()?;
    let mut sources = Vec::new();
    for f in &files {
        if f.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| {
                anyhow::anyhow!("-f -: cannot read standard input as UTF-8 text: {e}")
            })?;
            sources.push(commands::resolve::Source {
                name: "-".into(),
                text,
            });
        } else {
            sources.extend(commands::resolve::read_sources(f)?);
        }
    }
    let terminal = Arc::new(Terminal::with(
        verbosity,
        Progress::Auto,
        MessageFormat::Human,
    ));
    let started = std::time::Instant::now();
    let resolved = commands::resolve::resolve(&opts, &sources, terminal.clone())?;
    match &resolved.outcome {
        Some(outcome) => summarize(outcome, &terminal, started),
        None => terminal.finish(),
    }
    if verbosity > Verbosity::Quiet {
        if resolved.pinned.is_empty() {
            terminal
                .warn("the inputs hold no imagebuild:// reference: they are printed as they are");
        }
        for (written, pinned) in &resolved.pinned {
            terminal.status("Resolved", &format!("{written} to {pinned}"));
        }
    }
    let mut out = std::io::stdout().lock();
    out.write_all(resolved.text().as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The summary for people on stderr: the table, the time per stage, hidden warnings.
fn summarize(outcome: &Outcome, terminal: &Terminal, started: std::time::Instant) {
    terminal.finish();
    if terminal.verbosity > Verbosity::Quiet {
        // The summary table, then the time per stage, for people (stderr).
        let table = render::summary(outcome, &terminal.times(), started.elapsed());
        terminal.block(&format!("\n{table}"));
        let hidden = terminal.hidden_warnings();
        if hidden > 0 {
            terminal.warn(&format!(
                "cargo reported {hidden} warning{}; run with -v to see {}",
                if hidden == 1 { "" } else { "s" },
                if hidden == 1 { "it" } else { "them" }
            ));
        }
    }
}

/// The summary for people on stderr, then the results on stdout: JSON result objects, the
/// pushed references by digest, or each binary's index and manifest digests.
fn report(outcome: &Outcome, terminal: &Terminal, started: std::time::Instant) -> Result<()> {
    let json = terminal.format == MessageFormat::Json;
    summarize(outcome, terminal, started);
    let mut out = std::io::stdout().lock();
    for built in &outcome.images {
        if json {
            writeln!(out, "{}", render::result_json(built, outcome.pushed))?;
        } else if outcome.pushed {
            // stdout carries only what was pushed, by digest, for scripts to pin.
            writeln!(out, "{}", built.reference())?;
        } else {
            writeln!(out, "{} {}", built.name(), built.index_digest())?;
            for img in built.images() {
                writeln!(out, "  {} {}", img.platform, img.digest)?;
            }
        }
    }
    Ok(())
}
