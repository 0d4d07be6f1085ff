"""The LLM judge: prompt templates, the judge engine, reward aggregation, judge runs over stored
responses, rubric checks and verdict flips.
"""
