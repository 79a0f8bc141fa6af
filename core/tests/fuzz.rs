//! Property-based fuzzing of everything the core parses from the outside: access tokens,
//! refresh tokens, edge signatures and key sets. Thousands of generated and mutated inputs;
//! the properties: never panic, never accept what was not genuinely issued.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use edgeauth_core::edge_signature::{self, EdgeSecret, SignedRequest};
use edgeauth_core::keys::{SigningKey, SigningKeyRing, VerificationKeys};
use edgeauth_core::refresh::RefreshToken;
use edgeauth_core::token::{issue_access_token, verify_access_token, AccessGrant, TokenPolicy};
use jwt_simple::prelude::{ES256KeyPair, Ed25519KeyPair};
use proptest::prelude::*;
use std::sync::OnceLock;

const NOW: u64 = 1_800_000_000;

struct Fixture {
    keys: VerificationKeys,
    policy: TokenPolicy,
    tokens: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ring = SigningKeyRing::new(vec![
            SigningKey::ed25519("ed", Ed25519KeyPair::generate()),
            SigningKey::es256("es", ES256KeyPair::generate()),
        ])
        .expect("ring");
        let policy = TokenPolicy::new("https://issuer.example", "aud");
        let tokens = ring
            .keys()
            .iter()
            .map(|key| {
                let grant = AccessGrant {
                    user_id: "user",
                    session_id: "session",
                    token_id: "jti",
                    now: NOW,
                    session_expires_at: u64::MAX,
                };
                issue_access_token(key, &policy, &grant)
                    .expect("issue")
                    .token
            })
            .collect();
        Fixture {
            keys: ring.verification_keys().expect("public keys"),
            policy,
            tokens,
        }
    })
}

fn config() -> ProptestConfig {
    let cases = std::env::var("EDGEAUTH_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    ProptestConfig::with_cases(cases)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_strings_are_never_accepted(token in ".{0,600}") {
        let f = fixture();
        prop_assert!(verify_access_token(&f.keys, &f.policy, &token, NOW).is_err());
    }

    #[test]
    fn arbitrary_three_part_tokens_are_never_accepted(
        header in proptest::collection::vec(any::<u8>(), 0..200),
        payload in proptest::collection::vec(any::<u8>(), 0..400),
        signature in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let f = fixture();
        let token = format!("{}.{}.{}", B64.encode(header), B64.encode(payload), B64.encode(signature));
        prop_assert!(verify_access_token(&f.keys, &f.policy, &token, NOW).is_err());
    }

    #[test]
    fn any_byte_flip_of_a_genuine_token_is_refused(which in 0usize..2, position in any::<prop::sample::Index>(), bit in 0u8..8) {
        let f = fixture();
        let genuine = &f.tokens[which];
        let mut bytes = genuine.as_bytes().to_vec();
        let i = position.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(mutated) = String::from_utf8(bytes) {
            // base64url has a few non-canonical encodings of the last character; anything that
            // still verifies must decode to exactly the genuine token's content.
            if let Ok(accepted) = verify_access_token(&f.keys, &f.policy, &mutated, NOW) {
                let original = verify_access_token(&f.keys, &f.policy, genuine, NOW).expect("genuine");
                prop_assert_eq!(accepted, original);
            }
        }
    }

    #[test]
    fn genuine_tokens_verify_at_any_time_inside_their_life(offset in 0u64..900 + 30) {
        let f = fixture();
        for token in &f.tokens {
            prop_assert!(verify_access_token(&f.keys, &f.policy, token, NOW + offset).is_ok());
        }
    }

    #[test]
    fn refresh_token_parsing_never_panics_and_round_trips(text in ".{0,300}") {
        if let Ok(token) = RefreshToken::parse(&text) {
            prop_assert_eq!(RefreshToken::parse(&token.to_string()).ok(), Some(token));
        }
    }

    #[test]
    fn signature_checks_never_panic_and_only_accept_the_real_signature(
        header in ".{0,100}",
        method in "[A-Z]{0,8}",
        path in ".{0,100}",
        body in proptest::collection::vec(any::<u8>(), 0..256),
        timestamp in any::<u64>(),
        nonce in ".{0,80}",
    ) {
        let secret = EdgeSecret::from_bytes(vec![42; 32]).expect("secret");
        let request = SignedRequest {
            method: &method,
            path_and_query: &path,
            timestamp,
            nonce: &nonce,
            user_id: None,
            session_id: None,
            request_id: "r",
            client_ip: "ip",
            body: &body,
        };
        let real = edge_signature::sign(&secret, &request);
        let secrets = [secret];
        if header != real {
            prop_assert!(edge_signature::verify(&secrets, &request, &header, timestamp, 30).is_err());
        }
        let outcome = edge_signature::verify(&secrets, &request, &real, timestamp, 30);
        prop_assert_eq!(outcome.is_ok(), !nonce.is_empty() && nonce.len() <= 64);
    }

    #[test]
    fn key_set_parsing_never_panics(text in ".{0,400}") {
        let _ = VerificationKeys::from_json(&text);
        let _ = SigningKeyRing::from_json(&text);
    }
}
