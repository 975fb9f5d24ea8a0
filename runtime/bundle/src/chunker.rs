//! Content-defined chunking: FastCDC (2020) cuts where the content says, so an edit moves only the
//! chunks around it and the rest keep their names.

use std::io::Read;

use crate::digest::Digest;

/// Chunk size bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunking {
    /// No chunk but a file's last is smaller.
    pub min: u32,
    /// The size cut points aim at.
    pub avg: u32,
    /// No chunk is larger.
    pub max: u32,
}

impl Chunking {
    /// davit's chunking: 16 KiB to 256 KiB, 64 KiB on average.
    pub const DEFAULT: Chunking = Chunking {
        min: 16 << 10,
        avg: 64 << 10,
        max: 256 << 10,
    };

    /// How manifests record it: `fastcdc-2020/MIN/AVG/MAX`.
    pub fn describe(&self) -> String {
        format!("fastcdc-2020/{}/{}/{}", self.min, self.avg, self.max)
    }
}

/// One chunk of a file: its digest and its bytes.
#[derive(Debug)]
pub struct Chunk {
    /// blake3 of `data`.
    pub digest: Digest,
    /// The bytes, at most [`Chunking::max`].
    pub data: Vec<u8>,
}

/// Cuts `reader` into chunks, reading at most one maximum-size chunk ahead (bounded memory).
pub fn chunks(reader: impl Read) -> impl Iterator<Item = std::io::Result<Chunk>> {
    let c = Chunking::DEFAULT;
    fastcdc::v2020::StreamCDC::new(reader, c.min as usize, c.avg as usize, c.max as usize).map(
        |chunk| match chunk {
            Ok(chunk) => Ok(Chunk {
                digest: Digest::of(&chunk.data),
                data: chunk.data,
            }),
            Err(fastcdc::v2020::Error::IoError(e)) => Err(e),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random bytes (xorshift), so cut points are content-defined.
    pub(crate) fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn chunks_cover_the_input_within_bounds() {
        let data = noise(3 << 20, 7);
        let chunks: Vec<Chunk> = chunks(&data[..]).collect::<Result<_, _>>().unwrap();
        let joined: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
        assert_eq!(joined, data);
        let max = Chunking::DEFAULT.max as usize;
        let min = Chunking::DEFAULT.min as usize;
        assert!(chunks.iter().all(|c| c.data.len() <= max));
        assert!(
            chunks[..chunks.len() - 1]
                .iter()
                .all(|c| c.data.len() >= min)
        );
        assert!(chunks.len() > 20, "{} chunks", chunks.len());
    }

    #[test]
    fn an_insertion_changes_only_the_chunks_around_it() {
        let data = noise(4 << 20, 11);
        let mut edited = data.clone();
        edited.splice(
            2_000_000..2_000_000,
            b"a few inserted bytes".iter().copied(),
        );
        let names = |d: &[u8]| -> Vec<Digest> { chunks(d).map(|c| c.unwrap().digest).collect() };
        let (before, after) = (names(&data), names(&edited));
        let new = after.iter().filter(|d| !before.contains(d)).count();
        assert!(
            (1..=2).contains(&new),
            "{new} of {} chunks changed",
            after.len()
        );
    }
}
