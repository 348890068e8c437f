//! The compact binary encoding used across the wasm boundary, in snapshots and in journals.
//!
//! Every frame is `b"TS"`, one kind byte, the protocol version (u16, little endian), then the bincode body
//! (standard configuration: varint integers). A frame of another kind or version is refused, never guessed at.

use crate::command::Command;
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// Version of every binary layout in this crate.
pub const PROTOCOL_VERSION: u16 = 1;

const MAGIC: [u8; 2] = *b"TS";
const HEADER_LEN: usize = 5;

/// What a frame holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    Batch = 1,
    Events = 2,
    Snapshot = 3,
    Config = 4,
    View = 5,
    ViewRequest = 6,
    Error = 7,
}

/// One guest call's input: commands applied at the current step, then `steps` steps of simulated time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct Batch {
    pub commands: Vec<Command>,
    pub steps: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("frame is shorter than its header")]
    Truncated,
    #[error("frame does not start with the tradesim magic")]
    BadMagic,
    #[error("expected a {expected:?} frame, got kind {found}")]
    WrongKind { expected: FrameKind, found: u8 },
    #[error("frame has protocol version {found}, this build speaks {PROTOCOL_VERSION}")]
    WrongVersion { found: u16 },
    #[error("frame body does not decode: {0}")]
    Body(String),
    #[error("frame has {0} bytes after its body")]
    TrailingBytes(usize),
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// Encodes `value` as a frame of `kind`, appending to `out`.
pub fn encode_into<T: Encode>(kind: FrameKind, value: &T, out: &mut Vec<u8>) {
    out.extend_from_slice(&MAGIC);
    out.push(kind as u8);
    out.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    // Writing into a Vec cannot fail, and every type here encodes.
    if let Err(error) = bincode::encode_into_std_write(value, out, bincode_config()) {
        unreachable!("encoding into memory failed: {error}");
    }
}

/// Encodes `value` as a frame of `kind` at the start of `buffer` and returns the frame's length. The buffer is used
/// as an initialized slice (grown by doubling when a frame does not fit) and can be reused from call to call:
/// encoding into a slice is about twice as fast as appending to a `Vec`, which checks capacity on every write.
pub fn encode_into_buffer<T: Encode>(kind: FrameKind, value: &T, buffer: &mut Vec<u8>) -> usize {
    if buffer.len() < HEADER_LEN + 64 {
        buffer.resize(HEADER_LEN + 64, 0);
    }
    buffer[..2].copy_from_slice(&MAGIC);
    buffer[2] = kind as u8;
    buffer[3..HEADER_LEN].copy_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    loop {
        match bincode::encode_into_slice(value, &mut buffer[HEADER_LEN..], bincode_config()) {
            Ok(written) => return HEADER_LEN + written,
            Err(bincode::error::EncodeError::UnexpectedEnd) => buffer.resize(buffer.len() * 2, 0),
            Err(error) => unreachable!("encoding into memory failed: {error}"),
        }
    }
}

pub fn encode<T: Encode>(kind: FrameKind, value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(kind, value, &mut out);
    out
}

/// Checks the header of a frame of `kind` and returns its body.
pub fn frame_body(kind: FrameKind, frame: &[u8]) -> Result<&[u8], CodecError> {
    if frame.len() < HEADER_LEN {
        return Err(CodecError::Truncated);
    }
    if frame[..2] != MAGIC {
        return Err(CodecError::BadMagic);
    }
    if frame[2] != kind as u8 {
        return Err(CodecError::WrongKind { expected: kind, found: frame[2] });
    }
    let version = u16::from_le_bytes([frame[3], frame[4]]);
    if version != PROTOCOL_VERSION {
        return Err(CodecError::WrongVersion { found: version });
    }
    Ok(&frame[HEADER_LEN..])
}

pub fn decode<T: Decode<()>>(kind: FrameKind, frame: &[u8]) -> Result<T, CodecError> {
    let body = frame_body(kind, frame)?;
    let (value, used) =
        bincode::decode_from_slice(body, bincode_config()).map_err(|e| CodecError::Body(e.to_string()))?;
    match body.len() - used {
        0 => Ok(value),
        extra => Err(CodecError::TrailingBytes(extra)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{InstrumentId, ParticipantId};

    fn sample_batch() -> Batch {
        Batch {
            commands: vec![Command::MassCancel {
                participant: ParticipantId::USER,
                instrument: Some(InstrumentId(0)),
                side: None,
            }],
            steps: 3,
        }
    }

    #[test]
    fn batch_round_trips() {
        let frame = encode(FrameKind::Batch, &sample_batch());
        assert_eq!(&frame[..5], &[b'T', b'S', 1, 1, 0]);
        assert_eq!(decode::<Batch>(FrameKind::Batch, &frame), Ok(sample_batch()));
    }

    #[test]
    fn buffer_encoding_matches_and_grows() {
        let batch = Batch { commands: vec![sample_batch().commands[0]; 50], steps: 1 };
        let mut buffer = vec![0; 8];
        let len = encode_into_buffer(FrameKind::Batch, &batch, &mut buffer);
        assert_eq!(&buffer[..len], &encode(FrameKind::Batch, &batch)[..]);
        let again = encode_into_buffer(FrameKind::Batch, &sample_batch(), &mut buffer);
        assert_eq!(&buffer[..again], &encode(FrameKind::Batch, &sample_batch())[..]);
    }

    #[test]
    fn refuses_other_kinds_versions_and_garbage() {
        let mut frame = encode(FrameKind::Batch, &sample_batch());
        assert_eq!(
            decode::<Batch>(FrameKind::Events, &frame),
            Err(CodecError::WrongKind { expected: FrameKind::Events, found: 1 })
        );
        assert_eq!(decode::<Batch>(FrameKind::Batch, &frame[..3]), Err(CodecError::Truncated));
        frame.push(0);
        assert_eq!(decode::<Batch>(FrameKind::Batch, &frame), Err(CodecError::TrailingBytes(1)));
        frame[3] = 9;
        assert_eq!(decode::<Batch>(FrameKind::Batch, &frame), Err(CodecError::WrongVersion { found: 9 }));
        assert_eq!(decode::<Batch>(FrameKind::Batch, b"XXXXXXX"), Err(CodecError::BadMagic));
        assert!(matches!(decode::<Batch>(FrameKind::Batch, &[b'T', b'S', 1, 1, 0, 0xff]), Err(CodecError::Body(_))));
    }
}
