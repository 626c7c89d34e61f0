//! One build, start to finish, as a library call: [`build`] takes the [`Options`] and gives an
//! [`Outcome`]. In order, each step its own function in its own stage:
//!
//! 1. [`plan::plan`] reads the workspace and decides (pure; asks the registry nothing itself:
//!    `--platform all` is answered through [`RegistryLookup`]);
//! 2. [`install_targets`] installs missing standard libraries (`rustup target add`);
//! 3. [`route::plan_routes`] decides how each target is built, after probing the tools here; when
//!    zig is all a target lacks, [`zig::provision`] downloads the pinned one and routes are
//!    decided again;
//! 4. [`sink::load::preflight`] asks each `--load` daemon what it runs, before compiling;
//! 5. [`build_into`] compiles, checks and packs, and assembles one [`ImageSet`] per binary;
//!    [`attest::attach`] attaches an SBOM and provenance to each platform's manifest;
//! 6. each output's sink ([`sink::destinations::for_outputs`]) writes every set; a push's references and
//!    summary go to `--image-refs` and `--metadata-file`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::build::attest;
use crate::build::base::RegistryLookup;
use crate::build::base_blobs::fetch_base_blobs;
use crate::build::build_into;
use crate::build::toolchain::install_targets;
use crate::build::zig;
use crate::image::model::{ImageSet, Layer};
use crate::image::platform::Platform;
use crate::image::store::BlobStore;
use crate::plan::options::{MergeOptions, Options};
use crate::plan::output::OutputSpec;
use crate::plan::{self, Plan};
use crate::registry::Connector;
use crate::route::{self, tools::Tools, Routes};
use crate::sink::push::EarlyUploads;
use crate::sink::{self, Report};
use crate::util::atomic;
use crate::util::ui::{human_size, Event, Ui};

/// What a build made and where it went.
#[derive(Debug)]
pub struct Outcome {
    /// One entry per binary, in plan order.
    pub images: Vec<Built>,
    /// Whether some output pushed (stdout then carries references by digest).
    pub pushed: bool,
}

/// One binary's images and what each destination reported.
#[derive(Debug)]
pub struct Built {
    pub set: ImageSet,
    pub reports: Vec<Report>,
}

impl Built {
    /// `REPOSITORY@INDEX-DIGEST`: the pushed reference, by digest.
    pub fn reference(&self) -> String {
        format!(
            "{}@{}",
            self.set.repository, self.set.index.descriptor.digest
        )
    }
}

/// The plan and the route of each of its targets: all that a dry run prints.
pub fn prepare(opts: &Options, ui: &Ui) -> Result<(Plan, Routes)> {
    prepare_with(opts, &Connector::new(&opts.registry, ui), ui)
}

/// [`prepare`], asking registries through the run's client.
fn prepare_with(opts: &Options, registry: &Connector, ui: &Ui) -> Result<(Plan, Routes)> {
    let lookup = RegistryLookup::new(registry);
    let mut plan = plan::plan(opts, &lookup)?;
    for note in plan.images.iter().flat_map(|i| &i.notes) {
        ui.warn(note);
    }
    if !opts.dry_run {
        install_targets(&mut plan, ui)?;
    }
    let tools = Tools::detect(Some(plan.toolchain.host())).with_provisioned_zig(zig::cached());
    let mut routes = route::plan_routes(&plan, &tools)?;
    let missing = routes.missing_zig();
    if !missing.is_empty() && !opts.dry_run && tools.zig().is_none() {
        // zig is the one thing missing: fetch the pinned one into the cache and decide again.
        let offline = opts.offline || zig::offline_from_env();
        let why = format!("to compile C for {}", missing.join(", "));
        let zig = zig::provision(offline, &why, ui).map_err(|e| match routes.all() {
            // Say first what cannot be built, then why zig could not be had.
            Err(unbuildable) => e.context(unbuildable.to_string()),
            Ok(_) => e,
        })?;
        routes = route::plan_routes(
            &plan,
            &Tools::detect(Some(plan.toolchain.host())).with_provisioned_zig(Some(zig)),
        )?;
    }
    Ok((plan, routes))
}

/// The plan of `opts` as `--dry-run` prints it: images, targets, routes and outputs.
pub fn dry_run(opts: &Options, ui: &Ui) -> Result<String> {
    let (plan, routes) = prepare(opts, ui)?;
    Ok(describe(&plan, &routes))
}

fn describe(plan: &Plan, routes: &Routes) -> String {
    format!("{plan}{}", routes.describe(plan))
}

/// Builds every image `opts` asks for and writes each to every output.
pub fn build(opts: &Options, ui: &Ui) -> Result<Outcome> {
    let begun = std::time::SystemTime::now();
    // A bad bound is refused before anything is built.
    crate::build::base_blobs::cache_limit(None)?;
    // The run's one registry client: bases, `--platform all` and pushes share its connections
    // and tokens.
    let registry = Arc::new(Connector::new(&opts.registry, ui));
    let (plan, routes) = prepare_with(opts, &registry, ui)?;
    ui.detail("Plan", &format!("\n{}", describe(&plan, &routes)));
    ui.emit(Event::Plan {
        plan: serde_json::to_value(&plan)?,
    });
    // Refuse before compiling anything when a target has no way to be built.
    let routes = routes.all()?;
    for (triple, route) in &routes {
        for lib in &route.system_libs {
            ui.warn(&format!(
                "{triple}: the dependency graph links the system's {lib}; the target has no \
                 such library unless your base provides it, so enable that feature"
            ));
        }
    }
    let planned: Vec<Vec<Platform>> = plan
        .images
        .iter()
        .map(|i| i.targets.iter().map(|t| t.platform.clone()).collect())
        .collect();
    sink::load::preflight(&plan.outputs, &planned)?;
    // Every output, `type=cacheonly` too, packs through the one layer cache in the target dir.
    let store = BlobStore::open(plan.store_dir())?;
    // A push uploads each layer as soon as it is packed, while cargo compiles the rest.
    let early = plan.pushes().then(|| {
        let repositories = plan.images.iter().map(|i| i.repository.clone()).collect();
        EarlyUploads::new(&registry, repositories, &store)
    });
    let on_packed = |holders: &[usize], layer: &Layer| {
        if let Some(e) = &early {
            e.packed(holders, layer);
        }
    };
    // (On failure the uploads under way stop with the registry's runtime.)
    let mut sets = build_into(&plan, &routes, ui, &store, &registry, &on_packed)?;
    if let Some(e) = &early {
        e.wait();
    }
    attest::attach(&plan, &routes, &mut sets, begun, ui)?;
    let mut images = Vec::new();
    for set in sets {
        images.push(deliver(set, &plan.outputs, &registry, &store, ui)?);
    }
    let outcome = Outcome {
        images,
        pushed: plan.pushes(),
    };
    write_push_files(&plan.image_refs, &plan.metadata_file, &outcome)?;
    crate::build::base_blobs::trim_caches(&store, begun, plan.cache_limit, ui)?;
    Ok(outcome)
}

/// Writes `set` to every output (fetching a base's layers first when an output needs them all
/// on disk) and reports each write.
fn deliver(
    set: ImageSet,
    outputs: &[OutputSpec],
    registry: &Arc<Connector>,
    store: &BlobStore,
    ui: &Ui,
) -> Result<Built> {
    let sinks = sink::destinations::for_outputs(outputs, &set.name, registry);
    if set.has_remote_layers() && sinks.iter().any(|s| s.needs_local_blobs()) {
        fetch_base_blobs(&set, store, &*registry.get()?, ui)?;
    }
    let mut reports = Vec::new();
    for s in sinks {
        let started = std::time::Instant::now();
        let report = s.write(&set, store)?;
        ui.emit(Event::ImageWritten {
            bin: set.name.clone(),
            destination: report.destination.clone(),
            pushed: !s.needs_local_blobs(),
            index_digest: set.index.descriptor.digest.to_string(),
            seconds: started.elapsed().as_secs_f64(),
        });
        for note in &report.notes {
            ui.status("Note", note);
        }
        reports.push(report);
    }
    Ok(Built { set, reports })
}

/// `cargo imagebuild clean`: removes the workspace's internal files (the blob store, pack
/// records, gzip copies, generated scripts: `<target-dir>/imagebuild/.work`) and the base-layer
/// cache. Returns each directory removed with the bytes it held.
pub fn clean(manifest_path: Option<&std::path::Path>) -> Result<Vec<(std::path::PathBuf, u64)>> {
    let mut cmd = cargo_metadata::MetadataCommand::new();
    cmd.no_deps();
    if let Some(p) = manifest_path {
        cmd.manifest_path(p);
    }
    let meta = cmd
        .exec()
        .context("finding the workspace's target directory (cargo metadata)")?;
    let target = meta.target_directory.into_std_path_buf();
    let mut dirs = vec![crate::plan::paths::work_dir(&target)];
    if let Ok(cache) = crate::build::base_blobs::cache_dir() {
        dirs.push(cache.join("blobs"));
    }
    let mut removed = Vec::new();
    for d in dirs {
        if !d.exists() {
            continue;
        }
        let bytes = size_of_tree(&d);
        std::fs::remove_dir_all(&d).with_context(|| format!("removing {}", d.display()))?;
        removed.push((d, bytes));
    }
    Ok(removed)
}

fn size_of_tree(p: &std::path::Path) -> u64 {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::read_dir(p)
            .map(|es| es.flatten().map(|e| size_of_tree(&e.path())).sum())
            .unwrap_or(0),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

/// `cargo imagebuild merge`: one index from per-platform layouts (see
/// [`crate::image::merge`]), written to the outputs asked for. A push sends only the blobs the
/// registry lacks.
pub fn merge(opts: &MergeOptions, ui: &Ui) -> Result<Outcome> {
    let mut outputs = OutputSpec::resolve(&opts.outputs, false, None, None)?;
    if opts.push && !outputs.contains(&OutputSpec::Registry) {
        outputs.push(OutputSpec::Registry);
    }
    if outputs.is_empty() {
        anyhow::bail!(
            "merge needs somewhere to put the index: --push -t REF, or --output type=oci,dest=DIR"
        );
    }
    // The blob store of the merge: beside the first layout, so blobs are hard-linked, not copied.
    let beside = opts
        .dirs
        .first()
        .and_then(|d| d.parent())
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let scratch = crate::util::temp::Dir::new(Some(beside), "merge")
        .with_context(|| format!("creating a temporary blob store in {}", beside.display()))?;
    let store = BlobStore::open(scratch.path())?;
    let mut set = crate::image::merge::merge_layouts(&opts.dirs, &store)?;
    if !opts.tags.is_empty() {
        let (repository, tags) = crate::plan::naming::repository_and_tags(
            &set.name,
            Some(set.repository.clone()),
            &opts.tags,
            Vec::new(),
            false,
            outputs.contains(&OutputSpec::Registry),
        )?;
        set.name = repository
            .rsplit('/')
            .next()
            .unwrap_or(&repository)
            .to_string();
        set.repository = repository;
        set.tags = tags;
    }
    ui.status(
        "Merged",
        &format!(
            "{} platforms into {} ({})",
            set.images.len(),
            set.index.descriptor.digest,
            set.images
                .iter()
                .map(|i| i.platform.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let registry = Arc::new(Connector::new(&opts.registry, ui));
    let built = deliver(set, &outputs, &registry, &store, ui)?;
    Ok(Outcome {
        images: vec![built],
        pushed: outputs.contains(&OutputSpec::Registry),
    })
}

/// `--image-refs` (one pushed reference a line) and `--metadata-file` (JSON), when asked.
fn write_push_files(
    image_refs: &Option<PathBuf>,
    metadata_file: &Option<PathBuf>,
    outcome: &Outcome,
) -> Result<()> {
    if let Some(path) = image_refs {
        let text: String = outcome
            .images
            .iter()
            .map(|b| format!("{}\n", b.reference()))
            .collect();
        atomic::write(path, text.as_bytes())
            .with_context(|| format!("--image-refs {}: cannot write it", path.display()))?;
    }
    if let Some(path) = metadata_file {
        atomic::write(path, &push_metadata(&outcome.images)?)
            .with_context(|| format!("--metadata-file {}: cannot write it", path.display()))?;
    }
    Ok(())
}

/// The `--metadata-file` JSON: per binary, the index digest, each platform's manifest digest
/// and the tags, plus buildx's `containerimage.digest` and `image.name` keys.
pub fn push_metadata(pushed: &[Built]) -> Result<Vec<u8>> {
    let mut all = serde_json::Map::new();
    for b in pushed {
        let set = &b.set;
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
                "reference": b.reference(),
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

/// The bytes a platform's image takes in a registry: its config and compressed layers.
fn image_size(img: &crate::image::model::Image) -> u64 {
    img.config.descriptor.size + img.layers.iter().map(|l| l.blob.size).sum::<u64>()
}

/// Where a report says the images went, short enough for a table column: a push's
/// `REPO@DIGEST (counts)` becomes `REPO` (the digest has its own column).
fn short_destination(report: &Report) -> String {
    let d = report.destination.as_str();
    let d = d.split(" (").next().unwrap_or(d);
    d.split('@').next().unwrap_or(d).to_string()
}

/// The summary table for people: one row per binary and platform (size, manifest digest, where
/// it went), each binary's index digest, then the time per stage.
pub fn summary(
    outcome: &Outcome,
    times: &crate::util::events::StageTimes,
    total: std::time::Duration,
) -> String {
    let mut rows = vec![[
        "BINARY".to_string(),
        "PLATFORM".into(),
        "SIZE".into(),
        "DIGEST".into(),
        "DESTINATION".into(),
    ]];
    for b in &outcome.images {
        let dest: Vec<String> = b.reports.iter().map(short_destination).collect();
        rows.push([
            b.set.name.clone(),
            "(index)".into(),
            String::new(),
            b.set.index.descriptor.digest.to_string(),
            dest.join(", "),
        ]);
        for img in &b.set.images {
            rows.push([
                String::new(),
                img.platform.to_string(),
                human_size(image_size(img)),
                img.manifest.descriptor.digest.to_string(),
                String::new(),
            ]);
        }
    }
    let mut out = crate::util::ui::table(&rows);
    let mut line = times.line();
    if !line.is_empty() {
        line.push_str(", ");
    }
    out.push_str(&format!(
        "time: {line}total {:.1}s; {}\n",
        total.as_secs_f64(),
        crate::util::events::packed_counts(times.packed, times.reused)
    ));
    out
}

/// The `--message-format json` result of one binary: its references, the index and manifest
/// digests and sizes, and where it went.
pub fn result_json(b: &Built, pushed: bool) -> serde_json::Value {
    let set = &b.set;
    let manifests: Vec<serde_json::Value> = set
        .images
        .iter()
        .map(|img| {
            serde_json::json!({
                "platform": img.platform.to_string(),
                "target": img.triple,
                "digest": img.manifest.descriptor.digest.as_str(),
                "size": img.manifest.descriptor.size,
                "image_size": image_size(img),
            })
        })
        .collect();
    serde_json::json!({
        "reason": "image-result",
        "bin": set.name,
        "repository": set.repository,
        "reference": if pushed { Some(b.reference()) } else { None },
        "tags": set.tags.iter().map(|t| format!("{}:{t}", set.repository)).collect::<Vec<_>>(),
        "index_digest": set.index.descriptor.digest.as_str(),
        "index_size": set.index.descriptor.size,
        "manifests": manifests,
        "outputs": b.reports.iter().map(|r| r.destination.as_str()).collect::<Vec<_>>(),
    })
}

/// `cargo imagebuild sbom [REF]`: what is attached to each platform of an image, read back from
/// a registry (`REF` a reference) or a layout (`oci:DIR[:TAG]`); with no `REF`, from every
/// default layout of the workspace (`<target-dir>/imagebuild/<bin>`). Gives `(name, what is
/// attached)` per image. With `out`, each document is also written there, named as
/// `--sbom-dir` names them (the name is the layout's directory or the repository's last part).
pub fn attached(
    reference: Option<&str>,
    manifest_path: Option<&std::path::Path>,
    registry: &crate::registry::RegistryOptions,
    out: Option<&std::path::Path>,
    ui: &Ui,
) -> Result<Vec<(String, Vec<crate::registry::referrers::AttachedTo>)>> {
    let dir_name = |dir: &std::path::Path| {
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "image".into())
    };
    let mut found = Vec::new();
    match reference {
        None => {
            let opts = Options {
                manifest_path: manifest_path.map(std::path::Path::to_path_buf),
                ..Default::default()
            };
            let meta = plan::workspace::metadata(&opts)?;
            let root = meta.target_directory.as_std_path().join("imagebuild");
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("oci-layout").is_file())
                .collect();
            dirs.sort();
            if dirs.is_empty() {
                anyhow::bail!(
                    "no image in {}: build one first (cargo imagebuild), or name one: \
                     cargo imagebuild sbom REF",
                    root.display()
                );
            }
            for dir in dirs {
                found.push((dir_name(&dir), sink::layout::attached(&dir, None)?));
            }
        }
        Some(reference) => match reference.strip_prefix("oci:") {
            Some(rest) => {
                let (dir, tag) = match rest.rsplit_once(':') {
                    Some((d, t)) if !t.contains('/') && !d.is_empty() => (d, Some(t)),
                    _ => (rest, None),
                };
                let dir = std::path::Path::new(dir);
                found.push((dir_name(dir), sink::layout::attached(dir, tag)?));
            }
            None => {
                let r = crate::image::reference::ImageRef::parse(reference)?;
                let name = r
                    .repository()
                    .rsplit('/')
                    .next()
                    .unwrap_or("image")
                    .to_string();
                let registry = crate::registry::Registry::new(registry, ui)?;
                let list = registry
                    .attached(&r)
                    .with_context(|| format!("reading what is attached to {reference}"))?;
                found.push((name, list));
            }
        },
    }
    if let Some(dir) = out {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--out: cannot create {}", dir.display()))?;
        for (name, list) in &found {
            for a in list {
                let platform: Platform = a
                    .platform
                    .parse()
                    .unwrap_or_else(|_| Platform::new("unknown", "unknown", None));
                for d in &a.documents {
                    let path = dir.join(attest::file_name(name, &platform, &d.artifact_type));
                    atomic::write(&path, &d.document)
                        .with_context(|| format!("--out: cannot write {}", path.display()))?;
                }
            }
        }
    }
    Ok(found)
}

/// The listing `cargo imagebuild sbom` prints: each image's name, its platforms' manifests, and
/// under each one line per attached document (type, artifact digest, size).
pub fn describe_attached(
    found: &[(String, Vec<crate::registry::referrers::AttachedTo>)],
) -> String {
    let mut s = String::new();
    for (name, list) in found {
        s.push_str(&format!("{name}\n"));
        for a in list {
            s.push_str(&format!("  {} {}\n", a.platform, a.manifest));
            if a.documents.is_empty() {
                s.push_str("    (nothing attached)\n");
            }
            for d in &a.documents {
                s.push_str(&format!(
                    "    {} {} ({} bytes)\n",
                    d.artifact_type,
                    d.artifact,
                    d.document.len()
                ));
            }
        }
    }
    s
}
