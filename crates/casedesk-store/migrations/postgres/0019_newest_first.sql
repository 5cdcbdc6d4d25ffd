-- A page of a queue, an assignee or a requester is asked for newest first as `-number`,
-- an order only these indexes give: asked for `number DESC`, the planner could walk the
-- primary key from the newest case and filter, which costs a walk over every newer case
-- of other queues when they are many (after a burst of new cases in one queue, say).
DROP INDEX cases_queue;
CREATE INDEX cases_queue ON cases(queue, (-number));
DROP INDEX cases_queue_waiting;
CREATE INDEX cases_queue_waiting ON cases(queue, (-number)) WHERE sla_due_at IS NULL AND status <> 'closed';
DROP INDEX cases_assignee;
CREATE INDEX cases_assignee ON cases(assignee_id, (-number));
DROP INDEX cases_requester;
CREATE INDEX cases_requester ON cases(requester_id, (-number));
