//! Where this tool writes under cargo's target directory, in one place: the images
//! (`imagebuild/<bin>/`, one OCI layout each) and, beside them, one hidden directory of internal
//! files (`imagebuild/.work/`: generated zig scripts, the blob store and its pack records,
//! provisioned libraries, cached rustc answers), so that `target/imagebuild/` holds only images.

use std::path::{Path, PathBuf};

/// The default images directory, under cargo's target directory.
pub const IMAGES_DIR: &str = "imagebuild";
/// The hidden directory of internal files, under [`IMAGES_DIR`].
pub const WORK_DIR: &str = ".work";

/// `<target-dir>/imagebuild`.
pub fn images_dir(target_dir: &Path) -> PathBuf {
    target_dir.join(IMAGES_DIR)
}

/// `<target-dir>/imagebuild/.work`.
pub fn work_dir(target_dir: &Path) -> PathBuf {
    images_dir(target_dir).join(WORK_DIR)
}
