"""How the suite talks and judges: recording HTTP client, verdicts, checks, results."""
