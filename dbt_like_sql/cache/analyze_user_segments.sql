-- Fresh planner statistics for user_segments after a refresh moved it: the reasoner's member joins are planned from them.
ANALYZE user_segments
