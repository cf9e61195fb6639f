"""Activities (calls, emails, meetings, visits, notes): they form the timeline."""
