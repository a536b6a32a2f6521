-- The process group of a running run, so a restart after a crash can stop what was left.
ALTER TABLE runs ADD COLUMN pid INTEGER;
