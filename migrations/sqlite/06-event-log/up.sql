-- A finished run's printed lines (one `[stream, line]` JSON array per line), kept in its row
-- when small: writing them as a file in the run's folder cost an inode on every run. Larger
-- logs stay a file there, and this column is NULL.
ALTER TABLE runs ADD COLUMN event_log TEXT;
