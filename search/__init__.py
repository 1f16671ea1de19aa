"""Search policies: pure functions of a tree snapshot that choose the next expansion."""
