-- Row-level security: a second wall behind the tenant filter every query carries. The app
-- runs its statements as the non-owner role lycheemem_app (SET LOCAL ROLE per transaction)
-- and names the caller with set_config('lycheemem.user_id', ...); a transaction in the
-- 'system' scope (job claiming, login by username) sees every tenant on purpose.
DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'sessions', 'turns', 'summaries', 'jobs', 'vectors'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_only ON %I USING ('
            'user_id = current_setting(''lycheemem.user_id'', true)'
            ' OR current_setting(''lycheemem.scope'', true) = ''system'')'
            ' WITH CHECK ('
            'user_id = current_setting(''lycheemem.user_id'', true)'
            ' OR current_setting(''lycheemem.scope'', true) = ''system'')',
            t
        );
    END LOOP;
END
$$;
