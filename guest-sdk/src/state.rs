//! A tiny versioned byte format for [`Strategy::save_state`] and
//! [`Strategy::restore_state`](crate::Strategy::restore_state).
//!
//! Layout: one version byte chosen by the strategy, then the values in the
//! order they were written, integers little-endian and `f64`s as their IEEE
//! bits (so a restored strategy continues bit for bit). There are no field
//! names or lengths: the version byte is what tells a reader which layout
//! follows, so bump it whenever the layout changes.
//!
//! [`Strategy::save_state`]: crate::Strategy::save_state

/// Builds saved state: the version byte, then values in order.
#[derive(Debug)]
pub struct StateWriter {
    bytes: Vec<u8>,
}

impl StateWriter {
    /// Starts state of layout `version`.
    pub fn new(version: u8) -> StateWriter {
        StateWriter {
            bytes: vec![version],
        }
    }

    /// Appends one byte.
    pub fn write_u8(&mut self, value: u8) {
        self.bytes.push(value);
    }

    /// Appends a `u64`, little-endian.
    pub fn write_u64(&mut self, value: u64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// Appends an `i64`, little-endian.
    pub fn write_i64(&mut self, value: i64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// Appends an `f64` as its IEEE-754 bits, little-endian.
    pub fn write_f64(&mut self, value: f64) {
        self.bytes.extend_from_slice(&value.to_bits().to_le_bytes());
    }

    /// The finished state.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads state written by a [`StateWriter`]. Every read checks the length, so
/// truncated or foreign bytes give an error, never a panic.
#[derive(Debug)]
pub struct StateReader<'a> {
    version: u8,
    rest: &'a [u8],
    offset: usize,
}

impl<'a> StateReader<'a> {
    /// Opens `bytes`, reading the version byte. Empty input is an error.
    pub fn new(bytes: &'a [u8]) -> Result<StateReader<'a>, String> {
        match bytes.split_first() {
            Some((&version, rest)) => Ok(StateReader {
                version,
                rest,
                offset: 1,
            }),
            None => Err("state is empty: no version byte".to_string()),
        }
    }

    /// The layout version the writer declared.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// Reads one byte.
    pub fn read_u8(&mut self) -> Result<u8, String> {
        self.take::<1>().map(|[byte]| byte)
    }

    /// Reads a little-endian `u64`.
    pub fn read_u64(&mut self) -> Result<u64, String> {
        self.take().map(u64::from_le_bytes)
    }

    /// Reads a little-endian `i64`.
    pub fn read_i64(&mut self) -> Result<i64, String> {
        self.take().map(i64::from_le_bytes)
    }

    /// Reads an `f64` from its little-endian IEEE-754 bits.
    pub fn read_f64(&mut self) -> Result<f64, String> {
        self.take()
            .map(|bytes| f64::from_bits(u64::from_le_bytes(bytes)))
    }

    /// Checks that every byte was read: leftovers mean the bytes were written
    /// with another layout than the one the reader assumed.
    pub fn finish(self) -> Result<(), String> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "state version {} has {} unexpected trailing bytes at offset {}",
                self.version,
                self.rest.len(),
                self.offset
            ))
        }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let Some((bytes, rest)) = self.rest.split_first_chunk::<N>() else {
            return Err(format!(
                "state version {} is truncated: expected {N} more bytes at offset {}, found {}",
                self.version,
                self.offset,
                self.rest.len()
            ));
        };
        self.rest = rest;
        self.offset += N;
        Ok(*bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_values_bit_for_bit() {
        let mut writer = StateWriter::new(3);
        writer.write_u8(7);
        writer.write_u64(u64::MAX - 1);
        writer.write_i64(-42);
        writer.write_f64(0.1 + 0.2);
        writer.write_f64(-0.0);
        let bytes = writer.into_bytes();
        assert_eq!(bytes.len(), 1 + 1 + 8 * 4);
        assert_eq!(&bytes[..3], &[3, 7, 0xfe]);

        let mut reader = StateReader::new(&bytes).unwrap();
        assert_eq!(reader.version(), 3);
        assert_eq!(reader.read_u8(), Ok(7));
        assert_eq!(reader.read_u64(), Ok(u64::MAX - 1));
        assert_eq!(reader.read_i64(), Ok(-42));
        assert_eq!(
            reader.read_f64().map(f64::to_bits),
            Ok((0.1f64 + 0.2).to_bits())
        );
        assert_eq!(reader.read_f64().map(f64::to_bits), Ok((-0.0f64).to_bits()));
        assert_eq!(reader.finish(), Ok(()));
    }

    #[test]
    fn refuses_empty_truncated_and_oversized_state() {
        assert_eq!(
            StateReader::new(&[]).unwrap_err(),
            "state is empty: no version byte"
        );
        let mut reader = StateReader::new(&[1, 2, 3]).unwrap();
        assert_eq!(
            reader.read_u64().unwrap_err(),
            "state version 1 is truncated: expected 8 more bytes at offset 1, found 2"
        );
        assert_eq!(reader.read_u8(), Ok(2));
        assert_eq!(
            reader.finish().unwrap_err(),
            "state version 1 has 1 unexpected trailing bytes at offset 2"
        );
    }
}
