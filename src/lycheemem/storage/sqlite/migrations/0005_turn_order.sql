-- Records by the first turn they were said in, within their session: the search adds the
-- turns that follow its best match (follow_up_ids) with one index range.
CREATE INDEX memory_records_by_turn
    ON memory_records (user_id, source_session_id, json_extract(source_turn_ids, '$[0]'));
