//! Compressed inputs, recognised by their magic numbers (never by a file's
//! extension) and undone as they are read: gzip (RFC 1952; a file may hold
//! several members, each is read) and zstd (RFC 8878; a file may hold
//! several frames, as `zstd -T`, `pzstd` and concatenation make, and
//! skippable frames, which are stepped over). Memory is bounded by the
//! decoders' windows (zstd's capped at 100 MiB by ruzstd), never by the
//! size of the input.

use std::io::{self, BufRead, BufReader, Read};

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

use super::DynRead;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Peek at the first bytes of `r` and wrap it in a decompressor when they
/// are a gzip or zstd magic number.
pub fn decompressing(r: DynRead) -> io::Result<DynRead> {
    let mut r = BufReader::with_capacity(1 << 16, r);
    let head = fill_peek(&mut r)?;
    if head.starts_with(&GZIP_MAGIC) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            Gzip(flate2::bufread::MultiGzDecoder::new(r)),
        )))
    } else if head.starts_with(&ZSTD_MAGIC) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            ZstdFrames::new(r),
        )))
    } else {
        Ok(Box::new(r))
    }
}

/// The first bytes of `r` (up to 4), left in its buffer.
pub(super) fn fill_peek<R: Read>(r: &mut BufReader<R>) -> io::Result<Vec<u8>> {
    let buf = r.fill_buf()?;
    Ok(buf.get(..4).unwrap_or(buf).to_vec())
}

/// Whether bytes starting with `head` are compressed.
pub(super) fn compressed(head: &[u8]) -> bool {
    head.starts_with(&GZIP_MAGIC) || head.starts_with(&ZSTD_MAGIC)
}

/// Every frame of a zstd stream, one after another (ruzstd's
/// `StreamingDecoder` reads one frame and stops: the rest of a multi-frame
/// file was silently dropped).
struct ZstdFrames<R: BufRead> {
    r: R,
    d: FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(r: R) -> Self {
        ZstdFrames {
            r,
            d: FrameDecoder::new(),
            in_frame: false,
        }
    }
}

fn zstd_error(e: impl std::fmt::Display) -> io::Error {
    corrupt(format!("zstd: {e}"))
}

/// Compressed data that does not decode: an error of the input's content
/// (the decode family, [`crate::ErrorKind::BadCompression`]), not of
/// reading it.
#[derive(Debug)]
pub struct Corrupt(pub String);

impl std::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Corrupt {}

fn corrupt(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, Corrupt(msg))
}

/// gzip members read with their errors marked as [`Corrupt`] data.
struct Gzip<R: BufRead>(flate2::bufread::MultiGzDecoder<R>);

impl<R: BufRead> Read for Gzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidInput
            | io::ErrorKind::InvalidData
            | io::ErrorKind::UnexpectedEof => corrupt(format!("gzip: {e}")),
            _ => e,
        })
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                // Decode until `buf` can be filled or the frame ends (a
                // block decoded may not yet be collectable: loop).
                while self.d.can_collect() < buf.len() && !self.d.is_finished() {
                    let more = buf.len().saturating_sub(self.d.can_collect());
                    self.d
                        .decode_blocks(&mut self.r, BlockDecodingStrategy::UptoBytes(more))
                        .map_err(zstd_error)?;
                }
                let n = self.d.read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
                if !self.d.is_finished() {
                    continue;
                }
                self.in_frame = false;
            }
            // Between frames: the end, another frame, or a skippable one.
            if self.r.fill_buf()?.is_empty() {
                return Ok(0);
            }
            match self.d.reset(&mut self.r) {
                Ok(()) => self.in_frame = true,
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let want = u64::from(length);
                    let skipped = io::copy(&mut (&mut self.r).take(want), &mut io::sink())?;
                    if skipped < want {
                        return Err(zstd_error(format!(
                            "a skippable frame of {want} bytes is cut short after {skipped}"
                        )));
                    }
                }
                Err(e) => return Err(zstd_error(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(data: Vec<u8>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        decompressing(Box::new(io::Cursor::new(data)))?.read_to_end(&mut out)?;
        Ok(out)
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    #[test]
    fn every_zstd_frame_is_read_and_skippable_frames_are_stepped_over() {
        let a: Vec<u8> = (0..100_000u32).flat_map(u32::to_le_bytes).collect();
        let b = b"second frame".to_vec();
        let mut data = zstd(&a);
        // A skippable frame (RFC 8878 §3.1.2): magic 0x184D2A5?, length, bytes.
        data.extend_from_slice(&0x184D_2A53u32.to_le_bytes());
        data.extend_from_slice(&5u32.to_le_bytes());
        data.extend_from_slice(b"skip!");
        data.extend_from_slice(&zstd(&b));
        let mut want = a.clone();
        want.extend_from_slice(&b);
        assert_eq!(read_all(data.clone()).unwrap(), want);
        // A skippable frame cut short, and garbage after a frame: errors.
        let cut = [
            zstd(&b),
            0x184D_2A50u32.to_le_bytes().to_vec(),
            vec![9, 0, 0, 0, 1],
        ]
        .concat();
        assert!(read_all(cut).is_err());
        let junk = [zstd(&b), b"not zstd".to_vec()].concat();
        assert!(read_all(junk).is_err());
    }

    #[test]
    fn every_gzip_member_is_read() {
        use std::io::Write;
        let member = |d: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(d).unwrap();
            e.finish().unwrap()
        };
        let data = [member(b"one "), member(b"two")].concat();
        assert_eq!(read_all(data).unwrap(), b"one two");
    }
}
