"""Business logic shared by every front end. Never imports typer, rich, textual or fastapi."""
