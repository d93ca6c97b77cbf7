-- ③ chooses a free call number from every flow now waiting on ④ (of the same
-- phone), in one read instead of one read per number of the pool (issue 10).
CREATE INDEX flows_call_wait ON flows (screen, call_expires_at);
