-- DuckDB macro: a string escaped for Postgres COPY's text format (backslash, tab, newline, carriage return).
CREATE OR REPLACE MACRO pg_text(value) AS
    replace(replace(replace(replace(value, '\', '\\'), chr(9), '\t'), chr(10), '\n'), chr(13), '\r')
