//! Reads a run request: query string, JSON body, urlencoded form or multipart upload.

use std::collections::BTreeMap;

use actix_multipart::Multipart;
use actix_web::{web, HttpMessage, HttpRequest};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::domain::RawValue;
use crate::error::{ApiError, ErrorCode};
use crate::runner::{RunRequest, Staging};

const MAX_TEXT_FIELD: usize = 1024 * 1024;

pub fn query_pairs(request: &HttpRequest) -> Vec<(String, String)> {
    url::form_urlencoded::parse(request.query_string().as_bytes())
        .into_owned()
        .collect()
}

/// Parameters from a POST body; the query string carries only gateway options.
pub async fn read_body(
    request: &HttpRequest,
    payload: web::Payload,
    staging: &mut Staging,
    limit: usize,
) -> Result<RunRequest, ApiError> {
    let mut run_request = RunRequest::from_query_pairs(query_pairs(request), false);
    let content_type = request.content_type().to_ascii_lowercase();
    run_request.params = match content_type.as_str() {
        "multipart/form-data" => read_multipart(request, payload, staging, limit).await?,
        "application/x-www-form-urlencoded" => {
            let bytes = read_limited(payload, limit).await?;
            url::form_urlencoded::parse(&bytes)
                .into_owned()
                .map(|(k, v)| (k, RawValue::Text(v)))
                .collect()
        }
        "" | "application/json" | "text/json" => json_params(&read_limited(payload, limit).await?)?,
        other if other.ends_with("+json") => json_params(&read_limited(payload, limit).await?)?,
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

async fn read_limited(mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("cannot read the body: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the request body is larger than {limit} bytes"),
    )
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

/// File fields are stored in `staging`; text fields become text; a `payload` field holding a
/// JSON object supplies the parameters the other fields do not.
async fn read_multipart(
    request: &HttpRequest,
    payload: web::Payload,
    staging: &mut Staging,
    limit: usize,
) -> Result<BTreeMap<String, RawValue>, ApiError> {
    let bad = |e: &dyn std::fmt::Display| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!("malformed multipart body: {e}"),
        )
    };
    let mut multipart = Multipart::new(request.headers(), payload);
    let mut fields = BTreeMap::new();
    let mut from_payload = BTreeMap::new();
    let mut total = 0usize;
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(|e| bad(&e))?;
        let name = field
            .name()
            .map(str::to_string)
            .ok_or_else(|| bad(&"a field has no name"))?;
        let file_name = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(str::to_string);
        if let Some(file_name) = file_name {
            let (safe_name, path) = staging
                .reserve(&file_name)
                .map_err(|e| ApiError::internal(&e))?;
            let mut file = tokio::fs::File::create(&path)
                .await
                .map_err(|e| ApiError::internal(&e))?;
            let mut size = 0u64;
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(|e| bad(&e))?;
                total += chunk.len();
                if total > limit {
                    return Err(too_large(limit));
                }
                size += chunk.len() as u64;
                file.write_all(&chunk)
                    .await
                    .map_err(|e| ApiError::internal(&e))?;
            }
            file.flush().await.map_err(|e| ApiError::internal(&e))?;
            fields.insert(
                name,
                RawValue::Upload {
                    file_name: safe_name,
                    path,
                    size,
                },
            );
        } else {
            let mut text = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(|e| bad(&e))?;
                total += chunk.len();
                if total > limit {
                    return Err(too_large(limit));
                }
                if text.len() + chunk.len() > MAX_TEXT_FIELD {
                    return Err(ApiError::new(
                        ErrorCode::PayloadTooLarge,
                        format!("field {name:?} is larger than {MAX_TEXT_FIELD} bytes"),
                    ));
                }
                text.extend_from_slice(&chunk);
            }
            let text = String::from_utf8(text)
                .map_err(|_| bad(&format!("field {name:?} is not UTF-8 text")))?;
            if name == "payload" {
                let value = serde_json::from_str(&text).map_err(|e| {
                    ApiError::new(
                        ErrorCode::InvalidJson,
                        format!("the payload field is not valid JSON: {e}"),
                    )
                })?;
                from_payload = object_params(value, "the payload field")?;
            } else {
                fields.insert(name, RawValue::Text(text));
            }
        }
    }
    from_payload.extend(fields);
    Ok(from_payload)
}
