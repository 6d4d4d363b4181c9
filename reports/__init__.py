"""Analysis of surge runs: queueing theory, scalability fits, and the HTML capacity report."""
