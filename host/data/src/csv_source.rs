//! CSV files: a header row naming the columns, then one row per item, with
//! the fields found by name (see [`crate::read::resolve`]).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Location};
use crate::kind::DataKind;
use crate::number;
use crate::options::ReadOptions;
use crate::read::{resolve, Layout, Names, RawRow, Source};
use crate::time::TimeParser;

/// Longest line a market data file may have: real rows are well under 200
/// bytes, and without a cap a file such as `/dev/zero` (one endless line)
/// would be buffered whole.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Rows of a CSV file.
pub(crate) struct CsvSource<R: Read> {
    csv: csv::Reader<LineCap<R>>,
    path: PathBuf,
    record: csv::StringRecord,
    layout: Layout,
    width: usize,
    times: TimeParser,
}

impl<R: Read> CsvSource<R> {
    pub(crate) fn new(
        reader: R,
        path: &Path,
        kind: DataKind,
        options: &ReadOptions,
    ) -> Result<Self, Error> {
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .delimiter(options.delimiter.0)
            .from_reader(LineCap::new(reader));
        // Read as bytes first: a Parquet file is not UTF-8, and its magic
        // says what it is. A read error (an endless line) is reported here;
        // the reader would not repeat it.
        let bytes = csv.byte_headers().map_err(|e| csv_error(path, e))?;
        if bytes.get(0).is_some_and(|first| first.starts_with(b"PAR1")) {
            return Err(Error::row(
                path,
                Location::Line(1),
                "this is a Parquet file: name it *.parquet or set format = \"parquet\"",
            ));
        }
        let headers = csv.headers().map_err(|e| csv_error(path, e))?.clone();
        let header: Vec<&str> = headers.iter().collect();
        // Without a `time` column, the first is the time: the bundled files
        // and pandas' `to_csv` leave its header empty, Yahoo calls it `Date`.
        let layout = resolve(kind, &options.columns, &header, Some(0))
            .map_err(|problem| Error::row(path, Location::Line(1), problem))?;
        Ok(Self {
            csv,
            path: path.to_owned(),
            record: csv::StringRecord::new(),
            layout,
            width: headers.len(),
            times: TimeParser::new(options.time_format.clone(), options.timezone),
        })
    }
}

impl<R: Read> Source for CsvSource<R> {
    fn names(&self) -> &Names {
        &self.layout.names
    }

    fn next_row(&mut self, row: &mut RawRow) -> Result<bool, Error> {
        match self.csv.read_record(&mut self.record) {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => return Err(csv_error(&self.path, e)),
        }
        let line = self.record.position().map_or(0, |p| p.line());
        row.at = Location::Line(line);
        let fail = |problem: String| Error::row(&self.path, Location::Line(line), problem);
        if self.record.len() != self.width {
            return Err(fail(format!(
                "expected {} columns, found {}",
                self.width,
                self.record.len()
            )));
        }
        let names = &self.layout.names;
        let text = &self.record[self.layout.time];
        row.time = self
            .times
            .text(text)
            .map_err(|problem| fail(format!("column {}: {problem}", names.time)))?;
        for ((slot, column), name) in row
            .values
            .iter_mut()
            .zip(&self.layout.values)
            .zip(&names.values)
        {
            *slot = match column {
                Some(i) => {
                    let text = self.record[*i].trim();
                    number::from_text(text)
                        .ok_or_else(|| fail(format!("column {name}: invalid number '{text}'")))?
                }
                None => Default::default(),
            };
        }
        Ok(true)
    }
}

/// A line of a market data file longer than [`MAX_LINE_BYTES`].
#[derive(Debug, thiserror::Error)]
#[error("line is longer than {MAX_LINE_BYTES} bytes")]
struct LineTooLong {
    /// 1-based line number.
    line: u64,
}

/// A reader that fails once a line grows beyond [`MAX_LINE_BYTES`].
struct LineCap<R> {
    inner: R,
    /// Bytes since the last line end.
    run: usize,
    /// Line ends seen.
    lines: u64,
}

impl<R> LineCap<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            run: 0,
            lines: 0,
        }
    }
}

impl<R: Read> Read for LineCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &byte in &buf[..n] {
            if byte == b'\n' || byte == b'\r' {
                self.lines += u64::from(byte == b'\n');
                self.run = 0;
            } else {
                self.run += 1;
                if self.run > MAX_LINE_BYTES {
                    let line = self.lines + 1;
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        LineTooLong { line },
                    ));
                }
            }
        }
        Ok(n)
    }
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    let line = e.position().map_or(0, |p| p.line());
    let problem = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(cause) => {
            if let Some(long) = cause
                .get_ref()
                .and_then(|e| e.downcast_ref::<LineTooLong>())
            {
                return Error::row(path, Location::Line(long.line), long.to_string());
            }
            Error::Read {
                path: path.to_owned(),
                cause,
            }
        }
        _ => Error::row(path, Location::Line(line), problem),
    }
}
