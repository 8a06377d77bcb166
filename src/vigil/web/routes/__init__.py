"""HTTP routers: protocol work only (parsing, status codes, paging); all logic is in the store."""
