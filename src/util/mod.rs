//! Leaves that every stage uses and that know nothing of images or cargo: content digests, the
//! environment snapshot a run reads ([`env`]), the reporter that turns what stages say into
//! events ([`report`]), running a child process under a deadline, writing files atomically,
//! advisory locks on directories that runs share ([`lock`]), temporaries removed on a signal,
//! sizes as people write them, secrets masked in what is recorded or printed ([`redact`]),
//! this machine's paths made relative to the workspace ([`relative`]), and lists cut short for
//! messages ([`listing`]).

pub mod atomic;
pub mod digest;
pub mod env;
pub mod listing;
pub mod lock;
pub mod process;
pub mod redact;
pub mod relative;
pub mod report;
pub mod size;
pub mod temp;
