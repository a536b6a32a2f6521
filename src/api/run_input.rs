//! Reads a run request: query string, JSON body, urlencoded form or multipart upload.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::{web, HttpMessage, HttpRequest};
use futures_util::StreamExt;
use serde_json::Value;

use super::multipart::{announced_length, read_form, too_large, FormLimits, Keep, Part, MAX_PARTS};
use crate::domain::RawValue;
use crate::error::{ApiError, ErrorCode};
use crate::runner::{RunRequest, Staging};

pub fn query_pairs(request: &HttpRequest) -> Vec<(String, String)> {
    url::form_urlencoded::parse(request.query_string().as_bytes())
        .into_owned()
        .collect()
}

/// How much a run body may bring: JSON and forms are read into memory and stay small;
/// multipart uploads stream to disk and may be large.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub json_bytes: usize,
    pub multipart_bytes: usize,
}

/// Parameters from a POST body; the query string carries only gateway options. Uploads
/// for names outside `accepted` are read past and never stored; they are reported as
/// ignored like any unknown parameter.
pub async fn read_body(
    request: &HttpRequest,
    payload: web::Payload,
    staging: &mut Staging,
    limits: BodyLimits,
    accepted: &BTreeSet<String>,
) -> Result<RunRequest, ApiError> {
    let mut run_request = RunRequest::from_query_pairs(query_pairs(request), false);
    let content_type = request.content_type().to_ascii_lowercase();
    let in_memory = |payload| read_limited(request, payload, limits.json_bytes);
    run_request.params = match content_type.as_str() {
        "multipart/form-data" => {
            read_multipart(request, payload, staging, limits, accepted).await?
        }
        "application/x-www-form-urlencoded" => {
            url::form_urlencoded::parse(&in_memory(payload).await?)
                .into_owned()
                .map(|(k, v)| (k, RawValue::Text(v)))
                .collect()
        }
        "" | "application/json" | "text/json" => json_params(&in_memory(payload).await?)?,
        other if other.ends_with("+json") => json_params(&in_memory(payload).await?)?,
        other => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!(
                "unsupported content type {other:?}: send application/json or multipart/form-data"
            ),
            ))
        }
    };
    Ok(run_request)
}

/// The whole body, refused before reading when its announced length is over `limit`
/// and as soon as it grows past `limit` when it comes in chunks.
pub(super) async fn read_limited(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    if announced_length(request).is_some_and(|n| n > limit as u64) {
        return Err(too_large("the request body", limit));
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("cannot read the body: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large("the request body", limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn json_params(bytes: &[u8]) -> Result<BTreeMap<String, RawValue>, ApiError> {
    if bytes.trim_ascii().is_empty() {
        return Ok(BTreeMap::new());
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    object_params(value, "the body")
}

fn object_params(value: Value, what: &str) -> Result<BTreeMap<String, RawValue>, ApiError> {
    match value {
        Value::Object(map) => Ok(map
            .into_iter()
            .map(|(k, v)| (k, RawValue::Json(v)))
            .collect()),
        _ => Err(ApiError::new(
            ErrorCode::InvalidJson,
            format!("{what} must be a JSON object of parameters"),
        )),
    }
}

/// File fields of accepted parameters are stored in `staging`; text fields become text; a
/// `payload` field holding a JSON object supplies the parameters the other fields do not.
async fn read_multipart(
    request: &HttpRequest,
    payload: web::Payload,
    staging: &mut Staging,
    limits: BodyLimits,
    accepted: &BTreeSet<String>,
) -> Result<BTreeMap<String, RawValue>, ApiError> {
    let form_limits = FormLimits {
        max_bytes: limits.multipart_bytes,
        max_memory_bytes: limits.json_bytes,
        max_parts: MAX_PARTS,
    };
    let parts = read_form(request, payload, form_limits, |name, file_name| {
        Ok(match file_name {
            None => Keep::Memory,
            Some(_) if !accepted.contains(name) => Keep::Skip,
            Some(file_name) => Keep::File(
                staging
                    .open_upload(file_name)
                    .map_err(|e| ApiError::internal(&e))?,
            ),
        })
    })
    .await?;
    let mut fields = BTreeMap::new();
    let mut from_payload = BTreeMap::new();
    for part in parts {
        match part {
            Part::File { name, upload } => {
                fields.insert(name, upload);
            }
            // Listed as ignored, like any parameter the script does not declare.
            Part::Skipped { name } => {
                fields.insert(name, RawValue::Text(String::new()));
            }
            Part::Memory { name, bytes, .. } => {
                let text = String::from_utf8(bytes).map_err(|_| {
                    ApiError::new(
                        ErrorCode::InvalidRequest,
                        format!("malformed multipart body: field {name:?} is not UTF-8 text"),
                    )
                })?;
                if name == "payload" {
                    from_payload = payload_params(&text)?;
                } else {
                    fields.insert(name, RawValue::Text(text));
                }
            }
        }
    }
    from_payload.extend(fields);
    Ok(from_payload)
}

fn payload_params(text: &str) -> Result<BTreeMap<String, RawValue>, ApiError> {
    let value = serde_json::from_str(text).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("the payload field is not valid JSON: {e}"),
        )
    })?;
    object_params(value, "the payload field")
}
