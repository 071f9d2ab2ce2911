-- No nested loops for the rest of the transaction: user_segments starts empty, so its statistics promise no rows and the planner would rescan the growing table once per profile.
SELECT set_config('enable_nestloop', 'off', true)
