//! base64url helpers: strict for token segments, lenient about padding for key material.

use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

/// Keys published by issuers sometimes carry `=` padding; accept both forms there.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A JWS segment: unpadded, canonical base64url (RFC 7515 §2), nothing else.
pub(crate) fn decode_segment(segment: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(segment).ok()
}

/// A JWS segment decoded into `buf` when it fits (a typical header, payload or signature), else onto
/// the heap; same rules as [`decode_segment`].
pub(crate) fn decode_segment_buffered<'b, const N: usize>(
    segment: &str,
    buf: &'b mut [u8; N],
    heap: &'b mut Vec<u8>,
) -> Option<&'b [u8]> {
    match URL_SAFE_NO_PAD.decode_slice(segment, buf) {
        Ok(n) => Some(&buf[..n]),
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
            *heap = decode_segment(segment)?;
            Some(heap)
        }
        Err(base64::DecodeSliceError::DecodeError(_)) => None,
    }
}

/// A JWK member (`n`, `e`, `x`, `y`, `pub`).
pub(crate) fn decode_member(member: &str) -> Option<Vec<u8>> {
    LENIENT.decode(member).ok()
}

/// Unpadded base64url.
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}
