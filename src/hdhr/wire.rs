//! The HDHomeRun frame codec shared by UDP discovery and TCP control (spec §2.1–§2.3):
//! `u16 type (BE) | u16 payload length (BE) | TLVs | CRC-32 (LE)`, TLV lengths in one or two
//! bytes. Pure: bytes in, typed requests out, replies built as bytes. Every parser returns an
//! error instead of panicking on any input (fuzzed by `fuzz/fuzz_targets/wire.rs` and a
//! property test); unknown tags are skipped as libhdhomerun does.

/// Largest frame libhdhomerun sends or accepts (header + payload + CRC).
pub const MAX_PACKET: usize = 1460;
/// Largest payload (`MAX_PACKET` minus the 4-byte header and the 4-byte CRC).
pub const MAX_PAYLOAD: usize = MAX_PACKET - 8;

/// Frame types (spec §2.3).
pub mod kind {
    /// Discovery request.
    pub const DISCOVER_REQ: u16 = 0x0002;
    /// Discovery reply.
    pub const DISCOVER_RPY: u16 = 0x0003;
    /// Control get/set request.
    pub const GETSET_REQ: u16 = 0x0004;
    /// Control get/set reply.
    pub const GETSET_RPY: u16 = 0x0005;
}

/// TLV tags (spec §2.3).
pub mod tag {
    /// Device type (u32).
    pub const DEVICE_TYPE: u8 = 0x01;
    /// Device id (u32).
    pub const DEVICE_ID: u8 = 0x02;
    /// Get/set variable name (NUL-terminated).
    pub const GETSET_NAME: u8 = 0x03;
    /// Get/set value (NUL-terminated).
    pub const GETSET_VALUE: u8 = 0x04;
    /// Error text (NUL-terminated).
    pub const ERROR_MESSAGE: u8 = 0x05;
    /// Tuner count (one byte).
    pub const TUNER_COUNT: u8 = 0x10;
    /// Lock key of a set (u32).
    pub const GETSET_LOCKKEY: u8 = 0x15;
    /// Lineup URL (string, no NUL).
    pub const LINEUP_URL: u8 = 0x27;
    /// Base URL (string, no NUL).
    pub const BASE_URL: u8 = 0x2A;
    /// Device auth (string, no NUL).
    pub const DEVICE_AUTH_STR: u8 = 0x2B;
    /// A list of u32 device types.
    pub const MULTI_TYPE: u8 = 0x2D;
}

/// Device type of a tuner.
pub const DEVICE_TYPE_TUNER: u32 = 0x0000_0001;
/// Wildcard device type / device id.
pub const WILDCARD: u32 = 0xFFFF_FFFF;

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Fewer than the 8 bytes of header + CRC.
    #[error("frame of {0} bytes is shorter than header + CRC")]
    TooShort(usize),
    /// The declared payload is larger than the protocol allows.
    #[error("declared payload of {0} bytes exceeds {MAX_PAYLOAD}")]
    TooLong(usize),
    /// The datagram length does not match the declared payload length.
    #[error("frame declares {declared} payload bytes but carries {actual}")]
    LengthMismatch {
        /// Declared in the header.
        declared: usize,
        /// Actually present.
        actual: usize,
    },
    /// CRC mismatch.
    #[error("bad CRC: computed {computed:08x}, frame says {found:08x}")]
    BadCrc {
        /// Over header + payload.
        computed: u32,
        /// Stored in the frame.
        found: u32,
    },
    /// A TLV runs past the end of the payload.
    #[error("TLV at offset {0} runs past the payload")]
    TruncatedTlv(usize),
    /// A frame of a type this parser does not take.
    #[error("unexpected frame type {0:#06x}")]
    WrongType(u16),
    /// A known tag with a value of the wrong size or encoding.
    #[error("tag {tag:#04x} has a malformed value")]
    BadValue {
        /// The tag.
        tag: u8,
    },
    /// A get/set request without a name.
    #[error("get/set request without a name")]
    MissingName,
    /// A value too large to encode.
    #[error("value of {0} bytes cannot be encoded")]
    ValueTooLarge(usize),
}

/// One decoded frame, borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Frame type.
    pub kind: u16,
    /// TLV payload.
    pub payload: &'a [u8],
}

/// The CRC libhdhomerun uses (zlib CRC-32 over header + payload).
pub fn crc(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// Length of the complete frame at the start of `buf`: `Ok(None)` if more bytes are needed
/// (TCP reads may split a frame), an error if the header already declares too much.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, WireError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let declared = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    if declared > MAX_PAYLOAD {
        return Err(WireError::TooLong(declared));
    }
    let total = declared + 8;
    Ok((buf.len() >= total).then_some(total))
}

/// Decode exactly one frame filling `buf` (a datagram, or a slice cut by [`frame_len`]).
pub fn decode(buf: &[u8]) -> Result<Frame<'_>, WireError> {
    if buf.len() < 8 {
        return Err(WireError::TooShort(buf.len()));
    }
    let kind = u16::from_be_bytes([buf[0], buf[1]]);
    let declared = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    if declared > MAX_PAYLOAD {
        return Err(WireError::TooLong(declared));
    }
    if buf.len() != declared + 8 {
        return Err(WireError::LengthMismatch { declared, actual: buf.len().saturating_sub(8) });
    }
    let body = &buf[..4 + declared];
    let found = u32::from_le_bytes([buf[4 + declared], buf[5 + declared], buf[6 + declared], buf[7 + declared]]);
    let computed = crc(body);
    if computed != found {
        return Err(WireError::BadCrc { computed, found });
    }
    Ok(Frame { kind, payload: &buf[4..4 + declared] })
}

/// One tag-length-value item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag.
    pub tag: u8,
    /// The value bytes.
    pub value: &'a [u8],
}

/// Iterate the TLVs of a payload; yields an error (then stops) on a truncated item.
pub fn tlvs(payload: &[u8]) -> Tlvs<'_> {
    Tlvs { payload, pos: 0, failed: false }
}

/// Iterator returned by [`tlvs`].
#[derive(Debug, Clone)]
pub struct Tlvs<'a> {
    payload: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Iterator for Tlvs<'a> {
    type Item = Result<Tlv<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.payload.len() {
            return None;
        }
        let start = self.pos;
        let p = self.payload;
        let fail = |s: &mut Self| {
            s.failed = true;
            Some(Err(WireError::TruncatedTlv(start)))
        };
        let Some(&tag) = p.get(start) else { return fail(self) };
        let Some(&l0) = p.get(start + 1) else { return fail(self) };
        let (len, header) = if l0 & 0x80 == 0 {
            (usize::from(l0), 2)
        } else {
            let Some(&l1) = p.get(start + 2) else { return fail(self) };
            (usize::from(l0 & 0x7F) | (usize::from(l1) << 7), 3)
        };
        let Some(value) = p.get(start + header..start + header + len) else { return fail(self) };
        self.pos = start + header + len;
        Some(Ok(Tlv { tag, value }))
    }
}

/// Builds one frame: header, TLVs, CRC.
#[derive(Debug, Clone)]
pub struct FrameBuilder {
    buf: Vec<u8>,
}

impl FrameBuilder {
    /// Start a frame of type `kind`.
    pub fn new(kind: u16) -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&kind.to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        Self { buf }
    }

    /// Append a TLV; refused if the frame would exceed [`MAX_PAYLOAD`].
    pub fn push(&mut self, tag: u8, value: &[u8]) -> Result<&mut Self, WireError> {
        let len = value.len();
        let header = if len < 128 { 2 } else { 3 };
        if self.buf.len() - 4 + header + len > MAX_PAYLOAD {
            return Err(WireError::ValueTooLarge(len));
        }
        self.buf.push(tag);
        if len < 128 {
            self.buf.push(len as u8);
        } else {
            self.buf.push((len & 0x7F) as u8 | 0x80);
            self.buf.push((len >> 7) as u8);
        }
        self.buf.extend_from_slice(value);
        Ok(self)
    }

    /// Append a big-endian u32 value.
    pub fn push_u32(&mut self, tag: u8, v: u32) -> Result<&mut Self, WireError> {
        self.push(tag, &v.to_be_bytes())
    }

    /// Append a string with its terminating NUL (control get/set values).
    pub fn push_cstr(&mut self, tag: u8, s: &str) -> Result<&mut Self, WireError> {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.push(tag, &v)
    }

    /// Write the length and CRC; the finished frame.
    pub fn finish(mut self) -> Vec<u8> {
        let len = (self.buf.len() - 4) as u16;
        self.buf[2..4].copy_from_slice(&len.to_be_bytes());
        let c = crc(&self.buf);
        self.buf.extend_from_slice(&c.to_le_bytes());
        self.buf
    }
}

fn be_u32(tag: u8, v: &[u8]) -> Result<u32, WireError> {
    <[u8; 4]>::try_from(v).map(u32::from_be_bytes).map_err(|_| WireError::BadValue { tag })
}

/// A discovery request, whatever client sent it (spec §2.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiscoverRequest {
    /// Requested device types (DEVICE_TYPE tags and MULTI_TYPE entries); empty = any.
    pub types: Vec<u32>,
    /// Requested device id; `None` = any.
    pub device_id: Option<u32>,
}

impl DiscoverRequest {
    /// Parse a datagram (type must be DISCOVER_REQ).
    pub fn parse(datagram: &[u8]) -> Result<Self, WireError> {
        let frame = decode(datagram)?;
        if frame.kind != kind::DISCOVER_REQ {
            return Err(WireError::WrongType(frame.kind));
        }
        let mut req = Self::default();
        for t in tlvs(frame.payload) {
            let t = t?;
            match t.tag {
                tag::DEVICE_TYPE => req.types.push(be_u32(t.tag, t.value)?),
                tag::DEVICE_ID => req.device_id = Some(be_u32(t.tag, t.value)?),
                tag::MULTI_TYPE => {
                    if t.value.is_empty() || t.value.len() % 4 != 0 {
                        return Err(WireError::BadValue { tag: t.tag });
                    }
                    req.types.extend(t.value.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])));
                }
                _ => {}
            }
        }
        Ok(req)
    }

    /// Whether a tuner with id `ours` should answer (spec §2.4 matching rule).
    pub fn matches(&self, ours: u32) -> bool {
        let type_ok = self.types.is_empty() || self.types.iter().any(|&t| t == DEVICE_TYPE_TUNER || t == WILDCARD);
        let id_ok = self.device_id.is_none_or(|id| id == WILDCARD || id == ours);
        type_ok && id_ok
    }
}

/// What a discovery reply carries (spec §2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverReply<'a> {
    /// Our device id.
    pub device_id: u32,
    /// Tuners offered.
    pub tuner_count: u8,
    /// Numeric-IPv4 base URL (at most 28 characters for old clients).
    pub base_url: &'a str,
    /// `<base_url>/lineup.json`.
    pub lineup_url: &'a str,
    /// 24-character device auth.
    pub device_auth: &'a str,
}

impl DiscoverReply<'_> {
    /// The reply frame.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut b = FrameBuilder::new(kind::DISCOVER_RPY);
        b.push_u32(tag::DEVICE_TYPE, DEVICE_TYPE_TUNER)?
            .push_u32(tag::DEVICE_ID, self.device_id)?
            .push(tag::TUNER_COUNT, &[self.tuner_count])?
            .push(tag::BASE_URL, self.base_url.as_bytes())?
            .push(tag::LINEUP_URL, self.lineup_url.as_bytes())?
            .push(tag::DEVICE_AUTH_STR, self.device_auth.as_bytes())?;
        Ok(b.finish())
    }
}

/// A control get (or set) request (spec §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetSetRequest {
    /// Variable name, without its NUL.
    pub name: String,
    /// Value of a set; `None` for a get.
    pub value: Option<String>,
    /// Lock key, if given.
    pub lockkey: Option<u32>,
}

fn cstr(tag: u8, v: &[u8]) -> Result<String, WireError> {
    let v = v.strip_suffix(&[0]).unwrap_or(v);
    if v.contains(&0) {
        return Err(WireError::BadValue { tag });
    }
    String::from_utf8(v.to_vec()).map_err(|_| WireError::BadValue { tag })
}

impl GetSetRequest {
    /// Parse a decoded frame (type must be GETSET_REQ).
    pub fn from_frame(frame: Frame<'_>) -> Result<Self, WireError> {
        if frame.kind != kind::GETSET_REQ {
            return Err(WireError::WrongType(frame.kind));
        }
        let (mut name, mut value, mut lockkey) = (None, None, None);
        for t in tlvs(frame.payload) {
            let t = t?;
            match t.tag {
                tag::GETSET_NAME => name = Some(cstr(t.tag, t.value)?),
                tag::GETSET_VALUE => value = Some(cstr(t.tag, t.value)?),
                tag::GETSET_LOCKKEY => lockkey = Some(be_u32(t.tag, t.value)?),
                _ => {}
            }
        }
        let name = name.filter(|n| !n.is_empty()).ok_or(WireError::MissingName)?;
        Ok(Self { name, value, lockkey })
    }

    /// The request as a frame (what `hdhomerun_config` sends; used by tests and the fuzzer).
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut b = FrameBuilder::new(kind::GETSET_REQ);
        b.push_cstr(tag::GETSET_NAME, &self.name)?;
        if let Some(v) = &self.value {
            b.push_cstr(tag::GETSET_VALUE, v)?;
        }
        if let Some(k) = self.lockkey {
            b.push_u32(tag::GETSET_LOCKKEY, k)?;
        }
        Ok(b.finish())
    }
}

/// A control reply: the echoed name and either a value or an error message.
pub fn getset_reply(name: &str, answer: Result<&str, &str>) -> Result<Vec<u8>, WireError> {
    let mut b = FrameBuilder::new(kind::GETSET_RPY);
    b.push_cstr(tag::GETSET_NAME, name)?;
    match answer {
        Ok(v) => b.push_cstr(tag::GETSET_VALUE, v)?,
        Err(e) => b.push_cstr(tag::ERROR_MESSAGE, e)?,
    };
    Ok(b.finish())
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
