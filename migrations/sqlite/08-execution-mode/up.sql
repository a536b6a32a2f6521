-- A script's own execution mode ('warm' or 'cold'), overriding the execution_mode setting;
-- NULL follows the setting.
ALTER TABLE scripts ADD COLUMN execution_mode TEXT;
