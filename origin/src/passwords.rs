//! argon2id hashing off the async threads, with a hard cap on concurrent and queued work so a
//! login flood costs bounded memory, and a dummy hash so unknown accounts take as long.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use edgeauth_core::ErrorCode;
use tokio::sync::Semaphore;

use crate::error::{AppError, AppResult};

#[derive(Clone)]
pub struct PasswordHashing {
    params: Params,
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    running_limit: usize,
    admitted_limit: usize,
    dummy_hash: Arc<str>,
}

impl PasswordHashing {
    /// `concurrency` hashes run at once; up to `queue` more may wait.
    pub fn new(params: Params, concurrency: usize, queue: usize) -> Result<Self, String> {
        let dummy_hash = hash_blocking(&params, b"edgeauth dummy password for unknown accounts")?;
        let running_limit = concurrency.max(1);
        let admitted_limit = running_limit + queue;
        Ok(Self {
            params,
            running: Arc::new(Semaphore::new(running_limit)),
            admitted: Arc::new(Semaphore::new(admitted_limit)),
            running_limit,
            admitted_limit,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// How many hash computations are waiting for a slot (for metrics and logs).
    pub fn queued(&self) -> usize {
        let admitted = self.admitted_limit - self.admitted.available_permits();
        let running = self.running_limit - self.running.available_permits();
        admitted.saturating_sub(running)
    }

    pub async fn hash(&self, password: String) -> AppResult<String> {
        let params = self.params.clone();
        self.run(move || hash_blocking(&params, password.as_bytes()))
            .await?
            .map_err(AppError::internal)
    }

    /// Verifies against a stored PHC string, or against the dummy hash when there is no
    /// account, so both cases cost one argon2id computation.
    pub async fn verify(&self, password: String, stored: Option<String>) -> AppResult<bool> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = self
            .run(move || {
                Argon2::default()
                    .verify_password(password.as_bytes(), hash.as_str())
                    .is_ok()
            })
            .await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> AppResult<T> {
        let _admitted = self.admitted.clone().try_acquire_owned().map_err(|_| {
            AppError::api(
                ErrorCode::ServiceUnavailable,
                "Too many sign-ins at once; try again in a moment.",
            )
        })?;
        let _running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(AppError::internal)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(AppError::internal)
    }
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<String, String> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|e| format!("argon2id hashing failed: {e}"))
}
