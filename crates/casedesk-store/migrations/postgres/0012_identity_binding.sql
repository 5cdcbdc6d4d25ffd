-- Identities bound to users: an issuer's (iss, sub) stands for one user, bound at the first
-- sign-in that issuer may make for the user, or by a manager. A token of another issuer, or
-- with another subject, naming the same email is not that user.
CREATE TABLE user_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    issuer_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_identities_user ON user_identities(user_id);

-- Failed password sign-ins per email, known or not, under a keyed hash of the email (never
-- the email itself): the throttle then tells nothing about which emails have accounts.
CREATE TABLE sign_in_throttle (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL
);
CREATE INDEX sign_in_throttle_last ON sign_in_throttle(last_failure_at);
