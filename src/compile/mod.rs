//! The compile stage: runs cargo and checks what it made. [`cargo`] runs `cargo build` (or
//! `cargo zigbuild`, `cross build`) for a group of targets with the environment their
//! [`Route`](crate::route::Route)s ask for, and hands over each executable as soon as cargo's
//! JSON messages name it. [`elf`] checks an executable against the platform its image claims
//! (ELF class, byte order, machine; its interpreter and shared libraries), and [`basefs`] checks
//! that what it needs at start-up (its loader, its libraries) is in the layers beneath it.
//! [`sccache`] keeps a user's sccache hitting across checkouts despite our path remaps, and
//! [`section`] adds the dependency list's `.dep-v0` section to a copy of an executable.
//!
//! The stage decides nothing about images: the pipeline in [`crate::assemble`] calls it and
//! packs what it delivers.

pub mod auditable;
pub mod basefs;
pub mod cargo;
pub mod elf;
pub mod graph;
pub mod sccache;
pub mod section;
