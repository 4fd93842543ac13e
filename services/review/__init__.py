"""Review stage (seed steps 7-10): takes verified payments in for review and applies the
reviewer's decision."""
