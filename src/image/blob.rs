//! The one place a layer blob is opened by its media type: the tar inside it, whether it is
//! stored as gzip, zstd or plain tar, under OCI or Docker names.

use std::io::{BufReader, Read};

use anyhow::{bail, Result};

use crate::image::model::media;

/// The uncompressed tar stream of a layer blob of `media_type` read from `r`.
pub fn tar_reader<'a, R: Read + 'a>(media_type: &str, r: R) -> Result<Box<dyn Read + 'a>> {
    Ok(match media::oci_layer(media_type) {
        // Multi-member: pigz-style and concatenated gzip streams are one tar.
        media::LAYER_GZIP => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(r))),
        media::LAYER_ZSTD => Box::new(zstd::stream::read::Decoder::new(r)?),
        media::LAYER_TAR => Box::new(r),
        other => bail!("a layer of media type {other} cannot be read: only tar, tar+gzip and tar+zstd layers are known"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn every_layer_type_opens_to_the_same_tar() {
        let tar = b"not really a tar, but bytes".to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(tar.as_slice(), 3).unwrap();
        for (mt, bytes) in [
            (media::LAYER_GZIP, &gz),
            (media::DOCKER_LAYER_GZIP, &gz),
            (media::LAYER_ZSTD, &zst),
            (media::LAYER_TAR, &tar),
        ] {
            let mut out = Vec::new();
            tar_reader(mt, bytes.as_slice())
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, tar, "{mt}");
        }
        assert!(tar_reader("application/x-nope", tar.as_slice()).is_err());
    }
}
