-- HugMood database. Idempotent: applying it twice changes nothing; later features append their
-- tables and `ADD COLUMN IF NOT EXISTS` changes here. Every foreign key has an index (a primary
-- key or unique constraint that starts with the column counts), every time is timestamptz.

-- Accounts -----------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS users (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  username      varchar(30) NOT NULL,
  email         varchar(255),
  password_hash text,
  role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  is_anonymous  boolean NOT NULL DEFAULT false,
  display_name  varchar(100),
  bio           varchar(500),
  profile_image varchar(500),
  time_zone     text NOT NULL DEFAULT 'UTC',
  joined_at     timestamptz NOT NULL DEFAULT now(),
  last_active   timestamptz,
  -- per-user inbox sequence: the last `seq` handed out (see inbox_events)
  inbox_seq     bigint NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CHECK (is_anonymous OR (email IS NOT NULL AND password_hash IS NOT NULL))
);
-- Case-insensitive uniqueness: "Alice" and "alice" are the same account name.
CREATE UNIQUE INDEX IF NOT EXISTS users_username_key ON users (lower(username));
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON users (lower(email));

-- A refresh token belongs to a family (one login); rotation replaces it within the family, and
-- presenting an already-rotated token revokes the whole family (stolen-token detection).
CREATE TABLE IF NOT EXISTS refresh_tokens (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  family_id   uuid NOT NULL,
  token_hash  bytea NOT NULL UNIQUE,   -- sha256 of the token; the token itself is never stored
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz,             -- set when rotated
  revoked_at  timestamptz              -- set on logout or reuse detection
);
CREATE INDEX IF NOT EXISTS refresh_tokens_user_id_idx ON refresh_tokens (user_id);
CREATE INDEX IF NOT EXISTS refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX IF NOT EXISTS refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

CREATE TABLE IF NOT EXISTS privacy_settings (
  user_id          uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  allow_hugs_from  text NOT NULL DEFAULT 'friends' CHECK (allow_hugs_from IN ('everyone', 'friends', 'nobody')),
  show_mood_to     text NOT NULL DEFAULT 'friends' CHECK (show_mood_to IN ('everyone', 'friends', 'nobody')),
  show_activity_to text NOT NULL DEFAULT 'friends' CHECK (show_activity_to IN ('everyone', 'friends', 'nobody')),
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Social graph -------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS follows (
  follower_id  uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  following_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (follower_id, following_id),
  CHECK (follower_id <> following_id)
);
CREATE INDEX IF NOT EXISTS follows_following_id_idx ON follows (following_id);

CREATE TABLE IF NOT EXISTS blocks (
  blocker_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  blocked_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (blocker_id, blocked_id),
  CHECK (blocker_id <> blocked_id)
);
CREATE INDEX IF NOT EXISTS blocks_blocked_id_idx ON blocks (blocked_id);

-- Delivery -----------------------------------------------------------------------------------

-- Push tokens; a token belongs to one device and so to at most one user at a time.
CREATE TABLE IF NOT EXISTS devices (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  platform   text NOT NULL CHECK (platform IN ('apns', 'fcm')),
  token      text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_seen  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (platform, token)
);
CREATE INDEX IF NOT EXISTS devices_user_id_idx ON devices (user_id);

-- Durable events per recipient. `seq` is gap-free and increasing per user: it is taken from
-- users.inbox_seq in the same transaction that writes the fact the event reports.
CREATE TABLE IF NOT EXISTS inbox_events (
  user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  seq        bigint NOT NULL,
  type       text NOT NULL,
  payload    jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, seq)
);
CREATE INDEX IF NOT EXISTS inbox_events_created_at_idx ON inbox_events (created_at);
