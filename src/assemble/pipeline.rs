//! Executes a [`Plan`] as a pipeline: the base layers are packed while cargo starts, and each
//! target's binary layers are packed the moment cargo's messages name its last executable, while
//! cargo goes on with the other targets (one invocation builds every target that can share it,
//! see [`cargo::shares_invocation`]); each packed layer is handed on at once ([`OnPacked`]: a
//! push starts uploading it). Every executable is checked before it is packed: its ELF header against its platform
//! ([`elf`]), its loader against its base ([`basefs`]), and, when it is dynamically linked, its
//! shared libraries against its base; missing libraries are collected over every target and
//! refused together once all are compiled, before anything is delivered. Then each binary's
//! images and index are assembled ([`assemble`](super::assemble)) into an [`ImageSet`]; writing the sets anywhere is
//! the sinks' job. With `-v`, the time per stage is reported ([`Timings`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};

use crate::assemble::contents;
use crate::assemble::documents::{assemble, LayerKey};
use crate::assemble::timing::Timings;
use crate::compile::basefs::{self, BaseFiles};
use crate::compile::cargo::{self, CompileRequest};
use crate::compile::{auditable, elf, graph, section};
use crate::events::packed_counts;
use crate::events::Event;
use crate::image::layer::{self, LayerSpec, PackOptions};
use crate::image::model::{ImageSet, Layer};
use crate::image::store::BlobStore;
use crate::plan::base::Base;
use crate::plan::{ImagePlan, Plan};
use crate::provision::base::{registry_base_files, resolve_bases, Bases};
use crate::registry::Connector;
use crate::route::Route;
use crate::util::report::Reporter;

type Job = (LayerKey, LayerSpec, PackOptions);

/// Told of each layer the moment it is packed (or found in the layer cache), with the plan's
/// images that hold it: a push starts its uploads there while cargo still compiles.
pub type OnPacked<'a> = &'a (dyn Fn(&[usize], &Layer) + Sync);

/// The images of `plan` that hold the layer `key` makes.
fn holders(plan: &Plan, key: &LayerKey) -> Vec<usize> {
    match key {
        LayerKey::Assets(i) | LayerKey::Binary(i, _) => vec![*i],
        LayerKey::Skeleton(c) => plan
            .images
            .iter()
            .enumerate()
            .filter(|(_, img)| img.base.reference().is_none() && img.compression == *c)
            .map(|(i, _)| i)
            .collect(),
    }
}

/// The files beneath an image's binary on scratch, for the loader check: the skeleton and the
/// assets. (A registry base's files are only listed when a dynamic binary needs them, see
/// [`registry_base_files`].)
fn base_files(img: &ImagePlan, assets: Option<&LayerSpec>) -> BaseFiles {
    let mut files = BaseFiles::new();
    if let Base::Scratch = img.base {
        files.add_layer(&crate::provision::base::skeleton_layer());
    }
    if let Some(a) = assets {
        files.add_layer(a);
    }
    files
}

/// The plan's builds in cargo invocations: targets that build the same packages and binaries
/// and [`cargo::shares_invocation`] go together (in plan order, at the first one's place);
/// the rest get one invocation each.
fn invocations<'r>(
    plan: &Plan,
    routes: &'r BTreeMap<String, Route>,
) -> Result<Vec<Invocation<'r>>> {
    let mut groups: Vec<Invocation<'r>> = Vec::new();
    for (triple, packages, bins) in plan.builds() {
        let route = routes
            .get(&triple)
            .ok_or_else(|| anyhow!("no build route was planned for {triple}"))?;
        let shares =
            cargo::shares_invocation(route, &plan.workspace_root, &plan.cargo_config, &plan.env);
        match groups
            .iter_mut()
            .find(|g| shares && g.shared && g.packages == packages && g.bins == bins)
        {
            Some(group) => group.routes.push(route),
            None => groups.push(Invocation {
                packages,
                bins,
                routes: vec![route],
                shared: shares,
            }),
        }
    }
    Ok(groups)
}

/// One cargo invocation: the packages and binaries it builds, for every target of `routes`.
struct Invocation<'r> {
    packages: Vec<String>,
    bins: Vec<String>,
    routes: Vec<&'r Route>,
    /// Whether other targets may join it ([`cargo::shares_invocation`]).
    shared: bool,
}

/// Compiles the plan's targets, as few cargo invocations as [`invocations`] allows, one after
/// another; as soon as cargo has named every executable of a target, checks them and hands
/// their layers to the packers (while cargo goes on with the other targets). Stops early when a
/// packer has failed. Refuses with every missing shared library of every binary and platform
/// at the end.
#[allow(clippy::too_many_arguments)]
fn compile_all(
    plan: &Plan,
    routes: &BTreeMap<String, Route>,
    files: &[BaseFiles],
    bases: &Bases,
    opts: &[PackOptions],
    jobs: &Sender<Job>,
    failed: &AtomicBool,
    timings: &Timings,
    ui: &Reporter,
) -> Result<()> {
    let work_dir = plan.work_dir();
    let remap: Vec<String> = plan.remap.iter().map(|r| r.flag()).collect();
    // Missing shared libraries, and symbol versions the base's libraries lack.
    let mut missing = (Vec::new(), Vec::new());
    let checker = Checker {
        plan,
        files,
        bases,
        opts,
        jobs,
        ui,
    };
    let groups = invocations(plan, routes)?;
    let of = groups.iter().map(|g| g.routes.len()).sum();
    let mut n = 0;
    for Invocation {
        packages,
        bins,
        routes: group,
        ..
    } in groups
    {
        if failed.load(Ordering::SeqCst) {
            return Ok(());
        }
        let triples: Vec<&str> = group.iter().map(|r| r.triple.as_str()).collect();
        for triple in &triples {
            n += 1;
            ui.emit(Event::CompileStarted {
                target: triple.to_string(),
                bins: bins.clone(),
                n,
                of,
            });
        }
        let mut env = Vec::new();
        for route in group.iter().filter(|r| r.openssl) {
            let install = crate::provision::openssl::provide(route, &work_dir, ui, &plan.env)?;
            env.extend(crate::provision::openssl::env_for(&route.triple, &install));
        }
        for route in &group {
            crate::provision::cxxrt::provide(route, &work_dir, ui)?;
        }
        let req = CompileRequest {
            manifest_path: &plan.manifest_path,
            workspace_root: &plan.workspace_root,
            packages,
            bins: bins.clone(),
            features: &plan.features,
            profile: &plan.profile,
            cargo_config: &plan.cargo_config,
            routes: group.clone(),
            work_dir: &work_dir,
            env,
            vars: &plan.env,
            verbose: plan.cargo_verbose,
            rustflags: &remap,
        };
        let started = Instant::now();
        // Per target, the executables named so far; a target is handed over once complete.
        let mut named: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
        let mut delivered: BTreeSet<String> = BTreeSet::new();
        let mut stopped = false;
        let mut last = started;
        cargo::compile_streaming(&req, ui, |a| {
            let exes = named.entry(a.triple.clone()).or_default();
            exes.insert(a.bin, a.path);
            if bins.iter().all(|b| exes.contains_key(b)) && delivered.insert(a.triple.clone()) {
                timings.compiled(&a.triple, started);
                // The targets of one invocation compile together: each counts the time since
                // the one before it was ready, so the stage's sum is the invocation's time.
                ui.emit(Event::CompileFinished {
                    target: a.triple.clone(),
                    seconds: last.elapsed().as_secs_f64(),
                });
                last = Instant::now();
                if !checker.deliver(&a.triple, exes, &mut missing)? {
                    stopped = true;
                    bail!("the packers stopped");
                }
            }
            Ok(())
        })
        .or_else(|e| if stopped { Ok(()) } else { Err(e) })?;
        if stopped {
            return Ok(());
        }
        for triple in triples {
            let exes = named.get(triple).cloned().unwrap_or_default();
            if !bins.iter().all(|b| exes.contains_key(b)) {
                // Names the first binary cargo did not report.
                checker.deliver(triple, &exes, &mut missing)?;
            }
        }
    }
    let (missing, versions) = missing;
    if !missing.is_empty() {
        return Err(basefs::RunsOnError::MissingLibraries(missing).into());
    }
    if !versions.is_empty() {
        return Err(basefs::RunsOnError::OlderVersions(versions).into());
    }
    Ok(())
}

/// What checking a target's executables and queueing their layers needs.
struct Checker<'a> {
    plan: &'a Plan,
    files: &'a [BaseFiles],
    bases: &'a Bases,
    opts: &'a [PackOptions],
    jobs: &'a Sender<Job>,
    ui: &'a Reporter,
}

impl Checker<'_> {
    /// Checks the executables built for `triple` (ELF header, loader, shared libraries; missing
    /// libraries and symbol versions are added to `unfit`) and queues each image's binary layer. False when the
    /// packers are gone.
    fn deliver(
        &self,
        triple: &str,
        exes: &BTreeMap<String, PathBuf>,
        unfit: &mut (Vec<basefs::MissingLibrary>, Vec<basefs::MissingVersion>),
    ) -> Result<bool> {
        let (plan, files, bases, ui) = (self.plan, self.files, self.bases, self.ui);
        let (missing, versions) = (&mut unfit.0, &mut unfit.1);
        for (i, img) in plan.images.iter().enumerate() {
            for (t, target) in img.targets.iter().enumerate() {
                if target.triple != triple {
                    continue;
                }
                let exe = exes.get(img.bin.as_str()).ok_or_else(|| {
                    anyhow!(
                        "cargo built no executable named `{}` for {triple} (its messages named none)",
                        img.bin
                    )
                })?;
                let format = elf::check(exe, &target.platform)?;
                let dynamic = matches!(
                    format,
                    elf::BinaryFormat::Elf {
                        interpreter: Some(_),
                        ..
                    }
                );
                let fetched;
                let beneath = match (bases.images.get(&(i, t)), &bases.registry) {
                    (Some(base), Some(registry)) if dynamic => {
                        fetched = registry_base_files(base, &files[i], registry, ui, &plan.env)?;
                        Some(&fetched)
                    }
                    (Some(_), _) => None,
                    (None, _) => Some(&files[i]),
                };
                if let Some(beneath) = beneath {
                    basefs::check_runs_on(
                        &img.bin,
                        &format,
                        &target.platform,
                        &img.base.name(),
                        beneath,
                    )?;
                    if dynamic {
                        let needs = elf::dynamic(exe)?;
                        let lacking = basefs::missing_libraries(
                            &img.bin,
                            &img.bin_path,
                            &format,
                            &needs,
                            &target.platform,
                            &img.base.name(),
                            beneath,
                        );
                        if !lacking.is_empty() {
                            missing.extend(lacking);
                            continue;
                        }
                        let old = basefs::missing_versions(
                            &img.bin,
                            &img.bin_path,
                            &format,
                            &needs,
                            &target.platform,
                            &img.base.name(),
                            beneath,
                        );
                        if !old.is_empty() {
                            versions.extend(old);
                            continue;
                        }
                    }
                }
                let audited;
                let exe = if plan.auditable {
                    audited = self.with_dependency_list(img, triple, exe)?;
                    audited.as_deref().unwrap_or(exe)
                } else {
                    exe
                };
                let spec = contents::binary_layer(exe, &img.bin_path, triple);
                if self
                    .jobs
                    .send((LayerKey::Binary(i, t), spec, self.opts[i]))
                    .is_err()
                {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }
}

impl Checker<'_> {
    /// A copy of `exe` (in the work directory) that carries its dependency list in a `.dep-v0`
    /// section ([`auditable`]), made from the SBOM's graph of `img`'s package for `triple`;
    /// `None` when `exe` already has one or is not an ELF this can extend (said with `-v`).
    fn with_dependency_list(
        &self,
        img: &ImagePlan,
        triple: &str,
        exe: &std::path::Path,
    ) -> Result<Option<PathBuf>> {
        let plan = self.plan;
        let applies = crate::route::cdeps::applies_to(triple, || plan.toolchain.cfg(triple));
        let graph = graph::of_package(&plan.metadata, &img.package, &BTreeMap::new(), applies)
            .with_context(|| format!("reading the dependency graph of {} for {triple}", img.bin))?;
        let data = auditable::section(&graph)?;
        let dest = plan
            .work_dir()
            .join("auditable")
            .join(triple)
            .join(&img.bin);
        match section::add(exe, auditable::SECTION, &data, &dest)? {
            section::Added::Written => Ok(Some(dest)),
            section::Added::AlreadyThere => {
                self.ui.detail(
                    "Auditable",
                    &format!(
                        "{} for {triple} has a .dep-v0 section already: kept",
                        img.bin
                    ),
                );
                Ok(None)
            }
            section::Added::Unsupported(why) => {
                self.ui.detail(
                    "Auditable",
                    &format!(
                        "{} for {triple}: no dependency list written ({why})",
                        img.bin
                    ),
                );
                Ok(None)
            }
        }
    }
}

/// Packs jobs as they arrive, on up to `workers` threads, until the sender is dropped. The first
/// error wins; `failed` tells the compiling side to stop.
fn pack_stream(
    jobs: Receiver<Job>,
    workers: usize,
    store: &BlobStore,
    failed: &AtomicBool,
    timings: &Timings,
    ui: &Reporter,
    on_packed: &(dyn Fn(&LayerKey, &Layer) + Sync),
) -> Result<BTreeMap<LayerKey, Layer>> {
    let queue = Mutex::new(jobs);
    let done = Mutex::new(BTreeMap::new());
    let poisoned = || anyhow!("a packing worker panicked");
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = (0..workers.max(1))
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let job = queue.lock().map_err(|_| poisoned())?.recv();
                        let Ok((key, spec, opts)) = job else {
                            return Ok(());
                        };
                        let started = Instant::now();
                        let packed = layer::pack_or_reuse(&spec, &opts, store, ui)
                            .with_context(|| format!("packing layer: {}", spec.created_by));
                        timings.packed(started);
                        match packed {
                            Ok((l, reused)) => {
                                ui.emit(Event::LayerPacked {
                                    digest: l.blob.digest.to_string(),
                                    size: l.blob.size,
                                    reused,
                                    created_by: spec.created_by.clone(),
                                    seconds: started.elapsed().as_secs_f64(),
                                });
                                on_packed(&key, &l);
                                done.lock().map_err(|_| poisoned())?.insert(key, l);
                            }
                            Err(e) => {
                                failed.store(true, Ordering::SeqCst);
                                return Err(e);
                            }
                        }
                    }
                })
            })
            .collect();
        let mut first = Ok(());
        for h in handles {
            let r = h.join().map_err(|_| poisoned()).and_then(|r| r);
            if first.is_ok() {
                first = r;
            }
        }
        first
    })?;
    done.into_inner().map_err(|_| poisoned())
}

/// Builds every image of the plan, each target the way `routes` says, packing into `store` and
/// telling `on_packed` of each layer as it is packed; registry bases are resolved through
/// `registry`. Returns one image set per binary, in plan order.
pub fn build_into(
    plan: &Plan,
    routes: &BTreeMap<String, Route>,
    ui: &Reporter,
    store: &BlobStore,
    registry: &Connector,
    on_packed: OnPacked<'_>,
) -> Result<Vec<ImageSet>> {
    let bases = resolve_bases(plan, registry, ui)?;
    let timings = Timings::default();

    // Known before anything compiles: the skeleton and assets layers, and the files they hold.
    let mut early: Vec<Job> = Vec::new();
    let mut files = Vec::new();
    let mut opts = Vec::new();
    for (i, img) in plan.images.iter().enumerate() {
        let o = PackOptions {
            compression: img.compression,
            mtime: plan.epoch,
        };
        opts.push(o);
        let skeleton = LayerKey::Skeleton(img.compression);
        if img.base.reference().is_none() && !early.iter().any(|(k, _, _)| *k == skeleton) {
            early.push((skeleton, crate::provision::base::skeleton_layer(), o));
        }
        let assets = if img.assets.is_empty() {
            None
        } else {
            Some(contents::assets_layer(&img.assets)?)
        };
        files.push(base_files(img, assets.as_ref()));
        if let Some(a) = assets {
            early.push((LayerKey::Assets(i), a, o));
        }
    }

    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let failed = AtomicBool::new(false);
    let (tx, rx) = channel::<Job>();
    let tell = |key: &LayerKey, layer: &Layer| on_packed(&holders(plan, key), layer);
    let layers = std::thread::scope(|s| -> Result<BTreeMap<LayerKey, Layer>> {
        let packer = s.spawn(|| pack_stream(rx, workers, store, &failed, &timings, ui, &tell));
        for job in early {
            if tx.send(job).is_err() {
                break;
            }
        }
        let compiled = compile_all(
            plan, routes, &files, &bases, &opts, &tx, &failed, &timings, ui,
        );
        drop(tx);
        let packed = packer
            .join()
            .map_err(|_| anyhow!("the packing thread panicked"))?;
        match (compiled, packed) {
            (_, Err(e)) | (Err(e), _) => Err(e),
            (Ok(()), Ok(layers)) => Ok(layers),
        }
    })?;
    let counted = ui.times();
    ui.status(
        "Layers",
        &format!(
            "{}; {} distinct in {} images",
            packed_counts(counted.packed, counted.reused),
            layers.len(),
            plan.images.iter().map(|i| i.targets.len()).sum::<usize>()
        ),
    );

    let started = Instant::now();
    let sets = plan
        .images
        .iter()
        .enumerate()
        .map(|(i, img)| assemble(plan, i, img, &layers, &bases.images))
        .collect::<Result<Vec<_>>>()?;
    timings.assembled(started.elapsed());
    for line in timings.summary() {
        ui.detail("Timing", &line);
    }
    Ok(sets)
}
