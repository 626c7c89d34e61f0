//! Builds OCI layouts of a workspace's binaries with the library alone, and prints every event
//! the build reported, one JSON object a line:
//!
//! ```text
//! cargo run --example layout -- path/to/Cargo.toml out-dir [TARGET-TRIPLE …]
//! ```
//!
//! Each binary's layout goes to `out-dir/<bin>`; with no triple, the image is for this machine's
//! platform. The events arrive on a channel (a `Sender<Event>` is a `Listener`), so the build's
//! own threads never wait for the printing.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;

use cargo_imagebuild::{Event, Options, Outcome};

/// Builds every binary of `manifest` (`bins`: only these) into `out/<bin>`, for `targets` (none:
/// this machine's platform); gives what was built and every event, in order.
pub fn run(
    manifest: PathBuf,
    out: PathBuf,
    bins: Vec<String>,
    targets: Vec<String>,
) -> anyhow::Result<(Outcome, Vec<Event>)> {
    let mut opts = Options::default();
    opts.manifest_path = Some(manifest);
    opts.workspace = true;
    opts.bins = bins;
    opts.targets = targets;
    opts.outputs = vec![format!("type=oci,dest={}/{{bin}}", out.display())];
    let (tx, rx) = mpsc::channel::<Event>();
    let outcome = cargo_imagebuild::build(&opts, tx)?;
    // The build has returned, and with it the reporter that held the sender: the channel ends.
    Ok((outcome, rx.into_iter().collect()))
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(manifest), Some(out)) = (args.next(), args.next()) else {
        eprintln!("usage: layout CARGO_TOML OUT_DIR [TARGET-TRIPLE …]");
        return ExitCode::from(2);
    };
    match run(manifest.into(), out.into(), Vec::new(), args.collect()) {
        Ok((outcome, events)) => {
            for e in &events {
                println!("{}", serde_json::to_string(e).unwrap_or_default());
            }
            for built in &outcome.images {
                println!("{} {}", built.name(), built.index_digest());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
