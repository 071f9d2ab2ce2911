-- How far user_segments is up to date: the distillation marker (profiles updated, all days and shards) it was last refreshed at.
CREATE TABLE user_segments_state (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    profiles_updated bigint  NOT NULL
);
