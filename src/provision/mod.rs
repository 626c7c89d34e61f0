//! The provision stage: fetches and installs what a build needs and the machine lacks, saying
//! what it does, as rustup does when it installs a target. [`targets`] adds missing standard
//! libraries (`rustup target add`), [`zig`] downloads the pinned zig when a route needs a C
//! compiler and none is installed, [`openssl`] builds OpenSSL for a target whose graph needs it, [`cxxrt`] readies zig's C++
//! runtime for musl targets whose graph compiles C++,
//! [`install`] runs the grouped fixes of `doctor --fix` and `--install-missing` (rustup, apt),
//! [`base`] resolves registry base images (their manifests, configs and, for a dynamic binary,
//! the files they hold), and [`cache`] is the user-wide cache all of these share (base layers,
//! zig, OpenSSL), bounded and trimmed.
//!
//! Nothing here runs during planning: [`crate::run`] calls it between the plan and the compile.

pub mod base;
pub mod cache;
pub mod cxxrt;
pub mod install;
pub mod openssl;
pub mod targets;
pub mod zig;
