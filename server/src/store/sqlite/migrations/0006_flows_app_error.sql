-- SPEC §8a (no dead ends): an ended flow keeps the error the app is sent
-- (access_denied, temporarily_unavailable, server_error), so that a reloaded
-- page still offers 連携元画面へ with the same outcome.
ALTER TABLE flows ADD COLUMN app_error TEXT NOT NULL DEFAULT '';
