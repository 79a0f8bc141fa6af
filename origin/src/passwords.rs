//! argon2id hashing off the async threads, with a hard cap on concurrent and queued work so a
//! login flood costs bounded memory, a cap per client address so one client cannot fill that
//! queue for everybody, and a dummy hash so unknown accounts take as long.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::password_hash::try_generate_salt;
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
    memory: Arc<MemoryPool>,
    per_address: Arc<PerAddress>,
}

/// Hashes running or queued per client address (budget bucket), at most `limit` each.
struct PerAddress {
    limit: usize,
    in_flight: Mutex<HashMap<String, usize>>,
}

/// One address's claim on a hashing slot, given back when dropped.
struct AddressSlot {
    owner: Arc<PerAddress>,
    address: String,
}

impl PerAddress {
    fn claim(self: &Arc<Self>, address: &str) -> Option<AddressSlot> {
        let mut in_flight = self.in_flight.lock().ok()?;
        let count = in_flight.entry(address.to_owned()).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            owner: self.clone(),
            address: address.to_owned(),
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if let Ok(mut in_flight) = self.owner.in_flight.lock() {
            if let Some(count) = in_flight.get_mut(&self.address) {
                *count -= 1;
                if *count == 0 {
                    in_flight.remove(&self.address);
                }
            }
        }
    }
}

/// argon2 working memory (m_cost KiB each), kept between hashes. At most one buffer per running
/// hash exists, so hashing memory is fixed. Allocating and freeing 19 MiB per login instead let
/// glibc keep the freed blocks in its arenas: a 32-connection login flood grew the origin to
/// ~500 MiB resident, and handing them back to the kernel each time (mmap) halved throughput.
#[derive(Default)]
struct MemoryPool(Mutex<Vec<Vec<Block>>>);

impl MemoryPool {
    /// Runs `work` with a buffer from the pool (or a new one), then returns the buffer.
    fn with<T>(&self, work: impl FnOnce(&mut Vec<Block>) -> T) -> T {
        let mut buffer = self
            .0
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
            .unwrap_or_default();
        let result = work(&mut buffer);
        if let Ok(mut pool) = self.0.lock() {
            pool.push(buffer);
        }
        result
    }
}

impl PasswordHashing {
    /// `concurrency` hashes run at once; up to `queue` more may wait; one client address may
    /// hold at most `per_address` of those.
    pub fn new(
        params: Params,
        concurrency: usize,
        queue: usize,
        per_address: usize,
    ) -> Result<Self, String> {
        let memory = Arc::new(MemoryPool::default());
        let dummy_hash = memory.with(|buffer| {
            hash_blocking(
                &params,
                b"edgeauth dummy password for unknown accounts",
                buffer,
            )
        })?;
        let running_limit = concurrency.max(1);
        let admitted_limit = running_limit + queue;
        Ok(Self {
            params,
            running: Arc::new(Semaphore::new(running_limit)),
            admitted: Arc::new(Semaphore::new(admitted_limit)),
            running_limit,
            admitted_limit,
            dummy_hash: dummy_hash.into(),
            memory,
            per_address: Arc::new(PerAddress {
                limit: per_address.max(1),
                in_flight: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// How many hash computations are waiting for a slot (for metrics and logs).
    pub fn queued(&self) -> usize {
        let admitted = self.admitted_limit - self.admitted.available_permits();
        let running = self.running_limit - self.running.available_permits();
        admitted.saturating_sub(running)
    }

    /// A new hash of `password`, for the client at `address` (its budget bucket).
    pub async fn hash(&self, password: String, address: &str) -> AppResult<String> {
        let params = self.params.clone();
        let memory = self.memory.clone();
        self.run(address, move || {
            memory.with(|buffer| hash_blocking(&params, password.as_bytes(), buffer))
        })
        .await?
        .map_err(AppError::internal)
    }

    /// Verifies against a stored PHC string, or against the dummy hash when there is no
    /// account, so both cases cost one argon2id computation.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
        address: &str,
    ) -> AppResult<bool> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let memory = self.memory.clone();
        let matches = self
            .run(address, move || {
                memory.with(|buffer| verify_blocking(password.as_bytes(), &hash, buffer))
            })
            .await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(
        &self,
        address: &str,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> AppResult<T> {
        let _address = self.per_address.claim(address).ok_or_else(|| {
            AppError::limited(
                1,
                "Too many sign-ins from this address at once; try again in a moment.",
            )
        })?;
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

/// A fresh argon2id PHC string for `password`, computed in `memory`.
fn hash_blocking(
    params: &Params,
    password: &[u8],
    memory: &mut Vec<Block>,
) -> Result<String, String> {
    let failed = |e: &dyn std::fmt::Display| format!("argon2id hashing failed: {e}");
    let salt = try_generate_salt().map_err(|e| failed(&e))?;
    let mut output = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    let (algorithm, version) = (Algorithm::Argon2id, Version::V0x13);
    compute(
        algorithm,
        version,
        params,
        password,
        &salt,
        &mut output,
        memory,
    )
    .map_err(|e| failed(&e))?;
    let hash = PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(version.into()),
        params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&output).map_err(|e| failed(&e))?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches the stored PHC string (with the parameters stored in it).
fn verify_blocking(password: &[u8], stored: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let algorithm = Algorithm::try_from(hash.algorithm.as_str());
    let version = hash
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, Params::try_from(&hash))
    else {
        return false;
    };
    let mut output = vec![0u8; expected.len()];
    if compute(
        algorithm,
        version,
        &params,
        password,
        salt,
        &mut output,
        memory,
    )
    .is_err()
    {
        return false;
    }
    // `Output` compares in constant time.
    Output::new(&output).is_ok_and(|computed| computed == *expected)
}

/// argon2 into `output`, with `memory` grown to the parameters' size if needed.
fn compute(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    output: &mut [u8],
    memory: &mut Vec<Block>,
) -> Result<(), argon2::Error> {
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
        password,
        salt,
        output,
        &mut memory[..blocks],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    fn small() -> Params {
        Params::new(64, 1, 1, None).unwrap()
    }

    #[test]
    fn hashes_verify_and_interoperate_with_the_argon2_crate() {
        let mut memory = Vec::new();
        let ours = hash_blocking(&small(), b"correct horse", &mut memory).unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{ours}");
        assert!(verify_blocking(b"correct horse", &ours, &mut memory));
        assert!(!verify_blocking(b"wrong horse", &ours, &mut memory));
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, small());
        assert!(argon2
            .verify_password(b"correct horse", ours.as_str())
            .is_ok());
        let theirs = argon2.hash_password(b"battery staple").unwrap().to_string();
        assert!(verify_blocking(b"battery staple", &theirs, &mut memory));
        // The buffer is reused at the size of the largest parameters seen.
        assert_eq!(memory.len(), 64);
        for junk in ["", "$argon2id$v=19$m=64,t=1,p=1$", "not a hash"] {
            assert!(
                !verify_blocking(b"correct horse", junk, &mut memory),
                "{junk}"
            );
        }
    }

    #[test]
    fn each_address_holds_at_most_its_share_of_slots() {
        let per = Arc::new(PerAddress {
            limit: 2,
            in_flight: Mutex::new(HashMap::new()),
        });
        let a1 = per.claim("a").unwrap();
        let _a2 = per.claim("a").unwrap();
        assert!(per.claim("a").is_none(), "a third slot for one address");
        let _b = per.claim("b").unwrap();
        drop(a1);
        assert!(
            per.claim("a").is_some(),
            "a slot comes back when the hash ends"
        );
        drop(_b);
        assert!(
            !per.in_flight.lock().unwrap().contains_key("b"),
            "no entry left behind"
        );
    }

    #[test]
    fn the_pool_hands_buffers_back() {
        let pool = MemoryPool::default();
        pool.with(|buffer| buffer.resize(8, Block::new()));
        assert_eq!(pool.with(|buffer| buffer.len()), 8);
    }
}
