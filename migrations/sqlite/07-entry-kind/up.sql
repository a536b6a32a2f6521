-- How a script is started, decided from its source when it is scanned: 'classic'
-- (`interpreter script args`) or 'python_sdk' (behind the SDK's launcher). Rows written before
-- the SDK existed are classic; a scan corrects any whose source says otherwise.
ALTER TABLE scripts ADD COLUMN entry_kind TEXT NOT NULL DEFAULT 'classic';
