//! Executes a [`Plan`] as a pipeline: the base layers are packed while the first target
//! compiles, and each target's binary layers are packed while the next target compiles (cargo
//! builds one target at a time and uses every core for it; packing is mostly compression on the
//! side). Every executable is checked before it is packed: its ELF header against its platform
//! ([`elf`]) and its loader against its base ([`basefs`]). Then each binary's images and index are
//! assembled into an [`ImageSet`]; writing the sets anywhere is the sinks' job. With `-v`, the
//! time per stage is reported ([`Timings`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};

use crate::base::Base;
use crate::basefs::{self, BaseFiles};
use crate::compile::{self, CompileRequest};
use crate::contents;
use crate::elf;
use crate::image;
use crate::layer::{self, LayerSpec, PackOptions};
use crate::model::{Image, ImageSet, Layer};
use crate::plan::{ImagePlan, Plan};
use crate::route::Route;
use crate::store::BlobStore;
use crate::timing::Timings;
use crate::ui::Ui;

/// Which layer a packing job makes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum LayerKey {
    /// The scratch skeleton, per compression setting (it is shared by every image that uses one).
    Skeleton(crate::model::Compression, i32),
    /// An image's assets.
    Assets(usize),
    /// An image's binary for one of its targets.
    Binary(usize, usize),
}

type Job = (LayerKey, LayerSpec, PackOptions);

/// The files beneath an image's binary, for the loader check: the skeleton and the assets.
fn base_files(img: &ImagePlan, assets: Option<&LayerSpec>) -> BaseFiles {
    let mut files = BaseFiles::new();
    match img.base {
        Base::Scratch => files.add_layer(&crate::base::skeleton_layer()),
    }
    if let Some(a) = assets {
        files.add_layer(a);
    }
    files
}

/// Compiles the plan's targets one after another; after each, checks its executables and hands
/// their layers to the packers. Stops early when a packer has failed.
#[allow(clippy::too_many_arguments)]
fn compile_all(
    plan: &Plan,
    routes: &BTreeMap<String, Route>,
    files: &[BaseFiles],
    opts: &[PackOptions],
    jobs: &Sender<Job>,
    failed: &AtomicBool,
    timings: &Timings,
    ui: &Ui,
) -> Result<()> {
    let work_dir = plan.target_dir.join("imagebuild");
    for (triple, packages, bins) in plan.builds() {
        if failed.load(Ordering::SeqCst) {
            return Ok(());
        }
        ui.status("Compiling", &format!("{} for {triple}", bins.join(", ")));
        let route = routes
            .get(&triple)
            .ok_or_else(|| anyhow!("no build route was planned for {triple}"))?;
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
        };
        let started = Instant::now();
        let artifacts = compile::compile(&req, ui)?;
        timings.compiled(&triple, started);
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
                basefs::check_runs_on(
                    &img.bin,
                    &format,
                    &target.platform,
                    img.base.name(),
                    &files[i],
                )?;
                let spec = contents::binary_layer(exe, &img.bin_path, &triple);
                if jobs.send((LayerKey::Binary(i, t), spec, opts[i])).is_err() {
                    return Ok(());
                }
            }
        }
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
                        let packed = layer::pack(&spec, &opts, store)
                            .with_context(|| format!("packing layer: {}", spec.created_by));
                        timings.packed(started);
                        match packed {
                            Ok(l) => {
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

/// Builds every image of the plan. Returns one image set per binary, in plan order.
pub fn build(plan: &Plan, ui: &Ui) -> Result<Vec<ImageSet>> {
    let routes = plan.routes()?;
    let store = BlobStore::open(plan.store_dir())?;
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
        if !early.iter().any(|(k, _, _)| *k == skeleton) {
            early.push((skeleton, crate::base::skeleton_layer(), o));
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
        let packer = s.spawn(|| pack_stream(rx, workers, &store, &failed, &timings));
        for job in early {
            if tx.send(job).is_err() {
                break;
            }
        }
        let compiled = compile_all(plan, &routes, &files, &opts, &tx, &failed, &timings, ui);
        drop(tx);
        let packed = packer
            .join()
            .map_err(|_| anyhow!("the packing thread panicked"))?;
        match (compiled, packed) {
            (_, Err(e)) | (Err(e), _) => Err(e),
            (Ok(()), Ok(layers)) => Ok(layers),
        }
    })?;
    ui.status("Packed", &format!("{} layers", layers.len()));

    let started = Instant::now();
    let sets = plan
        .images
        .iter()
        .enumerate()
        .map(|(i, img)| assemble(plan, i, img, &layers))
        .collect::<Result<Vec<_>>>()?;
    timings.assembled(started.elapsed());
    for line in timings.summary() {
        ui.detail("Timing", &line);
    }
    Ok(sets)
}

/// One binary's images and index, from its packed layers.
fn assemble(
    plan: &Plan,
    i: usize,
    img: &ImagePlan,
    layers: &BTreeMap<LayerKey, Layer>,
) -> Result<ImageSet> {
    let created = image::rfc3339(plan.epoch);
    let mut images = Vec::new();
    for (t, target) in img.targets.iter().enumerate() {
        let mut ours: Vec<Layer> = Vec::new();
        ours.push(layers[&LayerKey::Skeleton(img.compression, img.compression_level)].clone());
        if let Some(a) = layers.get(&LayerKey::Assets(i)) {
            ours.push(a.clone());
        }
        ours.push(layers[&LayerKey::Binary(i, t)].clone());
        let config = image::config(None, &target.platform, &img.runtime, &ours, &created)?;
        let descriptors: Vec<_> = ours.iter().map(|l| &l.blob).collect();
        let annotations = image::manifest_annotations(&created, None, &img.manifest_annotations);
        let manifest = image::manifest(&config, &descriptors, &annotations)?;
        images.push(Image {
            platform: target.platform.clone(),
            triple: target.triple.clone(),
            layers: ours,
            config,
            manifest,
        });
    }
    let index = image::index(&images, &img.index_annotations)?;
    Ok(ImageSet {
        name: img.bin.clone(),
        repository: img.repository.clone(),
        tags: img.tags.clone(),
        images,
        index,
        annotations: img.index_annotations.clone(),
    })
}
