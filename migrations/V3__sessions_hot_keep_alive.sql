-- A keep-alive moves one session's idle deadline, many times a second across users. While idle_deadline was indexed,
-- every keep-alive was a non-HOT update: a new entry in each of the table's four indexes, and as many dead ones for
-- vacuum. Without an index on it, and with room left on each page for the new row version, a keep-alive rewrites
-- the row in place on its page and touches no index.
--
-- The sweeper still finds live sessions through a partial index, now on a column no update changes; it checks
-- their idle deadlines on the rows (idle_deadline <= absolute_deadline, so that one test covers both expiries).
DROP INDEX sessions_live_idx;
CREATE INDEX sessions_live_idx ON sessions (absolute_deadline) WHERE ended_at IS NULL;
ALTER TABLE sessions SET (fillfactor = 70);
