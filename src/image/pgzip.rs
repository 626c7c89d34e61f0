//! A parallel gzip writer whose bytes do not depend on the number of threads, in the manner of
//! pigz: the input is cut into fixed 1 MiB blocks, each block is deflated on a worker with the
//! previous block's last 32 KiB as its dictionary and ends in a sync flush (so the pieces join
//! into one deflate stream), and the caller's thread writes the pieces in order with one gzip
//! header (mtime 0) and the CRC-32/size trailer.
//!
//! Why not flate2's `GzEncoder`: it is single-threaded; on these 2-core machines it packed a
//! real-binary layer at gzip -6 about 1.8x slower than `umoci insert` (Go's parallel pgzip).
//! Measured by `benches/pack.rs`. flate2 still does every byte of deflate (zlib-rs) and the CRC.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Crc, FlushCompress, Status};

/// Uncompressed bytes per block. Part of the output format: changing it changes digests.
const BLOCK: usize = 1 << 20;
/// Deflate's window: how much of the previous block primes the next.
const DICT: usize = 32 << 10;

struct Job {
    seq: u64,
    data: Vec<u8>,
    dict: Vec<u8>,
    last: bool,
}

type Done = (u64, io::Result<Vec<u8>>);

/// Gzip-compresses everything written to it into `inner`, on `workers` threads.
pub struct ParGzWriter<W: Write> {
    inner: Option<W>,
    level: u32,
    buf: Vec<u8>,
    dict: Vec<u8>,
    crc: Crc,
    next_seq: u64,
    next_write: u64,
    in_flight: usize,
    max_in_flight: usize,
    pending: BTreeMap<u64, Vec<u8>>,
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    threads: Vec<JoinHandle<()>>,
    header_written: bool,
}

fn deflate_block(level: u32, job: &Job) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(flate2::Compression::new(level), false);
    if !job.dict.is_empty() {
        c.set_dictionary(&job.dict).map_err(io::Error::other)?;
    }
    let flush = if job.last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(job.data.len() + job.data.len() / 8 + 1024);
    // Bounded: every round either consumes input or grows the output; a block needs few rounds.
    for _ in 0..10_000 {
        let consumed = c.total_in() as usize;
        let status = c
            .compress_vec(&job.data[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let all_in = c.total_in() as usize == job.data.len();
        let room_left = out.len() < out.capacity();
        match (job.last, status) {
            (true, Status::StreamEnd) => return Ok(out),
            (false, _) if all_in && room_left => return Ok(out),
            _ => out.reserve(64 << 10),
        }
    }
    Err(io::Error::other("deflate made no progress"))
}

impl<W: Write> ParGzWriter<W> {
    /// A writer at gzip `level` (0-9) using `workers` threads (at least one).
    pub fn new(inner: W, level: u32, workers: usize) -> Self {
        let workers = workers.max(1);
        let max_in_flight = workers * 2;
        let (job_tx, job_rx) = mpsc::sync_channel::<Job>(max_in_flight);
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let threads = (0..workers)
            .map(|_| {
                let rx = Arc::clone(&job_rx);
                let tx = done_tx.clone();
                std::thread::spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(r) => match r.recv() {
                            Ok(j) => j,
                            Err(_) => return,
                        },
                        Err(_) => return,
                    };
                    if tx.send((job.seq, deflate_block(level, &job))).is_err() {
                        return;
                    }
                })
            })
            .collect();
        ParGzWriter {
            inner: Some(inner),
            level: level.min(9),
            buf: Vec::with_capacity(BLOCK),
            dict: Vec::new(),
            crc: Crc::new(),
            next_seq: 0,
            next_write: 0,
            in_flight: 0,
            max_in_flight,
            pending: BTreeMap::new(),
            jobs: Some(job_tx),
            done: done_rx,
            threads,
            header_written: false,
        }
    }

    fn out(&mut self) -> io::Result<&mut W> {
        self.inner
            .as_mut()
            .ok_or_else(|| io::Error::other("gzip writer already finished"))
    }

    fn write_header(&mut self) -> io::Result<()> {
        if !self.header_written {
            self.header_written = true;
            let xfl = match self.level {
                9 => 2,
                1 => 4,
                _ => 0,
            };
            // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL OS=unknown
            let header = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255];
            self.out()?.write_all(&header)?;
        }
        Ok(())
    }

    /// Sends the buffered block to the workers.
    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        let data = std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(if last { 0 } else { BLOCK }),
        );
        let dict = std::mem::take(&mut self.dict);
        if !last {
            self.dict = data[data.len().saturating_sub(DICT)..].to_vec();
        }
        // Keep memory bounded: wait for a finished block before queueing more.
        while self.in_flight >= self.max_in_flight {
            self.collect_one()?;
        }
        let job = Job {
            seq: self.next_seq,
            data,
            dict,
            last,
        };
        self.next_seq += 1;
        self.in_flight += 1;
        self.jobs
            .as_ref()
            .ok_or_else(|| io::Error::other("gzip workers stopped"))?
            .send(job)
            .map_err(|_| io::Error::other("gzip workers stopped"))
    }

    /// Waits for one finished block and writes every block that is now next in order.
    fn collect_one(&mut self) -> io::Result<()> {
        let (seq, result) = self
            .done
            .recv()
            .map_err(|_| io::Error::other("a gzip worker stopped"))?;
        self.in_flight -= 1;
        self.pending.insert(seq, result?);
        self.write_ready()
    }

    fn write_ready(&mut self) -> io::Result<()> {
        self.write_header()?;
        while let Some(piece) = self.pending.remove(&self.next_write) {
            self.out()?.write_all(&piece)?;
            self.next_write += 1;
        }
        Ok(())
    }

    /// Compresses what is left, writes the trailer and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.dispatch(true)?;
        while self.in_flight > 0 {
            self.collect_one()?;
        }
        self.write_ready()?;
        let (crc, len) = (self.crc.sum(), self.crc.amount());
        let out = self.out()?;
        out.write_all(&crc.to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        self.jobs = None;
        for t in std::mem::take(&mut self.threads) {
            let _ = t.join();
        }
        self.inner
            .take()
            .ok_or_else(|| io::Error::other("gzip writer already finished"))
    }
}

impl<W: Write> Write for ParGzWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(BLOCK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.crc.update(&data[..n]);
        if self.buf.len() == BLOCK {
            self.dispatch(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for ParGzWriter<W> {
    fn drop(&mut self) {
        self.jobs = None;
        for t in std::mem::take(&mut self.threads) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: a mix of text and pseudo-random bytes.
        let mut x: u32 = 12345;
        (0..len)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                if i % 3 == 0 {
                    (x >> 24) as u8
                } else {
                    b"cargo imagebuild "[i % 17]
                }
            })
            .collect()
    }

    fn gz(data: &[u8], level: u32, workers: usize, chunk: usize) -> Vec<u8> {
        let mut w = ParGzWriter::new(Vec::new(), level, workers);
        for c in data.chunks(chunk.max(1)) {
            w.write_all(c).unwrap();
        }
        w.finish().unwrap()
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn round_trips_at_every_size() {
        for len in [0, 1, 1000, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 777] {
            let data = sample(len);
            assert_eq!(gunzip(&gz(&data, 6, 2, 8192)), data, "len {len}");
        }
    }

    #[test]
    fn bytes_do_not_depend_on_workers_or_write_sizes() {
        let data = sample(3 * BLOCK + 12345);
        let a = gz(&data, 6, 1, 8192);
        let b = gz(&data, 6, 4, 100_000);
        let c = gz(&data, 6, 2, 512);
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_ne!(a, gz(&data, 1, 2, 8192), "the level matters");
    }

    #[test]
    fn the_system_gzip_accepts_it() {
        let data = sample(2 * BLOCK + 5);
        let bytes = gz(&data, 6, 2, 8192);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.gz");
        std::fs::write(&p, &bytes).unwrap();
        let out = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(&p)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, data);
    }
}
