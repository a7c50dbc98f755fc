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
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CHECK (is_anonymous OR (email IS NOT NULL AND password_hash IS NOT NULL))
);
-- Case-insensitive uniqueness: "Alice" and "alice" are the same account name.
CREATE UNIQUE INDEX IF NOT EXISTS users_username_key ON users (lower(username));
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON users (lower(email));
ALTER TABLE users DROP COLUMN IF EXISTS created_at;  -- joined_at is when the account was made

-- One row per login: whether the session still works. Its id is the refresh-token family and
-- the access token's `sid`. The source of truth for revocation; Redis only caches it.
CREATE TABLE IF NOT EXISTS sessions (
  id             uuid PRIMARY KEY,
  user_id        uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at     timestamptz NOT NULL DEFAULT now(),
  revoked_at     timestamptz,           -- set on logout or refresh-token reuse
  revoked_reason text CHECK (revoked_reason IN ('logged_out', 'session_revoked')),
  CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX IF NOT EXISTS sessions_user_id_idx ON sessions (user_id);

-- A refresh token belongs to a family (one session); rotation replaces it within the family, and
-- presenting an already-rotated token after the reuse grace revokes the session (theft).
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

-- Databases from before `sessions`: one session per family, revoked if all its tokens are
-- (logout and theft looked alike then, hence one reason for both).
INSERT INTO sessions (id, user_id, created_at, revoked_at, revoked_reason)
SELECT r.family_id, (array_agg(r.user_id))[1], min(r.created_at),
       CASE WHEN bool_and(r.revoked_at IS NOT NULL) THEN max(r.revoked_at) END,
       CASE WHEN bool_and(r.revoked_at IS NOT NULL) THEN 'session_revoked' END
FROM refresh_tokens r
WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = r.family_id)
GROUP BY r.family_id
ON CONFLICT (id) DO NOTHING;
DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_constraint
    WHERE conname = 'refresh_tokens_family_id_fkey' AND conrelid = 'refresh_tokens'::regclass
  ) THEN
    ALTER TABLE refresh_tokens ADD CONSTRAINT refresh_tokens_family_id_fkey
      FOREIGN KEY (family_id) REFERENCES sessions(id) ON DELETE CASCADE;
  END IF;
END $$;

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
-- Follower and following pages (keyset, newest first) walk these from the cursor; the first
-- also indexes the following_id foreign key (it replaced a plain index on it).
CREATE INDEX IF NOT EXISTS follows_following_created_idx ON follows (following_id, created_at DESC, follower_id DESC);
DROP INDEX IF EXISTS follows_following_id_idx;
CREATE INDEX IF NOT EXISTS follows_follower_created_idx ON follows (follower_id, created_at DESC, following_id DESC);
-- A friendship (mutual follow) began at the later of its two follows: `mutual_since` on both rows,
-- kept by the trigger below on every follow written, redated or deleted, so the friends page walks its
-- own index from the cursor like the other two. (Graph changes of a pair run one at a time, in
-- the pair's turn, so the trigger always sees the other direction committed.) Added once, with
-- a backfill of the friendships from before it.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                 AND table_name = 'follows' AND column_name = 'mutual_since') THEN
    ALTER TABLE follows ADD COLUMN mutual_since timestamptz;
    UPDATE follows f SET mutual_since = greatest(f.created_at, back.created_at) FROM follows back
    WHERE back.follower_id = f.following_id AND back.following_id = f.follower_id;
  END IF;
END $$;
CREATE INDEX IF NOT EXISTS follows_mutual_idx ON follows (follower_id, mutual_since DESC, following_id DESC)
  WHERE mutual_since IS NOT NULL;
CREATE OR REPLACE FUNCTION follows_track_mutual() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    UPDATE follows f SET mutual_since = greatest(NEW.created_at, back.created_at)
    FROM follows back
    WHERE back.follower_id = NEW.following_id AND back.following_id = NEW.follower_id
      AND ((f.follower_id, f.following_id) = (NEW.follower_id, NEW.following_id)
           OR (f.follower_id, f.following_id) = (NEW.following_id, NEW.follower_id));
  ELSE
    UPDATE follows SET mutual_since = NULL
    WHERE follower_id = OLD.following_id AND following_id = OLD.follower_id;
  END IF;
  RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER follows_mutual AFTER INSERT OR DELETE OR UPDATE OF created_at ON follows
  FOR EACH ROW EXECUTE FUNCTION follows_track_mutual();

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
-- The last inbox seq a user's devices acknowledged (cumulative); delivery receipts follow from
-- it. Apart from users so that an ack never waits on the row lock that appends take.
CREATE TABLE IF NOT EXISTS inbox_acks (
  user_id uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  seq     bigint NOT NULL DEFAULT 0
);

-- Shop: hug designs and who owns them (the catalog issue extends these) ----------------------

CREATE TABLE IF NOT EXISTS hug_collections (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name        varchar(100) NOT NULL,
  description text,
  creator_id  uuid REFERENCES users(id) ON DELETE SET NULL,
  is_premium  boolean NOT NULL DEFAULT false,
  is_seasonal boolean NOT NULL DEFAULT false,
  start_date  timestamptz,
  end_date    timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS hug_collections_creator_id_idx ON hug_collections (creator_id);

CREATE TABLE IF NOT EXISTS hug_designs (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  collection_id  uuid REFERENCES hug_collections(id) ON DELETE CASCADE,
  name           varchar(100) NOT NULL,
  description    text,
  animation_data jsonb NOT NULL DEFAULT '{}',
  preview_image  varchar(500),
  haptic_pattern jsonb,
  price          numeric(10, 2),
  is_premium     boolean NOT NULL DEFAULT false,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS hug_designs_collection_id_idx ON hug_designs (collection_id);

CREATE TABLE IF NOT EXISTS user_hug_inventory (
  user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  hug_design_id uuid NOT NULL REFERENCES hug_designs(id) ON DELETE CASCADE,
  acquired_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, hug_design_id)
);
CREATE INDEX IF NOT EXISTS user_hug_inventory_hug_design_id_idx ON user_hug_inventory (hug_design_id);

-- Hugs ---------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS hugs (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  sender_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  recipient_id  uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  type          varchar(50) NOT NULL,
  message       text,
  design_id     uuid REFERENCES hug_designs(id) ON DELETE SET NULL,
  -- the sender's idempotency key: a retried send finds the first hug instead of making another
  client_id     varchar(64) NOT NULL,
  sent_at       timestamptz NOT NULL DEFAULT now(),
  received_at   timestamptz,           -- first acknowledged by a recipient device
  read_at       timestamptz,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (sender_id, client_id),
  CHECK (sender_id <> recipient_id)
);
-- History pages are keyset-paginated on (sent_at, id) per box.
CREATE INDEX IF NOT EXISTS hugs_recipient_sent_idx ON hugs (recipient_id, sent_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS hugs_sender_sent_idx ON hugs (sender_id, sent_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS hugs_design_id_idx ON hugs (design_id);
-- sent_at is when the hug was made; a design (design_id) is how a hug is customised.
ALTER TABLE hugs DROP COLUMN IF EXISTS created_at, DROP COLUMN IF EXISTS customization;

CREATE TABLE IF NOT EXISTS hug_reactions (
  hug_id     uuid PRIMARY KEY REFERENCES hugs(id) ON DELETE CASCADE,
  emoji      varchar(16) NOT NULL,
  message    text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- "I need a hug": one row per request; each allowed recipient gets a hug.requested event.
CREATE TABLE IF NOT EXISTS hug_requests (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  requester_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  message      text,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS hug_requests_requester_id_idx ON hug_requests (requester_id);

-- Moods --------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS mood_entries (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  mood       varchar(50) NOT NULL,
  intensity  double precision NOT NULL CHECK (intensity BETWEEN 0 AND 1),
  valence    double precision NOT NULL CHECK (valence BETWEEN 0 AND 1),
  arousal    double precision NOT NULL CHECK (arousal BETWEEN 0 AND 1),
  note       varchar(500),
  -- narrows the owner's show_mood_to for this entry: everyone (no narrowing), friends, private
  visibility text NOT NULL DEFAULT 'everyone' CHECK (visibility IN ('everyone', 'friends', 'private')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- History, aggregates, streaks and "latest mood" all read one user's entries by time.
CREATE INDEX IF NOT EXISTS mood_entries_user_created_idx ON mood_entries (user_id, created_at DESC, id DESC);
-- A retried `mood:update` / `POST /moods` with the same client_id finds its first entry.
ALTER TABLE mood_entries ADD COLUMN IF NOT EXISTS client_id varchar(64);
CREATE UNIQUE INDEX IF NOT EXISTS mood_entries_client_idx ON mood_entries (user_id, client_id)
  WHERE client_id IS NOT NULL;
-- Snapshots take each owner's newest entry of a visibility: one probe however the rest are shared.
CREATE INDEX IF NOT EXISTS mood_entries_user_visibility_created_idx ON mood_entries (user_id, visibility, created_at DESC, id DESC);

CREATE TABLE IF NOT EXISTS mood_entry_tags (
  mood_entry_id uuid NOT NULL REFERENCES mood_entries(id) ON DELETE CASCADE,
  tag           varchar(50) NOT NULL,
  PRIMARY KEY (mood_entry_id, tag)
);

-- Push ---------------------------------------------------------------------------------------

-- devices (above) as the devices API fills it: what the app said about itself at registration.
ALTER TABLE devices ADD COLUMN IF NOT EXISTS app_version varchar(50),
                    ADD COLUMN IF NOT EXISTS locale varchar(35);
-- GET /devices pages (newest first); also indexes the user_id foreign key.
CREATE INDEX IF NOT EXISTS devices_user_created_idx ON devices (user_id, created_at DESC, id DESC);
DROP INDEX IF EXISTS devices_user_id_idx;

-- What a user wants pushed: muted event categories and quiet hours in users.time_zone (both
-- ends or neither; start > end spans midnight). No row: everything, at any hour.
CREATE TABLE IF NOT EXISTS notification_settings (
  user_id     uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  muted       text[] NOT NULL DEFAULT '{}',
  quiet_start time,
  quiet_end   time,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);

-- Transactional outbox: "after commit, do X" intents written in the transaction of the fact
-- they follow from (a push per durable event, later emails and fulfilment notices). A worker's
-- relay takes them in id order (FOR UPDATE SKIP LOCKED, so two workers never take the same),
-- turns them into arq jobs with deterministic ids and deletes them in one transaction.
CREATE TABLE IF NOT EXISTS outbox (
  id         bigserial PRIMARY KEY,
  topic      text NOT NULL,
  payload    jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Catalog: fragrances, their notes and products; hug collections and designs -----------------

-- Typo-tolerant search (similarity of words) needs trigrams.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE IF NOT EXISTS fragrance_notes (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug        varchar(60) NOT NULL UNIQUE,   -- what filters name; never changes
  name        varchar(60) NOT NULL,
  description text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS fragrances (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug         varchar(80) NOT NULL UNIQUE,
  name         varchar(100) NOT NULL,
  description  text NOT NULL DEFAULT '',
  family       text NOT NULL CHECK (family IN ('citrus', 'floral', 'woody', 'gourmand', 'fresh',
                                               'amber', 'aromatic', 'fruity', 'green', 'spicy')),
  valence      double precision NOT NULL CHECK (valence BETWEEN 0 AND 1),  -- mood profile
  arousal      double precision NOT NULL CHECK (arousal BETWEEN 0 AND 1),
  mood_tags    text[] NOT NULL DEFAULT '{}',
  intensity    smallint NOT NULL CHECK (intensity BETWEEN 1 AND 5),
  seasons      text[] NOT NULL DEFAULT '{}'
               CHECK (seasons <@ ARRAY['spring', 'summer', 'autumn', 'winter']),
  times_of_day text[] NOT NULL DEFAULT '{}'
               CHECK (times_of_day <@ ARRAY['morning', 'afternoon', 'evening', 'night']),
  images       text[] NOT NULL DEFAULT '{}',
  popularity   integer NOT NULL DEFAULT 0 CHECK (popularity >= 0),
  -- Kept by hugmood.catalog.store in the transaction that changes the fragrance or its notes:
  -- the slugs of its notes (filters, facets) and the weighted search document.
  note_slugs   text[] NOT NULL DEFAULT '{}',
  search       tsvector NOT NULL DEFAULT ''::tsvector,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS fragrances_search_idx ON fragrances USING gin (search);
CREATE INDEX IF NOT EXISTS fragrances_note_slugs_idx ON fragrances USING gin (note_slugs);
CREATE INDEX IF NOT EXISTS fragrances_mood_tags_idx ON fragrances USING gin (mood_tags);
CREATE INDEX IF NOT EXISTS fragrances_newest_idx ON fragrances (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS fragrances_popularity_idx ON fragrances (popularity DESC, id DESC);

CREATE TABLE IF NOT EXISTS fragrance_note_links (
  fragrance_id uuid NOT NULL REFERENCES fragrances(id) ON DELETE CASCADE,
  note_id      uuid NOT NULL REFERENCES fragrance_notes(id) ON DELETE RESTRICT,
  layer        text NOT NULL CHECK (layer IN ('top', 'heart', 'base')),
  position     smallint NOT NULL DEFAULT 0,   -- order within the layer, as the admin listed it
  PRIMARY KEY (fragrance_id, note_id)
);
CREATE INDEX IF NOT EXISTS fragrance_note_links_note_id_idx ON fragrance_note_links (note_id);

CREATE TABLE IF NOT EXISTS products (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  fragrance_id uuid NOT NULL REFERENCES fragrances(id) ON DELETE CASCADE,
  kind         text NOT NULL CHECK (kind IN ('candle', 'room_spray', 'oil')),
  size         varchar(40) NOT NULL,
  sku          varchar(64) NOT NULL UNIQUE,
  price_minor  integer NOT NULL CHECK (price_minor >= 0),   -- cents (or the currency's unit)
  currency     char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  stock        integer NOT NULL DEFAULT 0 CHECK (stock >= 0),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
-- Also the fragrance_id foreign key; price filters and the "from" price read it per fragrance.
CREATE INDEX IF NOT EXISTS products_fragrance_price_idx ON products (fragrance_id, currency, price_minor);

-- The words of names, notes, families and mood tags: a misspelt query word is matched to the
-- nearest of them by trigram similarity. Words are only added (a stale one matches nothing).
CREATE TABLE IF NOT EXISTS catalog_search_terms (
  term text PRIMARY KEY
);
CREATE INDEX IF NOT EXISTS catalog_search_terms_trgm_idx ON catalog_search_terms USING gin (term gin_trgm_ops);

-- One row, bumped in the transaction of every catalog change: per-process caches of facet
-- counts are keyed by it, so none serves counts from before a change it can see.
CREATE TABLE IF NOT EXISTS catalog_state (
  id      boolean PRIMARY KEY DEFAULT true CHECK (id),
  version bigint NOT NULL DEFAULT 0
);
INSERT INTO catalog_state DEFAULT VALUES ON CONFLICT DO NOTHING;

-- Designs: prices in minor units like products, and a window in which they can be bought.
ALTER TABLE hug_designs
  ADD COLUMN IF NOT EXISTS price_minor integer CHECK (price_minor >= 0),
  ADD COLUMN IF NOT EXISTS currency char(3) CHECK (currency ~ '^[A-Z]{3}$'),
  ADD COLUMN IF NOT EXISTS available_from timestamptz,
  ADD COLUMN IF NOT EXISTS available_until timestamptz;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM information_schema.columns
             WHERE table_name = 'hug_designs' AND column_name = 'price') THEN
    UPDATE hug_designs SET price_minor = round(price * 100), currency = 'USD'
    WHERE price IS NOT NULL AND price_minor IS NULL;
    ALTER TABLE hug_designs DROP COLUMN price;  -- price_minor + currency replace it
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'hug_designs_window_check') THEN
    ALTER TABLE hug_designs ADD CONSTRAINT hug_designs_window_check
      CHECK (available_from IS NULL OR available_until IS NULL OR available_from < available_until);
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'hug_designs_price_check') THEN
    ALTER TABLE hug_designs ADD CONSTRAINT hug_designs_price_check
      CHECK ((price_minor IS NULL) = (currency IS NULL));
  END IF;
END $$;
CREATE INDEX IF NOT EXISTS hug_collections_created_idx ON hug_collections (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS hug_designs_collection_created_idx ON hug_designs (collection_id, created_at, id);

-- Audit --------------------------------------------------------------------------------------

-- Every admin change: who, what, before/after, when. Append-only (the trigger refuses the rest);
-- actor_id has no foreign key so that deleting an account leaves its audit rows as written.
CREATE TABLE IF NOT EXISTS audit_log (
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  actor_id  uuid,
  entity    text NOT NULL,
  entity_id text NOT NULL,
  action    text NOT NULL,
  before    jsonb,
  after     jsonb,
  at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS audit_log_entity_idx ON audit_log (entity, entity_id, at);
CREATE INDEX IF NOT EXISTS audit_log_actor_idx ON audit_log (actor_id, at);
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE OR REPLACE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Group hugs ---------------------------------------------------------------------------------

-- One shared moment: PENDING until `min_participants` joined (and `scheduled_for`, if any, is
-- near), then ACTIVE from `starts_at` to `ends_at`, then COMPLETED; EXPIRED if not started by
-- `expires_at`; CANCELED by its creator. Every change of `status` is one conditional UPDATE
-- (`WHERE status = ...`), so a transition happens once however many workers try it.
CREATE TABLE IF NOT EXISTS group_hugs (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  creator_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name VARCHAR(100) NOT NULL,
  description TEXT,
  status VARCHAR(20) NOT NULL CHECK (status IN ('PENDING', 'ACTIVE', 'COMPLETED', 'EXPIRED', 'CANCELED')),
  scheduled_for TIMESTAMP WITH TIME ZONE,
  expires_at TIMESTAMP WITH TIME ZONE,
  message TEXT,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP
);
ALTER TABLE group_hugs
  ADD COLUMN IF NOT EXISTS min_participants integer NOT NULL DEFAULT 2 CHECK (min_participants >= 1),
  ADD COLUMN IF NOT EXISTS duration_s integer NOT NULL DEFAULT 10 CHECK (duration_s > 0),
  ADD COLUMN IF NOT EXISTS design_id uuid REFERENCES hug_designs(id) ON DELETE SET NULL,
  ADD COLUMN IF NOT EXISTS starts_at timestamptz,
  ADD COLUMN IF NOT EXISTS ends_at timestamptz;
CREATE INDEX IF NOT EXISTS group_hugs_creator_idx ON group_hugs (creator_id);
CREATE INDEX IF NOT EXISTS group_hugs_design_idx ON group_hugs (design_id);
-- The sweep looks only at group hugs that are not over yet.
CREATE INDEX IF NOT EXISTS group_hugs_open_idx ON group_hugs (status, created_at)
  WHERE status IN ('PENDING', 'ACTIVE');

-- Who is in a group hug: INVITED by the creator, JOINED, or LEFT (and may join again).
CREATE TABLE IF NOT EXISTS group_hug_participants (
  group_hug_id UUID NOT NULL REFERENCES group_hugs(id) ON DELETE CASCADE,
  user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  joined_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
  status VARCHAR(20) NOT NULL DEFAULT 'JOINED',
  PRIMARY KEY (group_hug_id, user_id)
);
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'group_hug_participants_status_check') THEN
    ALTER TABLE group_hug_participants ADD CONSTRAINT group_hug_participants_status_check
      CHECK (status IN ('INVITED', 'JOINED', 'LEFT'));
  END IF;
END $$;
-- A user's group hugs (lists, the rooms a connection is seated in); also the user_id foreign key.
CREATE INDEX IF NOT EXISTS group_hug_participants_user_idx ON group_hug_participants (user_id, group_hug_id);
-- Participant pages of one group hug, newest first.
CREATE INDEX IF NOT EXISTS group_hug_participants_page_idx
  ON group_hug_participants (group_hug_id, joined_at DESC, user_id DESC);
