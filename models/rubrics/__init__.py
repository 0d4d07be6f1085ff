"""Prompts, rubrics and their versions: criteria rules, lint, diffs, the editor's table edits,
drafting with an LLM, the review workflow and the read queries pages use.
"""
