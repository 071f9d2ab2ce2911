-- When profiles last changed: the newest distillation watermark.
SELECT max(updated_at) FROM distill_watermarks
