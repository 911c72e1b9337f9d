"""Reads of the playbooks app, scoped by role through ``accounts.selectors.access``, one
module per idea: tasks (the queue, a team's load, an account's open tasks), playbooks
(lists, the preview of a playbook, what a scorecard publish would fire, effectiveness),
outreach (the accounts a bulk outreach reaches), plans (success plans and overdue
milestones), notifications.

Tasks: a CSM sees the tasks on their book and the tasks assigned to them; a manager the
tasks on their team's accounts and those assigned to their team; an admin all. Anything
else is a 404 (``tasks.get_task_for_user``)."""
