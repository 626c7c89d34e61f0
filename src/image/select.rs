//! Choosing the one image of a set that a single-platform destination holds (a docker-archive,
//! a daemon load, an OCI archive's docker `manifest.json`): the platform asked for, else the
//! reader's own, else the only one built; the error says what was built and how to choose.

use crate::image::model::{Image, ImageSet};
use crate::image::platform::Platform;

/// Why no single platform could be chosen.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChoiceError {
    #[error(
        "platform {wanted} was not built; built: {built}. Add it to --platform, or choose a \
         built one with --load-platform (or platform= in the --output)"
    )]
    NotBuilt { wanted: Platform, built: String },
    #[error(
        "{who} runs {native}, which was not built; built: {built}. A docker image holds one \
         platform: add {native} to --platform, or choose one with --load-platform (or platform= \
         in the --output)"
    )]
    NativeNotBuilt {
        who: String,
        native: Platform,
        built: String,
    },
    #[error(
        "several platforms were built ({built}) and {who} gives no platform to prefer: choose \
         one with --load-platform (or platform= in the --output)"
    )]
    NoPreference { who: String, built: String },
}

/// The image a single-platform sink holds: `wanted` if given (it must be built); else `native`
/// (the platform of `who`, the daemon or this machine) if built; else the only image there is.
/// The note, if any, says why the image differs from `who`'s platform.
pub fn choose<'a>(
    set: &'a ImageSet,
    wanted: Option<&Platform>,
    native: Option<&Platform>,
    who: &str,
) -> Result<(&'a Image, Option<String>), ChoiceError> {
    let built: Vec<&Platform> = set.images.iter().map(|i| &i.platform).collect();
    let (i, note) = choose_platform(&built, wanted, native, who)?;
    Ok((&set.images[i], note))
}

/// [`choose`] over a list of platforms (before anything is built): the index of the chosen one.
pub fn choose_platform(
    built: &[&Platform],
    wanted: Option<&Platform>,
    native: Option<&Platform>,
    who: &str,
) -> Result<(usize, Option<String>), ChoiceError> {
    let list = || {
        built
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let find = |p: &Platform| built.iter().position(|b| b.matches(p));
    if let Some(w) = wanted {
        return find(w)
            .map(|i| (i, None))
            .ok_or_else(|| ChoiceError::NotBuilt {
                wanted: w.clone(),
                built: list(),
            });
    }
    if let Some(i) = native.and_then(find) {
        return Ok((i, None));
    }
    match (built, native) {
        ([only], Some(n)) => Ok((
            0,
            Some(format!(
                "{only} is the only platform built, so it was chosen although {who} runs {n}"
            )),
        )),
        ([_], None) => Ok((0, None)),
        (_, Some(n)) => Err(ChoiceError::NativeNotBuilt {
            who: who.to_string(),
            native: n.clone(),
            built: list(),
        }),
        // No native platform known and several built: the caller must say which.
        (_, None) => Err(ChoiceError::NoPreference {
            who: who.to_string(),
            built: list(),
        }),
    }
}
