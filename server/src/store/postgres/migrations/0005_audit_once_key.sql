-- An operation-log row written by a unit that may run again after a lost
-- connection (with_idempotent_transaction, storage.h) carries a key chosen
-- before the unit: a second run finds its row and writes none
-- (INSERT … ON CONFLICT DO NOTHING). Other rows have none (NULL) and are not
-- in the index.
ALTER TABLE audit ADD COLUMN once_key TEXT;
CREATE UNIQUE INDEX audit_once_key ON audit (once_key) WHERE once_key IS NOT NULL;
