-- Why a script's dependencies are unusable (a malformed file, or the install's failure).
ALTER TABLE scripts ADD COLUMN deps_error TEXT;
CREATE INDEX scripts_by_deps ON scripts (runtime, deps_hash);
