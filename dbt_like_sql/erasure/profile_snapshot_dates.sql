-- Every date with a recorded profile snapshot.
SELECT snapshot_date FROM profile_snapshots ORDER BY snapshot_date
