-- Distillation rewrites the head of every user it touches, night after night. Half-empty pages
-- let each new row version stay on its page (a HOT update): no new primary-key entry per update,
-- so neither the index nor the table bloats. Pages already full keep their fill until the table
-- is rewritten (VACUUM FULL); every new page gets the room.
ALTER TABLE user_profile_heads SET (fillfactor = 50);
