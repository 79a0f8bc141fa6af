//! The caller's own notes, kept in memory and keyed by the verified `sub`, and the admin's
//! statistics over them.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use edgeauth_verify::Identity;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::AppState;

/// The longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 1000;
/// Notes kept per user; more are refused rather than growing memory without bound.
pub const MAX_NOTES_PER_USER: usize = 100;
/// The largest note request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Users with notes; a demo store, bounded for the same reason.
pub const MAX_USERS: usize = 10_000;

#[derive(Debug, Clone, Serialize)]
pub struct Note {
    pub id: u64,
    pub text: String,
    pub created_at: u64,
}

#[derive(Debug, Default)]
pub struct NoteStore {
    inner: Mutex<StoreInner>,
}

#[derive(Debug, Default)]
struct StoreInner {
    next_id: u64,
    by_user: HashMap<String, Vec<Note>>,
}

impl NoteStore {
    pub(crate) fn list(&self, user: &str) -> Vec<Note> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.by_user.get(user).cloned().unwrap_or_default()
    }

    fn add(&self, user: &str, text: String) -> Result<Note, ApiError> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if !inner.by_user.contains_key(user) && inner.by_user.len() >= MAX_USERS {
            return Err(limit_reached("the demo store is full"));
        }
        if inner
            .by_user
            .get(user)
            .is_some_and(|notes| notes.len() >= MAX_NOTES_PER_USER)
        {
            return Err(limit_reached(&format!(
                "at most {MAX_NOTES_PER_USER} notes per user"
            )));
        }
        inner.next_id += 1;
        let note = Note {
            id: inner.next_id,
            text,
            created_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        let notes = inner.by_user.entry(user.to_owned()).or_default();
        notes.push(note.clone());
        Ok(note)
    }

    fn stats(&self) -> (usize, usize) {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (
            inner.by_user.len(),
            inner.by_user.values().map(Vec::len).sum(),
        )
    }
}

fn limit_reached(message: &str) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "limit_reached", message)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    text: String,
}

/// `GET /api/whoami`: the verified assertion's claims.
pub async fn whoami(identity: Identity) -> Json<Value> {
    Json(json!({ "claims": identity }))
}

/// `GET /api/notes`: the caller's notes, oldest first.
pub async fn list(State(state): State<AppState>, identity: Identity) -> Json<Value> {
    Json(json!({ "notes": state.notes.list(&identity.sub) }))
}

/// `POST /api/notes {"text": "..."}`: adds a note (1–1000 characters after trimming).
pub async fn create(
    State(state): State<AppState>,
    identity: Identity,
    body: Result<Json<NewNote>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(new) = body?;
    let note = add_checked(&state, &identity.sub, &new.text)?;
    Ok((StatusCode::CREATED, Json(json!({ "note": note }))))
}

/// Adds a note of 1–1000 characters after trimming (the JSON API and the HTML page alike).
pub(crate) fn add_checked(state: &AppState, user: &str, text: &str) -> Result<Note, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ApiError::invalid_field("text", "must not be empty"));
    }
    if text.chars().count() > MAX_NOTE_CHARS {
        return Err(ApiError::invalid_field(
            "text",
            format!("at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    state.notes.add(user, text.to_owned())
}

/// `GET /api/admin/stats` (role `admin`, enforced by the router): store-wide counts.
pub async fn admin_stats(State(state): State<AppState>) -> Json<Value> {
    let (users, notes) = state.notes.stats();
    Json(json!({ "users": users, "notes": notes }))
}
