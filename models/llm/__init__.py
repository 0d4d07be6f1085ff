"""Calls to OpenAI-compatible endpoints (bounded concurrency, retries, structured output) and the
endpoints an admin configures.
"""
