"""The web app's handlers and its server-side housekeeping, independent of the UI toolkit."""
