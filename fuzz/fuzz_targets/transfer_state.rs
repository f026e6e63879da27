//! The state files that make `wif gcs cp` resumable, read back by the next run: an upload's
//! kept resumable session (`wif_storage::UploadSessions`, in the user's cache directory) and a
//! download's `.NAME.wif-partial.json` (which object and generation the partial file holds).
//! Both are local files that anything could have written or truncated.
//!
//! Beyond "no panic": a session is read only for the upload the file names, reads back the same
//! when written again, and `Debug` hides its URI (a bearer capability); a partial download is
//! continued only for its own object and a real generation.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wif_storage::fuzzing::{partial_download_state, upload_session_state};

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = upload_session_state(data) {
        panic!("{broken}");
    }
    if let Some((generation, _size, _crc)) = partial_download_state(data, "bkt", "obj") {
        assert!(generation > 0, "generation {generation}");
        let text = String::from_utf8_lossy(data);
        assert!(text.contains("bkt") && text.contains("obj"));
    }
});
