"""Chat tables are the project's own (SPEC §3); they arrive with the chat feature."""
