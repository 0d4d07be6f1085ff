"""Files in and out: importing RaR and HealthBench rows, freezing export snapshots and writing them
as training files.
"""
