//! Property-based fuzzing of everything the core parses from the outside: access tokens,
//! refresh tokens, edge signatures and key sets. Thousands of generated and mutated inputs;
//! the properties: never panic, never accept what was not genuinely issued.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use edgeauth_core::edge_signature::{self, EdgeSecret, SignedRequest};
use edgeauth_core::keys::{SigningKey, SigningKeyRing, VerificationKeys};
use edgeauth_core::refresh::{RefreshToken, MAX_GENERATION};
use edgeauth_core::token::{issue_access_token, verify_access_token, AccessGrant, TokenPolicy};
use jwt_simple::prelude::{ES256KeyPair, Ed25519KeyPair};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
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

/// Text shaped like a refresh token, mostly well-formed, with each part sometimes malformed in
/// the ways a parser can get wrong (other prefixes, long or odd session ids, signs and leading
/// zeros in the generation, short, long, padded or non-base64url secrets, extra parts): a good
/// share of it parses, so the round-trip property is really exercised (see
/// `the_fuzzed_refresh_tokens_often_parse`).
fn refresh_token_like() -> impl Strategy<Value = String> {
    let prefix = prop_oneof![8 => Just("rt1".to_owned()), 1 => "[a-zA-Z0-9]{0,4}"];
    let sid = prop_oneof![8 => "[A-Za-z0-9_-]{1,64}", 1 => "[A-Za-z0-9_-]{65,70}", 1 => ".{0,8}"];
    let generation = prop_oneof![
        6 => (0..=MAX_GENERATION).prop_map(|g| g.to_string()),
        2 => any::<u64>().prop_map(|g| g.to_string()),
        1 => "[+-]?0[0-9]{1,3}",
        1 => "[+-]?[0-9]{1,21}",
    ];
    let secret = prop_oneof![
        8 => proptest::array::uniform32(any::<u8>()).prop_map(|b| B64.encode(b)),
        1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| B64.encode(b)),
        1 => "[A-Za-z0-9+/=_-]{42,45}",
    ];
    let extra = prop_oneof![8 => Just(String::new()), 1 => "\\.[a-z0-9]{0,3}"];
    (prefix, sid, generation, secret, extra)
        .prop_map(|(p, s, g, k, x)| format!("{p}.{s}.{g}.{k}{x}"))
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
    fn refresh_token_parsing_never_panics_and_round_trips(text in refresh_token_like()) {
        // A token has exactly one spelling: whatever parses prints back as the same text, so the
        // hash Redis stores is the hash of what the client holds.
        if let Ok(token) = RefreshToken::parse(&text) {
            prop_assert_eq!(token.to_string(), text);
        }
    }

    #[test]
    fn well_formed_refresh_tokens_parse_to_their_parts(
        sid in "[A-Za-z0-9_-]{1,64}",
        generation in 0..=MAX_GENERATION,
        secret in proptest::array::uniform32(any::<u8>()),
    ) {
        let text = format!("rt1.{sid}.{generation}.{}", B64.encode(secret));
        let token = RefreshToken::parse(&text);
        prop_assert!(token.is_ok(), "{} was refused", text);
        let token = token.expect("checked");
        prop_assert_eq!(token.session_id(), sid.as_str());
        prop_assert_eq!(token.generation(), generation);
        prop_assert_eq!(token.to_string(), text);
    }

    #[test]
    fn generations_beyond_the_bound_are_refused(
        generation in (MAX_GENERATION + 1)..=u64::MAX,
        secret in proptest::array::uniform32(any::<u8>()),
    ) {
        let text = format!("rt1.s.{generation}.{}", B64.encode(secret));
        prop_assert!(RefreshToken::parse(&text).is_err(), "{} was accepted", text);
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

/// The fuzzed refresh tokens reach the branch under test: a fair share of them parse.
#[test]
fn the_fuzzed_refresh_tokens_often_parse() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = refresh_token_like();
    let parsed = (0..1000)
        .filter(|_| {
            let text = strategy.new_tree(&mut runner).expect("a value").current();
            RefreshToken::parse(&text).is_ok()
        })
        .count();
    assert!(
        parsed >= 200,
        "only {parsed} of 1000 fuzzed refresh tokens parsed"
    );
}
