-- A counter that grows whenever distillation stores profiles: user_segments needs a refresh when it moved.
SELECT coalesce(sum(profiles_updated), 0)::bigint FROM distill_watermarks
