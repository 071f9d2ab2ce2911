-- Whether an index of this name exists in the search path.
SELECT to_regclass(%(name)s) IS NOT NULL
