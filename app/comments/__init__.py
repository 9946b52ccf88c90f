"""Comments people leave on a plan or a step: stored, rendered safely, audited, and
mentioning someone tells them through the alert channels."""
