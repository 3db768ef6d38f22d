//! The journal file: a versioned header, then length- and checksum-framed
//! records appended in sequence.
//!
//! ```text
//! header  b"CRKJRNL\n" (8 bytes) · format version u32 LE
//! record  payload length u32 LE · crc32 (IEEE) of the length's 4 bytes u32 LE
//!         · crc32 of the payload u32 LE · payload (JSON envelope)
//! ```
//!
//! A crash can only leave the *last* record short (records are appended in
//! order and never rewritten), so only a record cut short by the end of the
//! file is a torn tail, cut off on repair. Anything else is corruption, an
//! error naming the byte offset: a length whose own checksum fails (one
//! flipped bit must not make the rest of the file look torn), a length
//! beyond [`MAX_RECORD`], a complete record whose payload checksum fails,
//! an unreadable record or a sequence out of order.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{Envelope, Event, JournalError};

/// First bytes of every journal file.
pub const MAGIC: &[u8; 8] = b"CRKJRNL\n";
/// The file format (framing and envelope schema) this host writes and reads.
pub const FORMAT_VERSION: u32 = 2;
const HEADER_LEN: u64 = 12;
const FRAME_LEN: u64 = 12;
/// Largest payload of a record (256 MiB): larger records are not written,
/// and a length beyond it is corruption.
pub const MAX_RECORD: u64 = 256 << 20;

/// Appends records to a journal file.
#[derive(Debug)]
pub struct Appender {
    path: PathBuf,
    file: BufWriter<File>,
    /// Bytes written, including the header.
    len: u64,
}

/// What [`Appender::create`] does with a journal file that is not empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Refuse it ([`JournalError::Exists`]): a journal is never replaced unasked.
    Refuse,
    /// Truncate it and start a new journal.
    Overwrite,
}

/// Takes the exclusive lock of an open journal file, held until the file
/// is closed: one writer per journal, across processes.
fn lock(file: &File, path: &Path) -> Result<(), JournalError> {
    file.try_lock().map_err(|e| match e {
        std::fs::TryLockError::WouldBlock => JournalError::Locked(path.to_owned()),
        std::fs::TryLockError::Error(source) => JournalError::Io {
            path: path.to_owned(),
            source,
        },
    })
}

/// Whether `path` is a journal of a session that stopped at start-up,
/// before anything happened (nothing but its `session_start`): replacing it
/// loses nothing, so a failed start does not block the next one.
fn records_nothing(path: &Path) -> bool {
    scan(path).is_ok_and(|s| {
        s.torn.is_none()
            && s.records
                .iter()
                .all(|r| matches!(r.event, Event::SessionStart(_)))
    })
}

impl Appender {
    /// Creates `path` locked and writes the header; a file that already has
    /// bytes is refused or truncated as `existing` says (after the lock is
    /// taken, so that a running writer's journal is never cut).
    pub fn create(path: &Path, existing: Existing) -> Result<Self, JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        lock(&file, path)?;
        if file.metadata().map_err(io)?.len() > 0 {
            if existing == Existing::Refuse && !records_nothing(path) {
                return Err(JournalError::Exists(path.to_owned()));
            }
            file.set_len(0).map_err(io)?;
        }
        let mut file = BufWriter::new(file);
        file.write_all(MAGIC).map_err(io)?;
        file.write_all(&FORMAT_VERSION.to_le_bytes()).map_err(io)?;
        Ok(Self {
            path: path.to_owned(),
            file,
            len: HEADER_LEN,
        })
    }

    /// Opens `path` locked to append after its first `len` bytes (the end
    /// of its last good record), cutting off anything beyond.
    pub fn reopen(path: &Path, len: u64) -> Result<Self, JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new().write(true).open(path).map_err(io)?;
        lock(&file, path)?;
        file.set_len(len).map_err(io)?;
        file.seek(SeekFrom::Start(len)).map_err(io)?;
        Ok(Self {
            path: path.to_owned(),
            file: BufWriter::new(file),
            len,
        })
    }

    /// Appends one record (buffered; see [`Appender::flush`]).
    pub fn append(&mut self, envelope: &Envelope) -> Result<(), JournalError> {
        let payload = serde_json::to_vec(envelope).map_err(JournalError::Encode)?;
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|&l| u64::from(l) <= MAX_RECORD)
            .ok_or(JournalError::RecordTooLarge {
                sequence: envelope.sequence,
                bytes: payload.len(),
            })?;
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        let len = len.to_le_bytes();
        self.file.write_all(&len).map_err(io)?;
        self.file
            .write_all(&crc32fast::hash(&len).to_le_bytes())
            .map_err(io)?;
        self.file
            .write_all(&crc32fast::hash(&payload).to_le_bytes())
            .map_err(io)?;
        self.file.write_all(&payload).map_err(io)?;
        self.len += FRAME_LEN + payload.len() as u64;
        Ok(())
    }

    /// Hands buffered records to the operating system: they survive a
    /// crash of this process from here on.
    pub fn flush(&mut self) -> Result<(), JournalError> {
        self.file.flush().map_err(|source| JournalError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// Flushes and asks the OS to put the records on disk: they survive a
    /// power loss from here on.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.flush()?;
        self.file
            .get_ref()
            .sync_data()
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })
    }
}

/// A record that a crash left incomplete at the end of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// Byte offset where the incomplete record starts.
    pub offset: u64,
    /// Bytes from there to the end of the file.
    pub bytes: u64,
}

/// Every good record of a journal file, held in memory: for inspecting
/// small journals. Replay and resume stream the file instead ([`open`]).
#[derive(Debug)]
pub struct Scan {
    /// The records, in sequence.
    pub records: Vec<Envelope>,
    /// Byte offset of the end of each record, parallel to `records`.
    pub ends: Vec<u64>,
    /// Length of the file up to the end of the last good record.
    pub good_len: u64,
    /// An incomplete last record, if a crash left one.
    pub torn: Option<TornTail>,
}

/// Reads a whole journal file, checking the header, every checksum and the
/// sequence. A torn tail is reported in [`Scan::torn`], not as an error.
pub fn scan(path: &Path) -> Result<Scan, JournalError> {
    let file = File::open(path).map_err(|source| JournalError::Io {
        path: path.to_owned(),
        source,
    })?;
    scan_reader(BufReader::new(file), path)
}

/// The records of the journal at `path`, read one at a time.
pub fn open(path: &Path) -> Result<Records<BufReader<File>>, JournalError> {
    let file = File::open(path).map_err(|source| JournalError::Io {
        path: path.to_owned(),
        source,
    })?;
    Records::new(BufReader::new(file), path)
}

fn scan_reader(reader: impl Read, path: &Path) -> Result<Scan, JournalError> {
    let mut records = Records::new(reader, path)?;
    let mut scan = Scan {
        records: Vec::new(),
        ends: Vec::new(),
        good_len: HEADER_LEN,
        torn: None,
    };
    for record in &mut records {
        let (envelope, end) = record?;
        scan.records.push(envelope);
        scan.ends.push(end);
        scan.good_len = end;
    }
    scan.torn = records.torn;
    Ok(scan)
}

/// The records of a journal, read one at a time from `reader` (the file
/// is never held whole): each good record with the byte offset of its end,
/// or the first corruption. A torn tail ends the records and is left in
/// [`Records::torn`].
pub struct Records<R> {
    reader: R,
    path: PathBuf,
    /// Byte offset of the next record.
    offset: u64,
    /// Sequence of the last good record.
    after: u64,
    /// The incomplete last record, once reached.
    pub torn: Option<TornTail>,
    done: bool,
}

impl<R> std::fmt::Debug for Records<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("path", &self.path)
            .field("offset", &self.offset)
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Records<R> {
    /// Checks the header of the journal `reader` reads (`path` names it).
    pub fn new(mut reader: R, path: &Path) -> Result<Self, JournalError> {
        let mut header = [0u8; HEADER_LEN as usize];
        let n = read_up_to(&mut reader, &mut header, path)?;
        if n < header.len() || &header[..8] != MAGIC {
            return Err(JournalError::NotAJournal(path.to_owned()));
        }
        let version = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(JournalError::Version {
                path: path.to_owned(),
                found: version,
            });
        }
        Ok(Self {
            reader,
            path: path.to_owned(),
            offset: HEADER_LEN,
            after: 0,
            torn: None,
            done: false,
        })
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn corrupt(&self, problem: String) -> JournalError {
        JournalError::Corrupt {
            path: self.path.clone(),
            offset: self.offset,
            after: self.after,
            problem,
        }
    }

    fn next_record(&mut self) -> Result<Option<(Envelope, u64)>, JournalError> {
        let mut frame = [0u8; FRAME_LEN as usize];
        let n = read_up_to(&mut self.reader, &mut frame, &self.path)?;
        if n == 0 {
            return Ok(None);
        }
        let torn = |bytes: usize| TornTail {
            offset: self.offset,
            bytes: bytes as u64,
        };
        if n < frame.len() {
            self.torn = Some(torn(n));
            return Ok(None);
        }
        let word = |i: usize| u32::from_le_bytes(frame[i..i + 4].try_into().expect("4 bytes"));
        if crc32fast::hash(&frame[..4]) != word(4) {
            return Err(self.corrupt("damaged length field".to_owned()));
        }
        let len = u64::from(word(0));
        if len > MAX_RECORD {
            return Err(self.corrupt(format!(
                "record length {len} beyond the format's maximum of {MAX_RECORD} bytes"
            )));
        }
        // Grows with the bytes actually there: a torn record allocates no more.
        let mut payload = Vec::new();
        (&mut self.reader)
            .take(len)
            .read_to_end(&mut payload)
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })?;
        if (payload.len() as u64) < len {
            // A good length running past the end: the crash came mid-write.
            self.torn = Some(torn(frame.len() + payload.len()));
            return Ok(None);
        }
        if crc32fast::hash(&payload) != word(8) {
            return Err(self.corrupt("checksum mismatch".to_owned()));
        }
        let envelope: Envelope = serde_json::from_slice(&payload)
            .map_err(|e| self.corrupt(format!("unreadable record: {e}")))?;
        if envelope.sequence != self.after + 1 {
            return Err(self.corrupt(format!("sequence {} out of order", envelope.sequence)));
        }
        self.after = envelope.sequence;
        self.offset += FRAME_LEN + len;
        Ok(Some((envelope, self.offset)))
    }
}

impl<R: Read> Iterator for Records<R> {
    type Item = Result<(Envelope, u64), JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_record().transpose();
        self.done = !matches!(next, Some(Ok(_)));
        next
    }
}

/// Reads into `buf` until it is full or the input ends; the bytes read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8], path: &Path) -> Result<usize, JournalError> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(JournalError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Event, Ids, Source};

    fn envelope(sequence: u64) -> Envelope {
        Envelope::new(
            sequence,
            1_000,
            Source::Session,
            Ids::default(),
            Event::StrategyFailed {
                snapshot_id: sequence,
                cause: format!("record {sequence}"),
            },
        )
    }

    fn write(path: &Path, n: u64) -> Vec<u8> {
        let mut a = Appender::create(path, Existing::Overwrite).unwrap();
        for s in 1..=n {
            a.append(&envelope(s)).unwrap();
        }
        a.flush().unwrap();
        std::fs::read(path).unwrap()
    }

    #[test]
    fn a_torn_tail_is_reported_and_cut_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let full = write(&path, 3);
        let whole = scan(&path).unwrap();
        assert_eq!((whole.records.len(), whole.torn), (3, None));
        // Every cut inside the last record is a torn tail after record 2.
        for cut in whole.ends[1] + 1..full.len() as u64 {
            let s = scan_reader(&full[..cut as usize], &path).unwrap();
            assert_eq!(s.records.len(), 2, "cut at {cut}");
            assert_eq!(
                s.torn,
                Some(TornTail {
                    offset: whole.ends[1],
                    bytes: cut - whole.ends[1]
                })
            );
        }
        // A flipped byte in the complete last record is corruption, not a tear.
        let mut flipped = full.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let err = scan_reader(&flipped[..], &path).unwrap_err().to_string();
        assert!(err.contains(&format!("byte {}", whole.ends[1])), "{err}");
        let cut = whole.ends[1] as usize + 5;
        std::fs::write(&path, &full[..cut]).unwrap();
        let s = scan(&path).unwrap();
        assert_eq!(s.records.len(), 2);
        let mut a = Appender::reopen(&path, s.good_len).unwrap();
        a.append(&envelope(3)).unwrap();
        a.flush().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), full);
    }

    #[test]
    fn corruption_before_the_end_names_the_offset_and_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut bytes = write(&path, 3);
        let s = scan(&path).unwrap();
        let second = s.ends[0] as usize;
        bytes[second + FRAME_LEN as usize + 3] ^= 0x20;
        let err = scan_reader(&bytes[..], &path).unwrap_err().to_string();
        assert!(
            err.contains(&format!("byte {second}")) && err.contains("after sequence 1"),
            "{err}"
        );
        assert!(err.contains("checksum mismatch"), "{err}");
    }

    #[test]
    fn one_writer_at_a_time_and_no_silent_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut first = Appender::create(&path, Existing::Refuse).unwrap();
        first.append(&envelope(1)).unwrap();
        first.flush().unwrap();
        for existing in [Existing::Refuse, Existing::Overwrite] {
            let err = Appender::create(&path, existing).unwrap_err();
            assert!(
                matches!(&err, JournalError::Locked(p) if p == &path),
                "{err}"
            );
        }
        let err = Appender::reopen(&path, HEADER_LEN).unwrap_err();
        assert!(matches!(err, JournalError::Locked(_)), "{err}");
        first.append(&envelope(2)).unwrap();
        first.flush().unwrap();
        drop(first);
        assert_eq!(
            scan(&path).unwrap().records.len(),
            2,
            "the first journal is intact"
        );
        let err = Appender::create(&path, Existing::Refuse).unwrap_err();
        assert!(matches!(err, JournalError::Exists(_)), "{err}");
        assert_eq!(scan(&path).unwrap().records.len(), 2);
        drop(Appender::create(&path, Existing::Overwrite).unwrap());
        assert_eq!(scan(&path).unwrap().records.len(), 0);
        // A journal that recorded nothing (a failed start) is replaced.
        drop(Appender::create(&path, Existing::Refuse).unwrap());
    }

    #[test]
    fn a_damaged_or_oversized_length_is_corruption_not_a_tear() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let bytes = write(&path, 3);
        let s = scan(&path).unwrap();
        let second = s.ends[0] as usize;
        // A high bit of the second record's length: it would run past the end.
        let mut flipped = bytes.clone();
        flipped[second + 3] ^= 0x10;
        let err = scan_reader(&flipped[..], &path).unwrap_err().to_string();
        assert!(
            err.contains(&format!("byte {second}")) && err.contains("damaged length field"),
            "{err}"
        );
        // A length with a good checksum but beyond the maximum.
        let mut huge = bytes.clone();
        let len = (MAX_RECORD as u32 + 1).to_le_bytes();
        huge[second..second + 4].copy_from_slice(&len);
        huge[second + 4..second + 8].copy_from_slice(&crc32fast::hash(&len).to_le_bytes());
        let err = scan_reader(&huge[..], &path).unwrap_err().to_string();
        assert!(err.contains("beyond the format's maximum"), "{err}");
    }

    #[test]
    fn records_stream_one_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let bytes = write(&path, 5000);
        let file = BufReader::new(File::open(&path).unwrap());
        let mut records = Records::new(file, &path).unwrap();
        let mut last = (0, 0);
        for record in &mut records {
            let (envelope, end) = record.unwrap();
            assert_eq!(envelope, self::envelope(last.0 + 1));
            assert!(end > last.1);
            last = (envelope.sequence, end);
        }
        assert_eq!(last, (5000, bytes.len() as u64));
        assert_eq!(records.torn, None);
        // Cut in the last record: 4999 records, then the torn tail.
        let cut = &bytes[..bytes.len() - 3];
        let mut records = Records::new(cut, &path).unwrap();
        assert_eq!(records.by_ref().count(), 4999);
        assert!(records.torn.is_some());
    }

    #[test]
    fn other_files_and_versions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        std::fs::write(&path, b"time,Open\n").unwrap();
        assert!(matches!(scan(&path), Err(JournalError::NotAJournal(_))));
        let mut bytes = MAGIC.to_vec();
        bytes.extend(9u32.to_le_bytes());
        std::fs::write(&path, bytes).unwrap();
        let err = scan(&path).unwrap_err().to_string();
        assert!(err.contains("format version 9"), "{err}");
    }
}
