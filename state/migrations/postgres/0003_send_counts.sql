-- The frequency cap counts each customer's sends on a channel since a time
-- (SendCounts). An index that holds status and customer id lets the query
-- read the index alone instead of visiting every matching row; it replaces
-- (channel, created_at) rather than adding a fourth index that every ledger
-- write would pay for.
DROP INDEX sends_channel_created;
CREATE INDEX sends_channel_counts ON sends (channel, created_at) INCLUDE (status, customer_id);
