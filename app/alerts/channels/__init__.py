"""Alert delivery channels: email, Slack, Teams, Salesforce, signed webhooks."""
