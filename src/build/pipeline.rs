//! Executes a [`Plan`] as a pipeline: the base layers are packed while the first target
//! compiles, and each target's binary layers are packed while the next target compiles (cargo
//! builds one target at a time and uses every core for it; packing is mostly compression on the
//! side). Every executable is checked before it is packed: its ELF header against its platform
//! ([`elf`]), its loader against its base ([`basefs`]), and, when it is dynamically linked, its
//! shared libraries against its base; missing libraries are collected over every target and
//! refused together once all are compiled, before anything is delivered. Then each binary's
//! images and index are assembled ([`assemble`](super::assemble)) into an [`ImageSet`]; writing the sets anywhere is
//! the sinks' job. With `-v`, the time per stage is reported ([`Timings`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};

use crate::build::assemble::{assemble, LayerKey};
use crate::build::base::{registry_base_files, resolve_bases, Bases};
use crate::build::basefs::{self, BaseFiles};
use crate::build::compile::{self, CompileRequest};
use crate::build::contents;
use crate::build::elf;
use crate::build::timing::Timings;
use crate::image::layer::{self, LayerSpec, PackOptions};
use crate::image::model::{ImageSet, Layer};
use crate::image::store::BlobStore;
use crate::plan::base::Base;
use crate::plan::{ImagePlan, Plan};
use crate::route::Route;
use crate::util::events::packed_counts;
use crate::util::ui::{Event, Ui};

type Job = (LayerKey, LayerSpec, PackOptions);

/// The files beneath an image's binary on scratch, for the loader check: the skeleton and the
/// assets. (A registry base's files are only listed when a dynamic binary needs them, see
/// [`registry_base_files`].)
fn base_files(img: &ImagePlan, assets: Option<&LayerSpec>) -> BaseFiles {
    let mut files = BaseFiles::new();
    if let Base::Scratch = img.base {
        files.add_layer(&crate::build::base::skeleton_layer());
    }
    if let Some(a) = assets {
        files.add_layer(a);
    }
    files
}

/// Compiles the plan's targets one after another; after each, checks its executables and hands
/// their layers to the packers. Stops early when a packer has failed. Refuses with every missing
/// shared library of every binary and platform at the end.
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
    ui: &Ui,
) -> Result<()> {
    let work_dir = plan.work_dir();
    let remap: Vec<String> = plan.remap.iter().map(|r| r.flag()).collect();
    let mut missing = Vec::new();
    let builds = plan.builds();
    let of = builds.len();
    for (n, (triple, packages, bins)) in builds.into_iter().enumerate() {
        if failed.load(Ordering::SeqCst) {
            return Ok(());
        }
        ui.emit(Event::CompileStarted {
            target: triple.clone(),
            bins: bins.clone(),
            n: n + 1,
            of,
        });
        let route = routes
            .get(&triple)
            .ok_or_else(|| anyhow!("no build route was planned for {triple}"))?;
        let env = if route.openssl {
            let install = crate::build::openssl::provide(route, &work_dir, ui)?;
            crate::build::openssl::env_for(&triple, &install)
        } else {
            Vec::new()
        };
        let req = CompileRequest {
            manifest_path: &plan.manifest_path,
            workspace_root: &plan.workspace_root,
            packages,
            bins: bins.clone(),
            features: &plan.features,
            profile: &plan.profile,
            triple: &triple,
            cargo_config: &plan.cargo_config,
            route,
            work_dir: &work_dir,
            env,
            rustflags: &remap,
        };
        let started = Instant::now();
        let artifacts = compile::compile(&req, ui)?;
        timings.compiled(&triple, started);
        ui.emit(Event::CompileFinished {
            target: triple.clone(),
            seconds: started.elapsed().as_secs_f64(),
        });
        let exes: BTreeMap<&str, &PathBuf> = artifacts
            .iter()
            .map(|a| (a.bin.as_str(), &a.path))
            .collect();
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
                        fetched = registry_base_files(base, &files[i], registry, ui)?;
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
                    }
                }
                let spec = contents::binary_layer(exe, &img.bin_path, &triple);
                if jobs.send((LayerKey::Binary(i, t), spec, opts[i])).is_err() {
                    return Ok(());
                }
            }
        }
    }
    if !missing.is_empty() {
        return Err(basefs::RunsOnError::MissingLibraries(missing).into());
    }
    Ok(())
}

/// Packs jobs as they arrive, on up to `workers` threads, until the sender is dropped. The first
/// error wins; `failed` tells the compiling side to stop.
fn pack_stream(
    jobs: Receiver<Job>,
    workers: usize,
    store: &BlobStore,
    failed: &AtomicBool,
    timings: &Timings,
    ui: &Ui,
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
                        let packed = layer::pack_or_reuse(&spec, &opts, store)
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

/// Builds every image of the plan, each target the way `routes` says, packing into `store`.
/// Returns one image set per binary, in plan order.
pub fn build_into(
    plan: &Plan,
    routes: &BTreeMap<String, Route>,
    ui: &Ui,
    store: &BlobStore,
) -> Result<Vec<ImageSet>> {
    let bases = resolve_bases(plan, ui)?;
    let timings = Timings::default();

    // Known before anything compiles: the skeleton and assets layers, and the files they hold.
    let mut early: Vec<Job> = Vec::new();
    let mut files = Vec::new();
    let mut opts = Vec::new();
    for (i, img) in plan.images.iter().enumerate() {
        let o = PackOptions {
            compression: img.compression,
            level: img.compression_level,
            mtime: plan.epoch,
        };
        opts.push(o);
        let skeleton = LayerKey::Skeleton(img.compression, img.compression_level);
        if img.base.reference().is_none() && !early.iter().any(|(k, _, _)| *k == skeleton) {
            early.push((skeleton, crate::build::base::skeleton_layer(), o));
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
    let layers = std::thread::scope(|s| -> Result<BTreeMap<LayerKey, Layer>> {
        let packer = s.spawn(|| pack_stream(rx, workers, store, &failed, &timings, ui));
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
