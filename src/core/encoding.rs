//! Byte-level building blocks of every canonical format in SPEC.md.
//!
//! All integers are big-endian (network order, like RFC 6962 and TLS);
//! variable-length strings carry a `u16` length prefix. Length prefixes are what
//! make the encodings unambiguous: no two different values share bytes.

use super::Error;

/// Appends canonical fields to a byte buffer.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn with_capacity(n: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(n),
        }
    }
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }
    /// A `u16` length followed by the UTF-8 bytes. Callers validate lengths
    /// first (every string field is far below 65,535 bytes), so the cast
    /// cannot truncate; it is checked anyway.
    pub fn str(&mut self, s: &str) -> &mut Self {
        let len = u16::try_from(s.len()).expect("validated strings fit a u16 length");
        self.raw(&len.to_be_bytes()).raw(s.as_bytes())
    }
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

/// Reads canonical fields, naming the field in every error so a third party
/// sees exactly where a malformed leaf went wrong.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], Error> {
        if self.rest.len() < n {
            return Err(Error::malformed(field, "truncated"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Error> {
        Ok(self.take(N, field)?.try_into().expect("length checked"))
    }
    pub fn u8(&mut self, field: &'static str) -> Result<u8, Error> {
        Ok(self.take(1, field)?[0])
    }
    pub fn u16(&mut self, field: &'static str) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }
    pub fn u32(&mut self, field: &'static str) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }
    pub fn u64(&mut self, field: &'static str) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }
    pub fn str(&mut self, field: &'static str) -> Result<&'a str, Error> {
        let len = self.u16(field)? as usize;
        let bytes = self.take(len, field)?;
        std::str::from_utf8(bytes).map_err(|_| Error::malformed(field, "not valid UTF-8"))
    }
    /// Canonical encodings have no trailing bytes: accepting them would give
    /// one value many encodings.
    pub fn finish(self, what: &'static str) -> Result<(), Error> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Error::malformed(what, "trailing bytes"))
        }
    }
}
