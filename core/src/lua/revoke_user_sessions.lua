-- Deletes every session of a user except an optional one.
-- KEYS: user session index. ARGV: session key prefix, session id to keep (or '').
-- Reply: number of sessions revoked.
session_index(KEYS[1], ARGV[1])
return revoke_all(KEYS[1], ARGV[1], ARGV[2])
