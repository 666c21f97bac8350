//! The file route whose work is its own: uploads, streamed to the upstream
//! as they arrive. The other file routes are plain rows of the operation
//! table (content is streamed back by the table's `Bytes` answer).

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use domain::{Owner, Ownership, ResourceKind};
use futures_util::{Stream, StreamExt, TryStreamExt, stream};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use upstream::StreamUpload;

use super::common::ok;
use crate::auth::Caller;
use crate::azure::Surface;
use crate::gateway::resolve::{self, Resolution};
use crate::gateway::{Authorized, Exchange, metadata, owner_of_new};
use crate::idempotency::{self, UploadClaim};
use crate::request_id::RequestId;
use crate::{ApiError, AppState, RequestLimits};

/// Purposes a file uploaded for use with assistants may have.
const PURPOSES: &[&str] = &["assistants", "vision", "user_data"];
/// Sent by a tenant admin to make an upload, or a list, the tenant's.
pub const OWNER_HEADER: &str = "Threadgate-Owner";

/// Whose objects the request is about, as `Threadgate-Owner` says: `user`
/// (the default) or `tenant`; whether the caller may ask is decided later.
pub(crate) fn requested_ownership(request: &HttpRequest) -> Result<Ownership, ApiError> {
    match request
        .headers()
        .get(OWNER_HEADER)
        .map(|v| v.to_str().unwrap_or(""))
    {
        None | Some("user") => Ok(Ownership::Own),
        Some("tenant") => Ok(Ownership::Tenant),
        Some(_) => Err(ApiError::bad_request(
            "Threadgate-Owner must be `tenant` or `user`.",
            None,
        )),
    }
}

/// Uploads a file for the caller (multipart: `purpose`, then `file`).
pub async fn upload(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    limits: web::Data<RequestLimits>,
    request: HttpRequest,
    mut form: Multipart,
) -> Result<HttpResponse, ApiError> {
    let limit = limits.max_upload_bytes;
    let declared = request
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit.saturating_add(64 * 1024)) {
        return Err(too_large(limit));
    }
    let authorized = Exchange::new(&state, &caller, &request_id)
        .authorize_create(ResourceKind::File)
        .await?;
    let owner = owner_of_new(&caller, requested_ownership(&request)?)?;

    let mut purpose: Option<String> = None;
    let mut uploaded: Option<HttpResponse> = None;
    // A file part before the purpose is kept on disk until the purpose is known.
    let mut spooled: Option<(tempfile::NamedTempFile, String, Option<String>)> = None;
    while let Some(field) = form.next().await {
        let mut field = field
            .map_err(|e| ApiError::bad_request(format!("Invalid multipart body: {e}"), None))?;
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "purpose" => {
                let mut text = Vec::new();
                while let Some(chunk) = field.next().await {
                    let chunk = chunk.map_err(|e| {
                        ApiError::bad_request(format!("Invalid multipart body: {e}"), None)
                    })?;
                    text.extend_from_slice(&chunk);
                    if text.len() > 64 {
                        return Err(ApiError::bad_request("Invalid 'purpose'.", Some("purpose")));
                    }
                }
                purpose = Some(String::from_utf8_lossy(&text).into_owned());
            }
            "file" if uploaded.is_some() || spooled.is_some() => {
                return Err(ApiError::bad_request(
                    "Only one file per upload.",
                    Some("file"),
                ));
            }
            "file" => {
                let filename = field
                    .content_disposition()
                    .and_then(|d| d.get_filename())
                    .unwrap_or("upload")
                    .to_owned();
                if filename.contains('\0') {
                    return Err(ApiError::bad_request(
                        "Invalid 'file': its name may not contain the NUL character (U+0000).",
                        Some("file"),
                    ));
                }
                let content_type = field.content_type().map(ToString::to_string);
                match &purpose {
                    Some(purpose) => {
                        let source = field.map_err(|e| e.to_string());
                        let upload = Upload {
                            authorized: &authorized,
                            request: &request,
                            owner,
                            purpose,
                            filename,
                            content_type,
                            limit,
                        };
                        uploaded = Some(upload.keyed(source).await?);
                    }
                    None => {
                        spooled = Some((spool(&mut field, limit).await?, filename, content_type))
                    }
                }
            }
            // Other fields are not part of the API: read past them.
            _ => while field.next().await.is_some() {},
        }
    }
    let file = match (uploaded, spooled, purpose) {
        (Some(file), _, _) => file,
        (None, Some((spooled, filename, content_type)), Some(purpose)) => {
            let reopened = tokio::fs::File::open(spooled.path())
                .await
                .map_err(ApiError::internal)?;
            let source = tokio_util::io::ReaderStream::new(reopened).map_err(|e| e.to_string());
            let upload = Upload {
                authorized: &authorized,
                request: &request,
                owner,
                purpose: &purpose,
                filename,
                content_type,
                limit,
            };
            upload.keyed(source).await?
        }
        (None, _, None) => {
            return Err(ApiError::bad_request(
                "Missing required parameter: 'purpose'.",
                Some("purpose"),
            ));
        }
        (None, None, Some(_)) => {
            return Err(ApiError::bad_request(
                "Missing required parameter: 'file'.",
                Some("file"),
            ));
        }
    };
    Ok(in_surface_status(&request, file))
}

/// A successful upload answers with the status of the surface's own
/// specification (and so does its replay).
fn in_surface_status(request: &HttpRequest, mut answer: HttpResponse) -> HttpResponse {
    if answer.status() == StatusCode::OK {
        *answer.status_mut() = Surface::of(request).upload_status();
    }
    answer
}

/// One file part on its way to the upstream.
struct Upload<'a> {
    authorized: &'a Authorized<'a>,
    request: &'a HttpRequest,
    owner: Owner,
    purpose: &'a str,
    filename: String,
    content_type: Option<String>,
    limit: usize,
}

impl Upload<'_> {
    /// Uploads, honouring an `Idempotency-Key`: a retry of an upload that
    /// succeeded gets its answer again, and one whose outcome was unknown
    /// gets the file the first attempt made, or runs again if it made none.
    async fn keyed(
        self,
        source: impl Stream<Item = Result<Bytes, String>> + Unpin,
    ) -> Result<HttpResponse, ApiError> {
        let state = self.authorized.state();
        let caller = self.authorized.caller();
        let claim =
            idempotency::claim_upload(state, caller, self.request, self.purpose, &self.filename)
                .await?;
        let keyed = match claim {
            None => return Ok(ok(self.send(source).await?)),
            Some(UploadClaim::Replay(stored)) => return Ok(idempotency::replayed(stored)),
            Some(UploadClaim::Run(keyed)) => keyed,
            Some(UploadClaim::TakenOver(keyed, previous)) => {
                let resolution = match &previous {
                    Some(holder) => {
                        idempotency::renewed(
                            state,
                            &keyed,
                            holder,
                            resolve::earlier_attempt(
                                state,
                                caller,
                                holder,
                                &keyed.request_id,
                                self.request.path(),
                            ),
                        )
                        .await
                    }
                    None => Ok(Resolution::Nothing),
                };
                let holder = previous.clone().unwrap_or_default();
                match resolution {
                    Ok(Resolution::Nothing) => {
                        if !idempotency::hold(state, &keyed, previous.as_deref()).await? {
                            return Err(idempotency::moved_on());
                        }
                        keyed
                    }
                    Ok(Resolution::Created(mut file)) => {
                        metadata::hide_reserved(&mut file);
                        let answer = Ok(file);
                        idempotency::finish_upload(state, keyed, holder, &answer).await;
                        return Ok(idempotency::replayed(idempotency::stored(&answer)));
                    }
                    Ok(Resolution::Unknowable) | Err(_) => {
                        idempotency::keep_unknown(state, keyed, previous).await;
                        return Err(resolution.err().unwrap_or_else(|| ApiError::Conflict {
                            message: "The first upload with this Idempotency-Key ended without \
                                      a known outcome; retry later."
                                .to_owned(),
                        }));
                    }
                }
            }
        };
        let this_attempt = keyed.request_id.clone();
        let outcome = idempotency::renewed(state, &keyed, &this_attempt, self.send(source)).await;
        idempotency::finish_upload(state, keyed, this_attempt, &outcome).await;
        Ok(ok(outcome?))
    }

    async fn send(
        self,
        source: impl Stream<Item = Result<Bytes, String>> + Unpin,
    ) -> Result<Value, ApiError> {
        stream_upload(
            self.authorized,
            self.owner,
            self.purpose,
            self.filename,
            self.content_type,
            source,
            self.limit,
        )
        .await
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::PayloadTooLarge {
        message: format!("The file exceeds the upload limit of {limit} bytes."),
    }
}

/// Writes a file part to a temporary file, within the limit.
async fn spool(
    field: &mut actix_multipart::Field,
    limit: usize,
) -> Result<tempfile::NamedTempFile, ApiError> {
    let spool = tempfile::NamedTempFile::new().map_err(ApiError::internal)?;
    let mut writer = tokio::fs::File::from_std(spool.reopen().map_err(ApiError::internal)?);
    let mut total = 0;
    while let Some(chunk) = field.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("Invalid multipart body: {e}"), None))?;
        total += chunk.len();
        if total > limit {
            return Err(too_large(limit));
        }
        writer.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    writer.flush().await.map_err(ApiError::internal)?;
    Ok(spool)
}

/// Reserves the file, then passes `source` to the upstream chunk by chunk
/// (never whole in memory), stopping at `limit`.
async fn stream_upload(
    authorized: &Authorized<'_>,
    owner: Owner,
    purpose: &str,
    filename: String,
    content_type: Option<String>,
    mut source: impl Stream<Item = Result<Bytes, String>> + Unpin,
    limit: usize,
) -> Result<Value, ApiError> {
    if !PURPOSES.contains(&purpose) {
        return Err(ApiError::bad_request(
            format!(
                "Invalid 'purpose': expected one of {}, got '{purpose}'.",
                PURPOSES.join(", ")
            ),
            Some("purpose"),
        ));
    }
    let pending = authorized.reserve(ResourceKind::File, owner).await?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    }));
    let streamed = StreamUpload::new(purpose.to_owned(), filename, content_type, None, body);
    let sending = authorized.upload(streamed)?;

    let mut total = 0;
    let mut refused: Option<ApiError> = None;
    while let Some(chunk) = source.next().await {
        match chunk {
            Ok(bytes) => {
                total += bytes.len();
                if total > limit {
                    refused = Some(too_large(limit));
                } else if sender.send(Ok(bytes)).await.is_ok() {
                    continue;
                }
            }
            Err(error) => {
                refused = Some(ApiError::bad_request(
                    format!("The upload broke off: {error}"),
                    Some("file"),
                ))
            }
        }
        // Abort the upstream request too: an error ends its body.
        let _ = sender
            .send(Err(std::io::Error::other("upload aborted")))
            .await;
        break;
    }
    drop(sender);
    let result = sending.await.map_err(ApiError::internal)?;
    let outcome = match (refused, result) {
        (Some(error), _) => Err(error),
        (None, Ok(file)) => Ok(file),
        (None, Err(error)) => Err(error.into()),
    };
    match outcome {
        Ok(file) => {
            authorized.activate(pending, &file).await?;
            Ok(file)
        }
        Err(error) => {
            authorized.settle(pending, &error).await;
            Err(error)
        }
    }
}
