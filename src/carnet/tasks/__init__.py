"""Tasks: the to-do list, with reminders and recurrence."""
