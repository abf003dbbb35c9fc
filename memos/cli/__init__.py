"""The `memos` command line. Command modules import only Typer and small core types at
module level; everything heavy is imported inside the command that needs it."""
