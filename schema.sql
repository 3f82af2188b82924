-- Applied at every start-up, on SQLite and PostgreSQL: every statement is idempotent.
-- Portable SQL only. The one dialect difference, the auto-increment key, is written the
-- SQLite way (INTEGER PRIMARY KEY AUTOINCREMENT) and translated for PostgreSQL by db.py.
-- Times are milliseconds since the Unix epoch (UTC). JSON columns hold text.
-- A column added to an existing table is written as its own `ALTER TABLE t ADD COLUMN c …;`
-- after the table (never inside CREATE TABLE): db.py skips it where the column exists, so
-- old databases gain it and new ones get it once.

CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- Bearer tokens are stored as SHA-256 hashes: a leaked table grants nothing.
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
-- kind: 'session' (a login: expires, server/sessions.py) or 'script' (create-token: until
-- revoked). Tokens made before kinds existed are listed as scripts, so none stops unannounced.
ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'script';
ALTER TABLE tokens ADD COLUMN name TEXT;
ALTER TABLE tokens ADD COLUMN last_used_at BIGINT;
CREATE INDEX IF NOT EXISTS tokens_user ON tokens (user_id);
CREATE INDEX IF NOT EXISTS tokens_kind ON tokens (kind, created_at);

-- An invitation links a customer's phone number to the account that owns its conversation.
-- phone_key is the number in the form used for matching (see phones.match_key).
CREATE TABLE IF NOT EXISTS invitations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id BIGINT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    phone_number TEXT NOT NULL,
    phone_key TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- One conversation per customer and business number: known by phone number, or by Meta's
-- user id (BSUID) when Meta sends no number (unique per business number, see below). owner_id NULL is the unassigned inbox.
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    phone_number TEXT,
    phone_key TEXT,
    wa_user_id TEXT,
    contact_name TEXT,
    owner_id BIGINT REFERENCES users(id),
    last_message_id BIGINT,
    last_message_at BIGINT,
    last_inbound_at BIGINT,
    unread_count INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_activity ON conversations (last_message_at, id);
CREATE INDEX IF NOT EXISTS conversations_owner_activity ON conversations (owner_id, last_message_at, id);

CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    wamid TEXT UNIQUE,
    client_id TEXT UNIQUE,
    direction TEXT NOT NULL,
    type TEXT NOT NULL,
    content TEXT NOT NULL DEFAULT '',
    media TEXT,
    data TEXT,
    reply_to_wamid TEXT,
    status TEXT NOT NULL,
    error TEXT,
    sender_user_id BIGINT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    delivered_at BIGINT,
    read_at BIGINT
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages (conversation_id, id);

-- A reaction belongs to the message it reacts to; one per reactor, an empty emoji removes it.
CREATE TABLE IF NOT EXISTS reactions (
    message_wamid TEXT NOT NULL,
    reactor TEXT NOT NULL,
    direction TEXT NOT NULL,
    emoji TEXT NOT NULL,
    wamid TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (message_wamid, reactor)
);

-- Statuses that arrived before we knew their wamid (they can beat the send call's answer).
CREATE TABLE IF NOT EXISTS pending_statuses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wamid TEXT NOT NULL,
    status TEXT NOT NULL,
    status_at BIGINT NOT NULL,
    error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_statuses_wamid ON pending_statuses (wamid);

-- Every webhook body exactly as received, so nothing Meta sent is ever lost.
CREATE TABLE IF NOT EXISTS webhook_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    processed INTEGER NOT NULL DEFAULT 0,
    error TEXT
);

-- Errors Meta reports about the account or a webhook (value.errors[]), shown to admins.
CREATE TABLE IF NOT EXISTS meta_errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_event_id BIGINT NOT NULL,
    position INTEGER NOT NULL,
    code BIGINT,
    title TEXT,
    detail TEXT,
    raw TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (webhook_event_id, position)
);

-- The event log behind live push and resume: ids only grow, old rows are pruned.
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    conversation_id BIGINT,
    owner_id BIGINT,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_created ON events (created_at);

-- Media files, inbound (downloaded from Meta) and outbound (sent by an agent), one row per
-- media id: the primary key is what keeps a file from being downloaded twice. A download
-- is claimed atomically (status 'downloading' with a lease in claimed_until); failures go
-- back to 'pending' with next_attempt_at, until the last attempt marks it 'unavailable'.
-- storage_key names the bytes in the media store (a folder, or an S3-compatible bucket).
CREATE TABLE IF NOT EXISTS media_files (
    media_id TEXT PRIMARY KEY,
    message_id BIGINT,
    direction TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    claimed_until BIGINT,
    mime_type TEXT,
    sha256 TEXT,
    size BIGINT,
    storage_key TEXT,
    filename TEXT,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS media_files_due ON media_files (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS media_files_message ON media_files (message_id);

-- The local copy of the account's message templates (python -m server sync-templates).
CREATE TABLE IF NOT EXISTS templates (
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    meta_id TEXT,
    category TEXT,
    status TEXT NOT NULL,
    parameter_format TEXT,
    body TEXT NOT NULL DEFAULT '',
    body_params TEXT NOT NULL DEFAULT '[]',
    header_text TEXT,
    header_params TEXT NOT NULL DEFAULT '[]',
    components TEXT NOT NULL,
    synced_at BIGINT NOT NULL,
    PRIMARY KEY (name, language)
);

-- Ingest (server/ingest.py): a webhook body is committed raw before anything parses it, and
-- applied afterwards in batches. `encoding` says how `body` holds the bytes: 'utf-8' (the
-- text itself) or 'base64' (bytes no text column can hold: not UTF-8, or a NUL). `applied`
-- is 0 until the applier has handled the body; rows from before this column existed were
-- applied when they arrived (hence DEFAULT 1; new rows are inserted with 0).
ALTER TABLE webhook_events ADD COLUMN encoding TEXT NOT NULL DEFAULT 'utf-8';
ALTER TABLE webhook_events ADD COLUMN applied INTEGER NOT NULL DEFAULT 1;
CREATE INDEX IF NOT EXISTS webhook_events_unapplied ON webhook_events (id) WHERE applied = 0;

-- What could not be applied, item by item, shown to admins (GET /api/webhooks/failures):
-- `item` is the JSON of the one message/status/reaction that failed (NULL: the whole body),
-- `reason` why. The raw body stays in webhook_events for a replay once the cause is fixed.
CREATE TABLE IF NOT EXISTS webhook_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_event_id BIGINT NOT NULL,
    item TEXT,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_failures_event ON webhook_failures (webhook_event_id);
CREATE INDEX IF NOT EXISTS pending_statuses_created ON pending_statuses (created_at);

-- Who the customer is (issue 16, server/contacts.py). profile_name is the WhatsApp profile
-- name, updated by every webhook; given_name is the name from the invitation or an agent
-- (NULL: nobody gave one). contact_name is what the inbox shows and searches:
-- given_name when set, else profile_name.
ALTER TABLE conversations ADD COLUMN profile_name TEXT;
ALTER TABLE conversations ADD COLUMN given_name TEXT;
-- Before these columns every name came from WhatsApp profiles.
UPDATE conversations SET profile_name = contact_name
    WHERE profile_name IS NULL AND given_name IS NULL AND contact_name IS NOT NULL;

-- Replies are sent in the background (server/delivery.py). messages.send_by names the server
-- process handing a reply to WhatsApp; each process keeps its row in server_processes fresh
-- (seen_at), so the replies of a process that died mid-send are found and resolved.
ALTER TABLE messages ADD COLUMN send_by TEXT;
CREATE INDEX IF NOT EXISTS messages_pending ON messages (id) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS server_processes (
    id TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
);

-- Several business numbers (issue 16, server/numbers.py): the WhatsApp numbers of the Meta
-- app this server answers for (WHATSAPP_PHONE_NUMBER_ID lists some, admins add others). A
-- conversation is one customer on one business number: '' (rows from before) is filled in
-- with the first configured number at start. Databases from before had phone_key and
-- wa_user_id UNIQUE on their own: SQLite's table is rebuilt without (server/migrations.py),
-- PostgreSQL's constraints are dropped below.
CREATE TABLE IF NOT EXISTS business_numbers (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
ALTER TABLE conversations ADD COLUMN business_number_id TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX IF NOT EXISTS conversations_number_phone ON conversations (business_number_id, phone_key);
CREATE UNIQUE INDEX IF NOT EXISTS conversations_number_user ON conversations (business_number_id, wa_user_id);
CREATE INDEX IF NOT EXISTS conversations_phone_key ON conversations (phone_key);
CREATE INDEX IF NOT EXISTS conversations_wa_user_id ON conversations (wa_user_id);

-- Team inbox (issue 14; server/users.py, assignments.py, notes.py, labels.py, reads.py).
-- Users have a display name and may be deactivated (no login, no token works).
ALTER TABLE users ADD COLUMN name TEXT;
ALTER TABLE users ADD COLUMN deactivated_at BIGINT;
-- owner_id is the assignee. status: open, pending, resolved, snoozed (until snoozed_until).
ALTER TABLE conversations ADD COLUMN status TEXT NOT NULL DEFAULT 'open';
ALTER TABLE conversations ADD COLUMN snoozed_until BIGINT;
-- Customer messages ever received; each user's unread count is this minus their read_count.
ALTER TABLE conversations ADD COLUMN inbound_count INTEGER NOT NULL DEFAULT 0;
-- The conversation's label names as a JSON list (conversation_labels is what filters).
ALTER TABLE conversations ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';
CREATE INDEX IF NOT EXISTS conversations_status_activity ON conversations (status, last_message_at, id);
CREATE INDEX IF NOT EXISTS conversations_snoozed ON conversations (snoozed_until);
-- An event for one user only (a mention, a conversation taken away, their own read).
ALTER TABLE events ADD COLUMN user_id BIGINT;
CREATE TABLE IF NOT EXISTS conversation_reads (
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    read_count INTEGER NOT NULL,
    read_at BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    color TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS conversation_labels (
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    label_id BIGINT NOT NULL REFERENCES labels(id),
    PRIMARY KEY (label_id, conversation_id)
);

-- An account error Meta delivers twice (the same webhook again) is listed once: fingerprint
-- is the SHA-256 of its JSON (issue 16).
ALTER TABLE meta_errors ADD COLUMN fingerprint TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS meta_errors_fingerprint ON meta_errors (fingerprint);

-- Quick replies (issue 11, server/quick_replies.py): owner_id NULL is the team's (admins edit
-- them), else one user's own. Shortcuts are unique per owner (checked by the writer).
CREATE TABLE IF NOT EXISTS quick_replies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id BIGINT REFERENCES users(id),
    shortcut TEXT NOT NULL,
    content TEXT NOT NULL,
    created_by BIGINT REFERENCES users(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS quick_replies_owner ON quick_replies (owner_id, shortcut);
-- The business's own reactions (server/reactions.py, reactor 'business') are found by their
-- wamid when WhatsApp reports them failed.
CREATE INDEX IF NOT EXISTS reactions_wamid ON reactions (wamid);

-- Searching message text needs a text index, and each database has its own kind. Statements
-- after a "-- dialect: NAME" line run only on that database (until "-- dialect: all").
-- dialect: sqlite
-- Trigram indexes answer substring searches; triggers keep them in step with their tables,
-- and db.py fills in rows stored before the indexes existed.
CREATE VIRTUAL TABLE IF NOT EXISTS messages_search USING fts5(content, tokenize = 'trigram');
CREATE TRIGGER IF NOT EXISTS messages_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_search (rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER IF NOT EXISTS messages_search_update AFTER UPDATE OF content ON messages BEGIN
    UPDATE messages_search SET content = new.content WHERE rowid = new.id;
END;
CREATE VIRTUAL TABLE IF NOT EXISTS conversations_search USING fts5(name, phone, tokenize = 'trigram');
-- The name column holds both names (the one shown and the WhatsApp profile's): search finds either.
DROP TRIGGER IF EXISTS conversations_search_insert;
DROP TRIGGER IF EXISTS conversations_search_update;
CREATE TRIGGER IF NOT EXISTS conversations_search_insert_names AFTER INSERT ON conversations BEGIN
    INSERT INTO conversations_search (rowid, name, phone) VALUES
        (new.id, trim(coalesce(new.contact_name, '') || ' ' || coalesce(new.profile_name, '')), new.phone_number);
END;
CREATE TRIGGER IF NOT EXISTS conversations_search_update_names
    AFTER UPDATE OF contact_name, profile_name, phone_number ON conversations BEGIN
    UPDATE conversations_search SET
        name = trim(coalesce(new.contact_name, '') || ' ' || coalesce(new.profile_name, '')),
        phone = new.phone_number
        WHERE rowid = new.id;
END;
-- dialect: postgresql
ALTER TABLE conversations DROP CONSTRAINT IF EXISTS conversations_phone_key_key;
ALTER TABLE conversations DROP CONSTRAINT IF EXISTS conversations_wa_user_id_key;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS messages_content_trgm ON messages USING gin (lower(content) gin_trgm_ops);
-- Both names in one text, as server/search.py searches them (and SQLite's conversations_search).
DROP INDEX IF EXISTS conversations_name_trgm;
DROP INDEX IF EXISTS conversations_profile_trgm;
CREATE INDEX IF NOT EXISTS conversations_names_trgm ON conversations
    USING gin (lower(trim(coalesce(contact_name, '') || ' ' || coalesce(profile_name, ''))) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS conversations_phone_trgm ON conversations USING gin (phone_number gin_trgm_ops);
-- Whole words, for searches of several words (server/search.py): a common trigram is in a
-- large share of all rows, a whole word in few, so these narrow a full name in well under
-- a millisecond where the trigram bitmaps took tens of milliseconds at 2M messages.
CREATE INDEX IF NOT EXISTS messages_content_words ON messages USING gin (to_tsvector('simple', content));
CREATE INDEX IF NOT EXISTS conversations_names_words ON conversations
    USING gin (to_tsvector('simple', lower(trim(coalesce(contact_name, '') || ' ' || coalesce(profile_name, '')))));
-- dialect: all

-- Notifications (issue 12). No foreign key to conversations: a merge folds one conversation
-- into another, and these rows must never stand in its way.
-- Blue ticks given (server/receipts.py, READ_RECEIPTS): the newest customer message ticked.
CREATE TABLE IF NOT EXISTS read_receipts (
    conversation_id BIGINT PRIMARY KEY,
    wamid TEXT NOT NULL,
    sent_at BIGINT NOT NULL
);
-- Each user's notification preferences (server/preferences.py); no row: the defaults.
-- scope: mine (assigned to them), queue (and the unassigned queue), all (all they may see).
CREATE TABLE IF NOT EXISTS notification_preferences (
    user_id BIGINT PRIMARY KEY REFERENCES users(id),
    sound INTEGER NOT NULL DEFAULT 1,
    desktop INTEGER NOT NULL DEFAULT 1,
    scope TEXT NOT NULL DEFAULT 'all',
    updated_at BIGINT NOT NULL
);
-- Web Push (server/vapid.py, server/push.py): the server's VAPID key pair, made once.
CREATE TABLE IF NOT EXISTS vapid_keys (
    id INTEGER PRIMARY KEY,
    private_key TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- A browser's push subscription (one per device and user): where to send, and its keys.
CREATE TABLE IF NOT EXISTS push_subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id),
    endpoint TEXT NOT NULL UNIQUE,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    device TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX IF NOT EXISTS push_subscriptions_user ON push_subscriptions (user_id);
-- Which conversation each open dashboard shows (server/presence.py), so nobody is pushed
-- about the conversation in front of them; rows older than a minute are ignored.
CREATE TABLE IF NOT EXISTS dashboard_views (
    client_id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    conversation_id BIGINT,
    seen_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS dashboard_views_user ON dashboard_views (user_id, conversation_id);
