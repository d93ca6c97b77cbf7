-- SPEC §8a (no dead ends): a reload of a completed flow finds its grant and
-- the grant's codes (a new code replaces an unexchanged one; none once one
-- was exchanged), without reading every row.
CREATE INDEX grants_by_flow ON grants (flow_id);
CREATE INDEX authorization_codes_by_grant ON authorization_codes (grant_id);
