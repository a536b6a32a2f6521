//! The one multipart reader (run forms and script uploads): each part goes where its caller
//! decides before any byte is read — into memory, into an upload the runner's staging
//! writes, or nowhere — within a cap on all bytes, on the bytes held in memory, and on the
//! number of parts. No file is written here.

use actix_multipart::Multipart;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

use crate::domain::RawValue;
use crate::error::{ApiError, ErrorCode};
use crate::runner::Upload;

/// More parts than any form a script or a person fills in needs.
pub const MAX_PARTS: usize = 1000;

/// How much one form may bring.
#[derive(Debug, Clone, Copy)]
pub struct FormLimits {
    /// Every byte of every part, files included.
    pub max_bytes: usize,
    /// The parts kept in memory, together.
    pub max_memory_bytes: usize,
    pub max_parts: usize,
}

/// Where one part goes, decided from its name and file name.
pub enum Keep {
    Memory,
    /// Handed, chunk by chunk, to an upload opened in the runner's staging.
    File(Upload),
    /// Read past and dropped: nothing is stored.
    Skip,
}

/// One part as read.
pub enum Part {
    Memory {
        name: String,
        file_name: Option<String>,
        bytes: Vec<u8>,
    },
    /// The staged upload, as the parameter value that names it.
    File {
        name: String,
        upload: RawValue,
    },
    Skipped {
        name: String,
    },
}

/// The body's announced length, when it has one.
pub fn announced_length(request: &HttpRequest) -> Option<u64> {
    request
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A 413 for a body known or found to be larger than `limit`.
pub fn too_large(what: &str, limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("{what} is larger than {limit} bytes"),
    )
}

fn malformed(error: &dyn std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidRequest,
        format!("malformed multipart body: {error}"),
    )
}

/// Reads every part of a multipart body; `decide` says where each one goes.
pub async fn read_form(
    request: &HttpRequest,
    payload: web::Payload,
    limits: FormLimits,
    mut decide: impl FnMut(&str, Option<&str>) -> Result<Keep, ApiError>,
) -> Result<Vec<Part>, ApiError> {
    if announced_length(request).is_some_and(|n| n > limits.max_bytes as u64) {
        return Err(too_large("the request body", limits.max_bytes));
    }
    let mut multipart = Multipart::new(request.headers(), payload);
    let mut budget = Budget::new(limits);
    let mut parts = Vec::new();
    while let Some(field) = multipart.next().await {
        let field = field.map_err(|e| malformed(&e))?;
        if parts.len() == limits.max_parts {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the form has more than {} parts", limits.max_parts),
            ));
        }
        let name = field
            .name()
            .map(str::to_string)
            .ok_or_else(|| malformed(&"a part has no name"))?;
        let file_name = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(str::to_string);
        let part = match decide(&name, file_name.as_deref())? {
            Keep::Memory => Part::Memory {
                bytes: budget.read_into_memory(field).await?,
                name,
                file_name,
            },
            Keep::File(upload) => Part::File {
                upload: budget.hand_to_upload(field, upload).await?,
                name,
            },
            Keep::Skip => {
                budget.skip(field).await?;
                Part::Skipped { name }
            }
        };
        parts.push(part);
    }
    Ok(parts)
}

/// The bytes a form has used so far, against its limits.
struct Budget {
    limits: FormLimits,
    total: usize,
    in_memory: usize,
}

impl Budget {
    fn new(limits: FormLimits) -> Budget {
        Budget {
            limits,
            total: 0,
            in_memory: 0,
        }
    }

    async fn next_chunk(
        &mut self,
        field: &mut actix_multipart::Field,
    ) -> Result<Option<web::Bytes>, ApiError> {
        let Some(chunk) = field.next().await else {
            return Ok(None);
        };
        let chunk = chunk.map_err(|e| malformed(&e))?;
        self.total += chunk.len();
        if self.total > self.limits.max_bytes {
            return Err(too_large("the request body", self.limits.max_bytes));
        }
        Ok(Some(chunk))
    }

    async fn read_into_memory(
        &mut self,
        mut field: actix_multipart::Field,
    ) -> Result<Vec<u8>, ApiError> {
        let mut bytes = Vec::new();
        while let Some(chunk) = self.next_chunk(&mut field).await? {
            self.in_memory += chunk.len();
            if self.in_memory > self.limits.max_memory_bytes {
                return Err(too_large(
                    "the form's text fields",
                    self.limits.max_memory_bytes,
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    async fn hand_to_upload(
        &mut self,
        mut field: actix_multipart::Field,
        mut upload: Upload,
    ) -> Result<RawValue, ApiError> {
        while let Some(chunk) = self.next_chunk(&mut field).await? {
            upload
                .write(&chunk)
                .await
                .map_err(|e| ApiError::internal(&e))?;
        }
        upload.finish().await.map_err(|e| ApiError::internal(&e))
    }

    async fn skip(&mut self, mut field: actix_multipart::Field) -> Result<(), ApiError> {
        while self.next_chunk(&mut field).await?.is_some() {}
        Ok(())
    }
}
