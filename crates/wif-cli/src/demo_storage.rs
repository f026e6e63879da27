//! The demo's Cloud Storage step: upload an object and read it back.

use std::time::Instant;

use wif::{Credentials, Error, Step};
use wif_emulator::RunningEmulator;
use wif_storage::{Storage, UploadOptions, UploadSource};

use crate::demo::Narrator;

/// The demo's bucket.
pub(crate) const BUCKET: &str = "wif-demo-bucket";

/// Creates the demo's bucket in the emulator.
pub(crate) fn seed(emulator: &RunningEmulator) {
    emulator.state().create_bucket(BUCKET);
}

/// Uploads an object with the chain's token and reads it back.
pub(crate) async fn run(
    n: &mut Narrator<'_>,
    emulator: &RunningEmulator,
    creds: Credentials,
) -> Result<(), Error> {
    seed(emulator);
    let storage = Storage::builder()
        .provider(creds)
        .base_url(emulator.base_url())
        .build()?;
    let name = "demo/hello-from-lambda.txt";
    let content = "Hello from an AWS Lambda function, with no service-account key.\n";
    let started = Instant::now();
    let object = storage
        .upload(
            BUCKET,
            name,
            UploadSource::bytes(content.as_bytes().to_vec()),
            UploadOptions::new().content_type("text/plain"),
        )
        .await?;
    n.step(
        "Cloud Storage upload",
        &format!("gs://{BUCKET}/{name} ({} bytes, text/plain)", content.len()),
        &format!(
            "Cloud Storage accepted the service account's token; generation {}, {} bytes",
            object.generation, object.size
        ),
        Some(started.elapsed()),
    );

    let started = Instant::now();
    let back = storage
        .download(BUCKET, name, None)
        .await?
        .into_bytes()
        .await?;
    if back.as_ref() != content.as_bytes() {
        return Err(Error::invalid_response(
            Step::Api,
            "the object read back differs from what was uploaded",
        ));
    }
    n.step(
        "Cloud Storage download",
        &format!("gs://{BUCKET}/{name}"),
        &format!(
            "{} bytes read back, identical to what was uploaded",
            back.len()
        ),
        Some(started.elapsed()),
    );
    Ok(())
}
