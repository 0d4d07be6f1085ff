"""The `rubricforge` command line: one entry point that starts everything."""
