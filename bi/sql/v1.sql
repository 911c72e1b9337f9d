-- chs_bi schema version 1: read-only views for BI tools. Column names are a contract (see
-- bi/schema.py and the README); a change means a new version file and migration.
CREATE SCHEMA IF NOT EXISTS chs_bi;
COMMENT ON SCHEMA chs_bi IS 'CHS read-only views for BI tools, schema version 1';

DROP VIEW IF EXISTS chs_bi.accounts, chs_bi.score_history, chs_bi.measure_points,
    chs_bi.metric_values, chs_bi.tasks, chs_bi.outcomes, chs_bi.survey_answers;

CREATE VIEW chs_bi.accounts AS
SELECT a.external_id AS account_id,
       a.name AS account_name,
       a.domain,
       NULLIF(a.segment, '') AS segment,
       u.username AS owner_username,
       NULLIF(TRIM(u.first_name || ' ' || u.last_name), '') AS owner_name,
       t.name AS team,
       a.arr,
       a.renewal_date,
       a.lifecycle_stage,
       a.health_score,
       NULLIF(a.health_band, '') AS health_band,
       a.computed_score,
       NULLIF(a.computed_band, '') AS computed_band,
       a.computed_at AS scored_at,
       a.score_change_30d,
       a.open_task_count AS open_tasks,
       a.created_at,
       a.updated_at
FROM accounts_account a
LEFT JOIN accounts_user u ON u.id = a.owner_id
LEFT JOIN accounts_team t ON t.id = u.team_id;

CREATE VIEW chs_bi.score_history AS
SELECT s.id AS score_id,
       a.external_id AS account_id,
       s.computed_at AS scored_at,
       s.score,
       NULLIF(s.band, '') AS band,
       sc.name AS scorecard_name,
       sc.version AS scorecard_version,
       NULLIF(sc.segment, '') AS scorecard_segment
FROM scoring_score s
JOIN accounts_account a ON a.id = s.account_id
JOIN scoring_scorecard sc ON sc.id = s.scorecard_id;

CREATE VIEW chs_bi.measure_points AS
SELECT s.id AS score_id,
       a.external_id AS account_id,
       s.computed_at AS scored_at,
       m.ordinality::integer AS position,
       m.item ->> 'metric' AS metric,
       m.item ->> 'name' AS measure_name,
       m.item ->> 'aggregation' AS aggregation,
       (m.item ->> 'window_days')::integer AS window_days,
       (m.item ->> 'value')::double precision AS value,
       (m.item ->> 'points')::double precision AS points,
       (m.item ->> 'weight')::double precision AS weight,
       (m.item ->> 'contribution')::double precision AS contribution,
       (m.item ->> 'stale')::boolean AS stale
FROM scoring_score s
JOIN accounts_account a ON a.id = s.account_id
CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(s.breakdown) = 'array' THEN s.breakdown ELSE '[]'::jsonb END
) WITH ORDINALITY AS m(item, ordinality);

CREATE VIEW chs_bi.metric_values AS
SELECT v.id AS value_id,
       a.external_id AS account_id,
       d.key AS metric,
       v.value,
       v.observed_at
FROM scoring_metricvalue v
JOIN accounts_account a ON a.id = v.account_id
JOIN scoring_metricdefinition d ON d.id = v.metric_id;

CREATE VIEW chs_bi.tasks AS
SELECT t.id AS task_id,
       a.external_id AS account_id,
       t.title,
       t.status,
       t.priority,
       t.due_date,
       u.username AS assignee_username,
       p.name AS playbook_name,
       t.created_at,
       t.closed_at
FROM playbooks_task t
JOIN accounts_account a ON a.id = t.account_id
LEFT JOIN accounts_user u ON u.id = t.assignee_id
LEFT JOIN playbooks_playbook p ON p.id = t.playbook_id;

CREATE VIEW chs_bi.outcomes AS
SELECT o.id AS outcome_id,
       a.external_id AS account_id,
       o.kind,
       o.occurred_at AS occurred_on,
       o.arr_change,
       o.created_at AS recorded_at
FROM scoring_outcome o
JOIN accounts_account a ON a.id = o.account_id;

CREATE VIEW chs_bi.survey_answers AS
SELECT r.id AS answer_id,
       a.external_id AS account_id,
       c.id AS campaign_id,
       sv.name AS survey_name,
       sv.kind AS survey_kind,
       r.score,
       NULLIF(r.comment, '') AS comment,
       r.sent_at,
       r.opened_at,
       r.answered_at
FROM surveys_recipient r
JOIN surveys_campaign c ON c.id = r.campaign_id
JOIN surveys_survey sv ON sv.id = c.survey_id
JOIN accounts_account a ON a.id = r.account_id
WHERE r.answered_at IS NOT NULL;
