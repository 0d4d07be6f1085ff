"""Judge-human agreement: spot-check queues and blind labels, adjudication, statistics, the
dashboard report, the leaderboard and the revision loop.
"""
