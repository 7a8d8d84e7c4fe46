-- Indexes for the temporal recall channel (temporal_search). Each of its three
-- queries reads one index range: events starting in the window (by_event), multi-day
-- intervals that started earlier and reach into it (by_span_end: only intervals whose
-- start and end fall on different days, which are few), and items without an event
-- time created in the window (undated). One OR-ed query used to walk every row of the
-- tenant when nothing matched.
CREATE INDEX memory_records_by_span_end ON memory_records (user_id, event_end)
    WHERE substr(event_end, 1, 10) != substr(event_start, 1, 10);
CREATE INDEX memory_records_undated ON memory_records (user_id, created_at)
    WHERE event_start IS NULL;
CREATE INDEX composite_records_by_event ON composite_records (user_id, event_start);
CREATE INDEX composite_records_by_span_end ON composite_records (user_id, event_end)
    WHERE substr(event_end, 1, 10) != substr(event_start, 1, 10);
CREATE INDEX composite_records_undated ON composite_records (user_id, created_at)
    WHERE event_start IS NULL;
