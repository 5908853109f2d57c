//! Self-describing test values: each one names its key and sequence number and
//! ends with a checksum, so a reader can tell an intact value from a torn,
//! truncated or misplaced one without knowing what was written.

/// Marks the start of every record, so a record is never mistaken for other data.
const MAGIC: &[u8] = b"coffer-test-record\n";

/// What an intact record says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The key the record was written under.
    pub key: String,
    /// The writer's sequence number.
    pub seq: u64,
}

/// Builds a value for `key` carrying `seq` and `payload_len` bytes of payload
/// that covers every byte value 0x00..=0xff.
pub fn encode(key: &str, seq: u64, payload_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAGIC.len() + key.len() + payload_len + 48);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(format!("{key}\n{seq}\n{payload_len}\n").as_bytes());
    out.extend(payload(seq, payload_len));
    let sum = fnv1a64(&out);
    out.extend_from_slice(&sum.to_be_bytes());
    out
}

/// Checks a value made by [`encode`] and returns what it says, or why it is
/// not intact.
pub fn decode(bytes: &[u8]) -> Result<Record, String> {
    let (body, sum) = bytes
        .split_last_chunk::<8>()
        .ok_or_else(|| format!("value of {} bytes is too short", bytes.len()))?;
    if fnv1a64(body) != u64::from_be_bytes(*sum) {
        return Err(format!(
            "checksum mismatch in a value of {} bytes",
            bytes.len()
        ));
    }
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or("value does not start with the record marker")?;
    let mut fields = rest.splitn(4, |b| *b == b'\n');
    let mut text = |name: &str| -> Result<String, String> {
        let raw = fields.next().ok_or(format!("record has no {name}"))?;
        String::from_utf8(raw.to_vec()).map_err(|_| format!("record {name} is not UTF-8"))
    };
    let key = text("key")?;
    let seq: u64 = text("seq")?.parse().map_err(|e| format!("bad seq: {e}"))?;
    let len: usize = text("length")?
        .parse()
        .map_err(|e| format!("bad length: {e}"))?;
    let data = fields.next().ok_or("record has no payload")?;
    if data.len() != len || !data.iter().copied().eq(payload(seq, len)) {
        return Err(format!("payload of {key:?} seq {seq} is damaged"));
    }
    Ok(Record { key, seq })
}

/// Deterministic payload that still differs between records.
fn payload(seq: u64, len: usize) -> impl Iterator<Item = u8> {
    // Truncation to u8 is the point: it walks through every byte value.
    (0..len).map(move |i| {
        (i as u64)
            .wrapping_mul(31)
            .wrapping_add(seq.wrapping_mul(7)) as u8
    })
}

/// FNV-1a, 64 bit: tiny, dependency-free, and enough to detect torn writes.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intact_record_decodes_to_its_key_and_seq() {
        let v = encode("a/b", 42, 1000);
        assert_eq!(
            decode(&v),
            Ok(Record {
                key: "a/b".into(),
                seq: 42
            })
        );
    }

    #[test]
    fn any_flipped_or_missing_byte_is_detected() {
        let v = encode("k", 7, 300);
        for i in 0..v.len() {
            let mut bad = v.clone();
            bad[i] ^= 0x01;
            assert!(decode(&bad).is_err(), "flip at {i} went unnoticed");
        }
        assert!(decode(&v[..v.len() - 1]).is_err());
        assert!(decode(&v[1..]).is_err());
        assert!(decode(b"").is_err());
    }
}
