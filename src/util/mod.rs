//! Leaves that every stage uses and that know nothing of images or cargo: content digests, the
//! environment snapshot a run reads ([`env`]), the reporter that turns what stages say into
//! events ([`report`]), running a child process under a deadline, writing files atomically,
//! temporaries removed on a signal, sizes as people write them, and lists cut short for messages
//! ([`listing`]).

pub mod atomic;
pub mod digest;
pub mod env;
pub mod listing;
pub mod process;
pub mod report;
pub mod size;
pub mod temp;
