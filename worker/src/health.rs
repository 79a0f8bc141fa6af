//! The `/healthz` verdict from the two dependency probes.

/// Status and JSON body: 200 `{"status":"ok"}` when both Redis and the origin answered,
/// otherwise 503 with which one failed.
pub fn health_response(redis_ok: bool, origin_ok: bool) -> (u16, String) {
    if redis_ok && origin_ok {
        (200, r#"{"status":"ok"}"#.to_owned())
    } else {
        let body = format!(r#"{{"status":"unavailable","redis":{redis_ok},"origin":{origin_ok}}}"#);
        (503, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_only_when_both_are_up() {
        assert_eq!(
            health_response(true, true),
            (200, r#"{"status":"ok"}"#.into())
        );
        let (status, body) = health_response(true, false);
        assert_eq!(status, 503);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"status":"unavailable","redis":true,"origin":false})
        );
        assert_eq!(
            health_response(false, true),
            (
                503,
                r#"{"status":"unavailable","redis":false,"origin":true}"#.into()
            )
        );
    }
}
