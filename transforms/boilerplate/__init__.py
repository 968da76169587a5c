"""The boilerplate engine: phrase rules kept as data, plus structural evidence."""
