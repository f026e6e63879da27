//! Cloud Storage range headers: a resumable upload's 308 `Range: bytes=0-N` (how much the server
//! holds) applied to the chunk in flight, and a ranged download's 206 `Content-Range`.
//! Input: one flag byte, the upload offset (8 bytes), the chunk length (2 bytes), the header.
//!
//! Beyond "no panic": a confirmed offset never leaves the chunk that was sent, and a partial
//! response's span is never empty.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wif_storage::fuzzing::{partial_content, resumable_308};

fuzz_target!(|data: &[u8]| {
    let Some((head, header)) = data.split_at_checked(11) else {
        return;
    };
    let mut offset = [0u8; 8];
    offset.copy_from_slice(&head[1..9]);
    let offset = u64::from_le_bytes(offset);
    let pending = usize::from(u16::from_le_bytes([head[9], head[10]]));
    // The upload path guarantees the window lies inside the source (`UploadSource::open` refuses
    // to skip past its end), so offset + pending always fits: don't fuzz impossible states.
    let offset = offset.min(u64::MAX - pending as u64);
    let range = (head[0] & 1 == 0).then_some(header);
    if let Ok(confirmed) = resumable_308(range, offset, pending) {
        assert!(
            confirmed >= offset && confirmed - offset <= pending as u64,
            "{confirmed} outside {offset}+{pending}"
        );
    }
    if let Some((first, end, size)) = partial_content(header) {
        assert!(first < end, "{first}..{end} of {size:?}");
    }
});
