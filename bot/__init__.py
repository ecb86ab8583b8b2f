"""articlebot's question path: retrieval, answering and the front ends (CLI, REPL, Telegram)."""
