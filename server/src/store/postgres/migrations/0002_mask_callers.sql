-- Schema 2: call_events keeps the caller masked, never the number (issue 12).
ALTER TABLE call_events RENAME COLUMN caller TO caller_masked;

-- Five * and the last four, as mask_phone; a number of four digits or fewer
-- (a service number) keeps none of its digits.
UPDATE call_events SET caller_masked = CASE WHEN length(caller_masked) > 4
  THEN '*****' || right(caller_masked, 4) ELSE '*****' END
  WHERE caller_masked IS NOT NULL;
