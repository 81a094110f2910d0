"""The weekly report to a shop (counts of what the agent did) and the questions it could not answer."""
