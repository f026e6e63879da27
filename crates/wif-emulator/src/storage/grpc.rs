//! Cloud Storage's gRPC API (`google.storage.v2.Storage`), the part Google's Rust client
//! (`google-cloud-storage`'s `StorageControl`) uses for object metadata: `ListObjects` and
//! `DeleteObject`. Other methods answer `UNIMPLEMENTED`.
//!
//! Served on the emulator's one port over HTTP/2 without TLS (gRPC clients given an `http://`
//! endpoint speak it with prior knowledge). Each call is answered by the JSON API's own handler
//! (`objects.list`, `objects.delete`) and translated, so both APIs share one set of rules:
//! bearer check, paging, prefixes, preconditions. The messages are written out here with only
//! the fields the emulator fills; protobuf readers skip the rest.
//!
//! Protocol: <https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md>; messages:
//! <https://github.com/googleapis/googleapis/blob/master/google/storage/v2/storage.proto>.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tonic::server::{Grpc, UnaryService};
use tonic::{Code, Status};
use tonic_prost::ProstCodec;

use super::JsonCall;
use crate::state::State;

/// Largest JSON body of a translated answer read back (a page of 1000 objects fits easily).
const MAX_TRANSLATED: usize = 64 * 1024 * 1024;

#[derive(Clone, PartialEq, prost::Message)]
struct ListObjectsRequest {
    #[prost(string, tag = "1")]
    parent: String,
    #[prost(int32, tag = "2")]
    page_size: i32,
    #[prost(string, tag = "3")]
    page_token: String,
    #[prost(string, tag = "4")]
    delimiter: String,
    #[prost(string, tag = "6")]
    prefix: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ListObjectsResponse {
    #[prost(message, repeated, tag = "1")]
    objects: Vec<Object>,
    #[prost(string, repeated, tag = "2")]
    prefixes: Vec<String>,
    #[prost(string, tag = "3")]
    next_page_token: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Object {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    bucket: String,
    #[prost(int64, tag = "3")]
    generation: i64,
    #[prost(int64, tag = "4")]
    metageneration: i64,
    #[prost(string, tag = "5")]
    storage_class: String,
    #[prost(int64, tag = "6")]
    size: i64,
    #[prost(string, tag = "13")]
    content_type: String,
    #[prost(message, optional, tag = "16")]
    checksums: Option<ObjectChecksums>,
    #[prost(map = "string, string", tag = "22")]
    metadata: HashMap<String, String>,
    #[prost(string, tag = "27")]
    etag: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ObjectChecksums {
    #[prost(fixed32, optional, tag = "1")]
    crc32c: Option<u32>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct DeleteObjectRequest {
    #[prost(string, tag = "1")]
    bucket: String,
    #[prost(string, tag = "2")]
    object: String,
    #[prost(int64, tag = "4")]
    generation: i64,
    #[prost(int64, optional, tag = "5")]
    if_generation_match: Option<i64>,
    #[prost(int64, optional, tag = "7")]
    if_metageneration_match: Option<i64>,
}

/// `POST /google.storage.v2.Storage/{method}`.
pub(super) async fn call(
    AxState(state): AxState<Arc<State>>,
    Path(method): Path<String>,
    request: Request,
) -> Response {
    let call = JsonCall {
        state,
        query: HashMap::new(),
        headers: request.headers().clone(),
    };
    let response = match method.as_str() {
        "ListObjects" => {
            Grpc::new(ProstCodec::default())
                .unary(Method(call, list_objects), request)
                .await
        }
        "DeleteObject" => {
            Grpc::new(ProstCodec::default())
                .unary(Method(call, delete_object), request)
                .await
        }
        other => {
            return Status::unimplemented(format!(
                "the emulator's google.storage.v2.Storage serves ListObjects and DeleteObject, not {other}"
            ))
            .into_http::<Body>()
            .into_response();
        }
    };
    response.map(Body::new)
}

/// `projects/_/buckets/NAME` → `NAME`.
fn bucket_name(resource: &str) -> Result<String, Status> {
    match resource.strip_prefix("projects/_/buckets/") {
        Some(name) if !name.is_empty() && !name.contains('/') => Ok(name.to_owned()),
        _ => Err(Status::invalid_argument(format!(
            "`{}` is not a bucket name of the form projects/_/buckets/NAME",
            resource.escape_debug()
        ))),
    }
}

/// The JSON API's answer as a gRPC result: its body on success, else a `Status` with the
/// code gRPC uses for the HTTP status and the JSON error's message.
async fn translated(response: Response) -> Result<serde_json::Value, Status> {
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), MAX_TRANSLATED)
        .await
        .map_err(|e| Status::internal(format!("reading the JSON API's answer: {e}")))?;
    if status.is_success() {
        if body.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        return serde_json::from_slice(&body)
            .map_err(|e| Status::internal(format!("the JSON API's answer: {e}")));
    }
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let message = json["error"]["message"]
        .as_str()
        .unwrap_or("the request failed")
        .to_owned();
    let code = match status {
        StatusCode::BAD_REQUEST => Code::InvalidArgument,
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::FORBIDDEN => Code::PermissionDenied,
        StatusCode::NOT_FOUND => Code::NotFound,
        StatusCode::CONFLICT => Code::AlreadyExists,
        StatusCode::PRECONDITION_FAILED => Code::FailedPrecondition,
        StatusCode::TOO_MANY_REQUESTS => Code::ResourceExhausted,
        StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
        _ => Code::Internal,
    };
    Err(Status::new(code, message))
}

fn int(value: &serde_json::Value) -> i64 {
    value.as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// The JSON `Object` resource as the gRPC `Object`.
fn object(json: &serde_json::Value, bucket: &str) -> Object {
    let crc32c = json["crc32c"].as_str().and_then(|b64| {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        Some(u32::from_be_bytes(bytes.try_into().ok()?))
    });
    Object {
        name: json["name"].as_str().unwrap_or_default().to_owned(),
        bucket: format!("projects/_/buckets/{bucket}"),
        generation: int(&json["generation"]),
        metageneration: int(&json["metageneration"]),
        storage_class: json["storageClass"].as_str().unwrap_or_default().to_owned(),
        size: int(&json["size"]),
        content_type: json["contentType"].as_str().unwrap_or_default().to_owned(),
        checksums: Some(ObjectChecksums { crc32c }),
        metadata: json["metadata"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default(),
        etag: json["etag"].as_str().unwrap_or_default().to_owned(),
    }
}

/// One gRPC method answered by a JSON API handler: the call (emulator and headers, with an
/// empty query string), and the function that fills it in from the method's request and
/// answers.
struct Method<F>(JsonCall, F);

impl<Req, Res, F, Answer> UnaryService<Req> for Method<F>
where
    F: Fn(JsonCall, Req) -> Answer,
    Answer: Future<Output = Result<Res, Status>> + Send + 'static,
{
    type Response = Res;
    type Future = futures::future::BoxFuture<'static, Result<tonic::Response<Res>, Status>>;

    fn call(&mut self, request: tonic::Request<Req>) -> Self::Future {
        let answer = (self.1)(self.0.clone(), request.into_inner());
        Box::pin(async move { answer.await.map(tonic::Response::new) })
    }
}

/// `ListObjects` as `objects.list`.
async fn list_objects(
    mut call: JsonCall,
    request: ListObjectsRequest,
) -> Result<ListObjectsResponse, Status> {
    let bucket = bucket_name(&request.parent)?;
    for (name, value) in [
        ("prefix", request.prefix),
        ("delimiter", request.delimiter),
        ("pageToken", request.page_token),
    ] {
        if !value.is_empty() {
            call.query.insert(name.to_owned(), value);
        }
    }
    if request.page_size > 0 {
        call.query
            .insert("maxResults".to_owned(), request.page_size.to_string());
    }
    let answer = super::read::list(Path(bucket.clone()), call).await;
    let page = translated(answer).await?;
    Ok(ListObjectsResponse {
        objects: page["items"]
            .as_array()
            .map(|items| items.iter().map(|o| object(o, &bucket)).collect())
            .unwrap_or_default(),
        prefixes: page["prefixes"]
            .as_array()
            .map(|p| {
                p.iter()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        next_page_token: page["nextPageToken"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    })
}

/// `DeleteObject` as `objects.delete`.
async fn delete_object(mut call: JsonCall, request: DeleteObjectRequest) -> Result<(), Status> {
    let bucket = bucket_name(&request.bucket)?;
    if request.generation != 0 {
        call.query
            .insert("generation".to_owned(), request.generation.to_string());
    }
    if let Some(g) = request.if_generation_match {
        call.query
            .insert("ifGenerationMatch".to_owned(), g.to_string());
    }
    if let Some(m) = request.if_metageneration_match {
        call.query
            .insert("ifMetagenerationMatch".to_owned(), m.to_string());
    }
    let answer = super::read::delete_object(Path((bucket, request.object)), call).await;
    translated(answer).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_resources_name_one_bucket() {
        assert_eq!(
            bucket_name("projects/_/buckets/b-1").ok().as_deref(),
            Some("b-1")
        );
        for bad in [
            "b-1",
            "projects/_/buckets/",
            "projects/_/buckets/a/b",
            "projects/p/buckets/b",
        ] {
            let status = bucket_name(bad).expect_err(bad);
            assert_eq!(status.code(), Code::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn json_objects_become_grpc_objects() {
        let json = serde_json::json!({
            "name": "a/b.txt", "generation": "17", "metageneration": "2", "size": "5",
            "contentType": "text/plain", "storageClass": "STANDARD", "crc32c": "4waSgw==",
            "etag": "CBE=", "metadata": {"k": "v"},
        });
        let o = object(&json, "bkt");
        assert_eq!(o.name, "a/b.txt");
        assert_eq!(o.bucket, "projects/_/buckets/bkt");
        assert_eq!((o.generation, o.metageneration, o.size), (17, 2, 5));
        assert_eq!(o.checksums.and_then(|c| c.crc32c), Some(0xe306_9283));
        assert_eq!(o.metadata.get("k").map(String::as_str), Some("v"));
    }
}
