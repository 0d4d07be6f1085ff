"""GRPO jobs as the app sees them: the job config, the agreement gate, reward preview, submit,
cancel and the job queue's status rules.
"""
