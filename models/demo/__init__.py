"""The demo workspace: a small hand-written dataset that shows every part of the app."""
