-- Records a day's distillation; complete once a run that reached every batch started after the day closed.
INSERT INTO distilled_days (day, signals, users, profiles_updated, complete, distilled_at, run_id)
VALUES (%(day)s, %(signals)s, %(users)s, %(profiles_updated)s, %(complete)s, now(), %(run_id)s)
ON CONFLICT (day) DO UPDATE SET
    signals = excluded.signals,
    users = excluded.users,
    profiles_updated = excluded.profiles_updated,
    complete = distilled_days.complete OR excluded.complete,
    distilled_at = excluded.distilled_at,
    run_id = excluded.run_id
